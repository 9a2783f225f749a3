"""Stable-Baselines3 PPO with RL-Zoo's tuned CartPole-v1 hyperparameters (rl-baselines3-zoo, hyperparams/ppo.yml).

`train(seed, stop)` trains until `stop(global_step, recent_returns)` is true or RL-Zoo's 100K steps
pass, and returns `(model, global_step)`.
"""

from __future__ import annotations

from collections.abc import Callable

from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env

N_ENVS = 8
N_TIMESTEPS = 100_000


def linear(initial: float) -> Callable[[float], float]:
    """RL-Zoo's `lin_<value>` schedule: decays linearly from `initial` to 0 over training."""
    return lambda progress_remaining: progress_remaining * initial


HYPERPARAMETERS = dict(
    n_steps=32,
    batch_size=256,
    gae_lambda=0.8,
    gamma=0.98,
    n_epochs=20,
    ent_coef=0.0,
    learning_rate=linear(1e-3),
    clip_range=linear(0.2),
)


class StopWhenSolved(BaseCallback):
    def __init__(self, stop: Callable[[int, list[float]], bool]) -> None:
        super().__init__()
        self.stop = stop

    def _on_step(self) -> bool:
        returns = [float(info["r"]) for info in self.model.ep_info_buffer]
        return not self.stop(self.num_timesteps, returns)


def train(seed: int, stop: Callable[[int, list[float]], bool]) -> tuple[PPO, int]:
    env = make_vec_env("CartPole-v1", n_envs=N_ENVS, seed=seed)
    model = PPO("MlpPolicy", env, seed=seed, device="cpu", **HYPERPARAMETERS)
    model.learn(N_TIMESTEPS, callback=StopWhenSolved(stop))
    return model, model.num_timesteps
