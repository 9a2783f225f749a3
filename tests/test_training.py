"""The shared parts: rollout storage, the algorithm registry, and the CLI serving any registered algorithm.

`AdvantageActorCritic` below is a second algorithm written as a user would: a config with its own
field, an `update`, nothing else. Registered, it trains, checkpoints, resumes, evaluates and plots
through `thrust train`, `thrust eval`, `thrust plot` and `thrust.load`, with no code of its own in the CLI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import pytest
import torch

import thrust
from thrust import algorithms, checkpoint
from thrust.advantage import gae
from thrust.cli import main
from thrust.config import TrainConfig
from thrust.storage import RolloutStorage, observation_dtype
from thrust.training import Algorithm


def test_storage_shapes_dtypes_and_room_for_what_varies():
    obs_space = gym.spaces.Box(-1, 1, (3, 2), np.float32)
    storage = RolloutStorage(5, 4, obs_space, gym.spaces.MultiDiscrete([2, 3]), torch.device("cpu"))
    assert storage.obs.shape == (5, 4, 3, 2) and storage.next_obs.shape == (4, 3, 2)
    assert storage.actions.shape == (5, 4, 2) and storage.actions.dtype == torch.int64
    assert storage.terminations.dtype == torch.bool and storage.logprobs.shape == (5, 4)
    assert storage.states is None and storage.row_masks is None
    for name in ("values", "rewards", "final_values", "advantages"):
        view = getattr(storage, name)
        assert view.shape == (5, 4) and view.is_contiguous()  # what the advantage kernels take as is
        view[2, 1] = 7.0
        assert getattr(storage, f"head_{name}")[0, 2, 1] == 7.0  # a view of head 0, not a copy

    box = gym.spaces.Box(-2, 2, (1,), np.float32)
    with_room = RolloutStorage(5, 4, obs_space, box, torch.device("cpu"), value_heads=2,
                               recurrent_state_shape=(2, 8), row_masks=True)
    assert with_room.actions.dtype == torch.float32 and with_room.head_values.shape == (2, 5, 4)
    assert with_room.states.shape == (5, 4, 2, 8)
    assert with_room.row_masks.shape == (5, 4) and with_room.row_masks.all()
    frames = gym.spaces.Box(0, 255, (4, 8, 8), np.uint8)
    assert observation_dtype(frames, normalized=False) == torch.uint8
    assert observation_dtype(frames, normalized=True) == observation_dtype(obs_space, False) == torch.float32
    with pytest.raises(ValueError, match="value_heads"):
        RolloutStorage(5, 4, obs_space, box, torch.device("cpu"), value_heads=0)


# -- a second algorithm, as a user writes one -------------------------------------------------------------


@dataclass
class A2CConfig(TrainConfig):
    """Synchronous advantage actor-critic: one gradient step per rollout."""

    gae_lambda: float = 1.0
    """λ of the advantage estimate"""


class AdvantageActorCritic(Algorithm):
    name = "a2c-test"
    Config = A2CConfig
    progress_metrics = ("losses/value_loss",)

    def update(self) -> dict[str, float]:
        storage, config = self.storage, self.config
        with torch.no_grad():
            next_values = self.policy.value(storage.next_obs)
        gae(storage.rewards, storage.values, storage.terminations, storage.truncations, storage.final_values,
            next_values, config.gamma, config.gae_lambda, out=storage.advantages)
        returns = (storage.advantages + storage.values).flatten()
        logprob, entropy, value = self.policy.evaluate(storage.obs.flatten(0, 1), storage.actions.flatten(0, 1))
        policy_loss = -(storage.advantages.flatten() * logprob).mean()
        value_loss = 0.5 * (value - returns).square().mean()
        loss = policy_loss + config.vf_coef * value_loss - config.ent_coef * entropy.mean()
        self.gradient_step(loss, "the only step")
        self.updates += 1
        return {"losses/policy_loss": policy_loss.item(), "losses/value_loss": value_loss.item()}

    def _setup(self, *args, **kwargs) -> None:
        super()._setup(*args, **kwargs)
        self.updates = 0  # the algorithm's own state: saved and restored through extra_state

    def extra_state(self) -> dict[str, int]:
        return {"updates": self.updates}

    def load_extra_state(self, state: dict[str, int]) -> None:
        self.updates = state["updates"]


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(algorithms.REGISTRY, "a2c-test", f"{__name__}:AdvantageActorCritic")
    return AdvantageActorCritic


TINY = ["--env", "CartPole-v1", "--num-envs", "4", "--num-steps", "16", "--total-timesteps", "384",
        "--eval-episodes", "2", "--quiet"]


def test_a_registered_algorithm_gets_the_whole_cli(registered, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", "a2c-test", *TINY, "--run-dir", str(run_dir), "--stop-after", "2"]) == 0
    assert "resume: thrust train --resume" in capsys.readouterr().out
    assert checkpoint.kind_of(run_dir / "checkpoint.pt") == "a2c-test"
    assert json.loads((run_dir / "config.json").read_text())["gae_lambda"] == 1.0  # its own field, saved

    assert main(["train", "--resume", str(run_dir)]) == 0
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["algo"] == "a2c-test" and summary["finished"] and summary["global_step"] == 384
    header = (run_dir / "progress.csv").read_text().splitlines()[0]
    assert "losses/value_loss" in header and "losses/approx_kl" not in header
    resumed = thrust.load(run_dir / "checkpoint.pt")
    assert type(resumed) is AdvantageActorCritic and resumed.updates == 384 // 64
    capsys.readouterr()

    assert main(["eval", str(run_dir), "--episodes", "2"]) == 0
    assert "CartPole-v1: return" in capsys.readouterr().out
    assert main(["plot", str(run_dir), "--output", str(tmp_path / "curve.png")]) == 0
    with pytest.raises(SystemExit):
        main(["train", "a2c-test", "--help"])
    help_text = capsys.readouterr().out
    assert "gae-lambda" in help_text and "clip-coef" not in help_text  # its own fields, not PPO's


def test_resume_of_a_registered_algorithm_is_exact(registered, tmp_path):
    short = dict(num_envs=4, num_steps=16, total_timesteps=4 * 16 * 4)
    uninterrupted = registered("CartPole-v1", seed=2, **short).learn()
    interrupted = registered("CartPole-v1", seed=2, **short)
    interrupted.learn(callback=lambda model, metrics: model.iteration < 2)
    interrupted.save(tmp_path / "model.pt")
    resumed = thrust.load(tmp_path / "model.pt").learn()
    assert resumed.updates == uninterrupted.updates == 4
    for a, b in zip(uninterrupted.policy.parameters(), resumed.policy.parameters(), strict=True):
        assert torch.equal(a, b)


def test_registry_errors_name_what_is_known(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown algorithm 'dqn'; choose from ppo"):
        algorithms.get("dqn")
    assert main(["train", "dqn", "--env", "CartPole-v1"]) == 2
    assert "thrust train {ppo,impala,appo}" in capsys.readouterr().err
    path = checkpoint.save(tmp_path / "other.pt", "dqn", {"config": {}})
    with pytest.raises(checkpoint.CheckpointError, match="'dqn' checkpoint, which no registered algorithm reads"):
        thrust.load(path)
    with pytest.raises(checkpoint.CheckpointError, match="expected 'ppo'"):
        thrust.PPO.load(path)


def test_config_or_hyperparameters_not_both():
    config = thrust.PPOConfig(num_envs=2, num_steps=8, total_timesteps=64, num_minibatches=1)
    model = thrust.PPO("CartPole-v1", config=config)
    assert model.config is config  # used as is: no preset applied over it
    with pytest.raises(ValueError, match="either config= or hyperparameters"):
        thrust.PPO("CartPole-v1", config=config, learning_rate=1.0)
    with pytest.raises(ValueError, match="num_minibatches"):
        thrust.PPO("CartPole-v1", config=thrust.PPOConfig(num_minibatches=3))
