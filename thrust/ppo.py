"""Proximal Policy Optimization (Schulman et al. 2017), top to bottom.

The order is CleanRL's: configuration → environments → agent → rollout → advantages → update → log.
Every detail of `shared/ppo-details.md` that applies to feed-forward policies is here, marked
"(detail N)". Beyond CleanRL: time-limit truncations bootstrap from the value of the final
observation, training state saves and resumes exactly, and `device="cuda"` keeps storage and
updates on the GPU with one batched inference per step.

    model = thrust.PPO("CartPole-v1", seed=1)
    model.learn()
    actions = model.predict(observations)
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from thrust import checkpoint
from thrust.advantage import gae
from thrust.env_factory import make
from thrust.normalize import ObservationNormalizer, RewardScaler
from thrust.policies import ActorCritic, is_image_space
from thrust.presets import preset
from thrust.vector.base import VecEnv

# ---------------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------------


@dataclass
class PPOConfig:
    """Every PPO hyperparameter. Defaults are CleanRL's ppo.py; `thrust.presets` tunes them per env."""

    env_id: str = "CartPole-v1"
    """environment id: a native Thrust env or any Gymnasium id"""
    seed: int = 1
    """seed of every random source: Python, NumPy, torch, the environments"""
    total_timesteps: int = 500_000
    """env steps to train for; also fixes the learning-rate schedule"""
    device: str = "cpu"
    """torch device of the networks, the rollout storage and the update ("cpu", "cuda", "cuda:1")"""
    backend: str = "auto"
    """env backend: "auto" (native when available), "native" or "serial" (see thrust.make)"""
    num_envs: int = 4
    """environments stepped in parallel"""
    num_steps: int = 128
    """steps per env per rollout; a batch is num_envs × num_steps"""
    learning_rate: float = 2.5e-4
    """Adam learning rate"""
    anneal_lr: bool = True
    """decay the learning rate linearly to 0 over total_timesteps"""
    gamma: float = 0.99
    """discount factor"""
    gae_lambda: float = 0.95
    """λ of generalized advantage estimation"""
    num_minibatches: int = 4
    """minibatches per epoch; must divide the batch"""
    update_epochs: int = 4
    """passes over each batch"""
    norm_adv: bool = True
    """normalize advantages per minibatch"""
    clip_coef: float = 0.2
    """surrogate clipping coefficient"""
    clip_vloss: bool = True
    """clip the value loss around the rollout's values"""
    ent_coef: float = 0.01
    """entropy bonus coefficient"""
    vf_coef: float = 0.5
    """value loss coefficient"""
    max_grad_norm: float = 0.5
    """global gradient-norm clipping threshold"""
    target_kl: float | None = None
    """stop the epochs of an update early once the approximate KL exceeds this (None: never)"""
    normalize_obs: bool = False
    """normalize observations by running mean and std, clipped to ±10 (saved with the model)"""
    normalize_reward: bool = False
    """scale rewards by the running std of the discounted return, clipped to ±10"""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """hidden layer sizes of the actor and critic MLPs"""
    shared_trunk: bool = False
    """one MLP trunk for actor and critic instead of two networks (image observations always share)"""
    log_std_init: float = 0.0
    """initial log standard deviation of Gaussian policies (Box actions)"""
    torch_deterministic: bool = True
    """deterministic cuDNN algorithms"""
    num_threads: int = 1
    """torch CPU threads (0: leave torch's default); one is fastest for small networks"""

    @property
    def batch_size(self) -> int:
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        return self.batch_size // self.num_minibatches

    @property
    def num_iterations(self) -> int:
        return self.total_timesteps // self.batch_size

    def validate(self) -> None:
        """Raise `ValueError` naming the first inconsistent field."""
        positive = ["total_timesteps", "num_envs", "num_steps", "learning_rate", "num_minibatches", "update_epochs"]
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be positive, got {value!r}")
        for name in ("gamma", "gae_lambda"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)!r}")
        for name in ("clip_coef", "ent_coef", "vf_coef", "max_grad_norm", "num_threads"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.target_kl is not None and not self.target_kl > 0:
            raise ValueError(f"target_kl must be positive or None, got {self.target_kl!r}")
        if self.batch_size % self.num_minibatches:
            raise ValueError(
                f"num_minibatches={self.num_minibatches} must divide the batch size "
                f"num_envs × num_steps = {self.batch_size}"
            )
        if self.num_iterations < 1:
            raise ValueError(
                f"total_timesteps={self.total_timesteps} is less than one batch "
                f"(num_envs × num_steps = {self.batch_size})"
            )
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ValueError(f"hidden_sizes must be positive layer sizes, got {self.hidden_sizes!r}")
        if self.backend not in ("auto", "native", "serial"):
            raise ValueError(f"backend must be 'auto', 'native' or 'serial', got {self.backend!r}")
        try:
            device = torch.device(self.device)
        except RuntimeError as error:
            raise ValueError(f"device {self.device!r} is not a torch device: {error}") from error
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={self.device!r} but CUDA is not available on this machine")


def make_config(env_id: str, overrides: dict[str, Any], base: dict[str, Any] | None = None) -> PPOConfig:
    """`PPOConfig` from `base` (default: the env's preset), then `overrides`; unknown names → ValueError."""
    names = {field.name for field in dataclasses.fields(PPOConfig)}
    for name in overrides:
        if name not in names:
            close = difflib.get_close_matches(name, sorted(names), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"unknown PPO hyperparameter {name!r}{hint}")
    values = {**(preset(env_id) if base is None else base), **overrides, "env_id": env_id}
    if "hidden_sizes" in values:
        values["hidden_sizes"] = tuple(values["hidden_sizes"])
    config = PPOConfig(**values)
    config.validate()
    return config


# ---------------------------------------------------------------------------------------------------
# The algorithm
# ---------------------------------------------------------------------------------------------------

Callback = Callable[["PPO", dict[str, float]], "bool | None"]


class PPO:
    """PPO agent: `learn`, `predict`, `save`, `PPO.load`.

    `env` is an env id (made with `thrust.make`, `config.num_envs` copies) or a ready `VecEnv`.
    Hyperparameters are `PPOConfig` fields; the env's preset is applied first, then these.
    """

    def __init__(
        self, env: str | VecEnv = "CartPole-v1", seed: int = 1, device: str = "cpu", **hyperparameters: Any
    ) -> None:
        if isinstance(env, str):
            env_id, envs = env, None
        else:
            envs = env
            env_id = hyperparameters.pop("env_id", None) or _env_id_of(env)
            hyperparameters["num_envs"] = env.num_envs
        config = make_config(env_id, {**hyperparameters, "seed": seed, "device": device})
        self._setup(config, envs)

    def _setup(self, config: PPOConfig, envs: VecEnv | None) -> None:
        self.config = config
        self.device = torch.device(config.device)
        self._apply_torch_settings()  # before initializing weights: results depend on the thread count
        # Seeding (detail 37): every global source once; the rollout and the minibatch shuffles draw
        # from the agent's own generator, so nothing else in the process can change a run.
        random.seed(config.seed)
        np.random.seed(config.seed)  # noqa: NPY002 (the legacy global RNG, for user code that uses it)
        torch.manual_seed(config.seed)
        torch.backends.cudnn.deterministic = config.torch_deterministic
        self.generator = torch.Generator(self.device).manual_seed(config.seed)
        self.predict_generator = torch.Generator(self.device).manual_seed(config.seed + 1)

        # Environments (detail 1): one vectorized set, never reset between iterations.
        self.envs = envs if envs is not None else make(
            config.env_id, num_envs=config.num_envs, seed=config.seed, backend=config.backend
        )
        observation_space, action_space = self.envs.single_observation_space, self.envs.single_action_space
        self.clip_actions = isinstance(action_space, gym.spaces.Box)

        # Agent (details 2, 13, 23): orthogonal init, separate actor and critic for vectors, shared CNN for images.
        self.policy = ActorCritic(
            observation_space, action_space, config.hidden_sizes, config.shared_trunk, config.log_std_init
        ).to(self.device)
        self.obs_normalizer = (
            ObservationNormalizer(observation_space.shape).to(self.device) if config.normalize_obs else None
        )
        self.reward_scaler = RewardScaler(config.num_envs, config.gamma) if config.normalize_reward else None
        # Adam with eps=1e-5 (detail 3); fused: one kernel for all parameters instead of one per tensor.
        self.parameters = list(self.policy.parameters())
        self.optimizer = torch.optim.Adam(self.parameters, lr=config.learning_rate, eps=1e-5, fused=True)

        # Rollout storage [T, N, ...], allocated once on the learner's device.
        T, N, device = config.num_steps, config.num_envs, self.device
        obs_dtype = torch.uint8 if is_image_space(observation_space) and not config.normalize_obs else torch.float32
        action_dtype = torch.float32 if self.clip_actions else torch.int64
        self.obs = torch.zeros((T, N, *observation_space.shape), dtype=obs_dtype, device=device)
        self.actions = torch.zeros((T, N, *action_space.shape), dtype=action_dtype, device=device)
        self.logprobs = torch.zeros((T, N), device=device)
        self.values = torch.zeros((T, N), device=device)
        self.rewards = torch.zeros((T, N), device=device)
        self.terminations = torch.zeros((T, N), dtype=torch.bool, device=device)
        self.truncations = torch.zeros((T, N), dtype=torch.bool, device=device)
        self.final_values = torch.zeros((T, N), device=device)
        self.advantages = torch.zeros((T, N), device=device)
        self.next_obs = torch.zeros((N, *observation_space.shape), dtype=obs_dtype, device=device)
        # On an accelerator, env arrays go through pinned host memory: one asynchronous copy each.
        self.pinned = self.device.type != "cpu"
        self.staging: dict[str, torch.Tensor] = {}

        self.global_step = 0
        self.iteration = 0
        self.started = False  # environments reset (seeded) at the first learn()
        self.recent_returns: deque[float] = deque(maxlen=100)
        self.recent_lengths: deque[int] = deque(maxlen=100)

    def _apply_torch_settings(self) -> None:
        """Process-wide torch settings this model trains with (another model may have changed them)."""
        if self.config.num_threads > 0:
            torch.set_num_threads(self.config.num_threads)
        # Denormal floats (e.g. in Adam's moments) can slow CPU math many times over; flush them to 0.
        torch.set_flush_denormal(True)

    # -- host ↔ device -----------------------------------------------------------------------------

    def _to_device(self, array: np.ndarray, name: str) -> torch.Tensor:
        """A tensor on the learner's device: zero-copy on the CPU; on an accelerator, one non-blocking copy
        from a pinned staging buffer kept per `name` (reused only after the next step's synchronizing
        `action.cpu()`, so an in-flight copy is never overwritten)."""
        tensor = torch.from_numpy(array)
        if not self.pinned:
            return tensor
        staging = self.staging.get(name)
        if staging is None or staging.shape != tensor.shape or staging.dtype != tensor.dtype:
            staging = self.staging[name] = torch.empty(tensor.shape, dtype=tensor.dtype).pin_memory()
        staging.copy_(tensor)
        return staging.to(self.device, non_blocking=True)

    def _observe(self, obs: np.ndarray, update_statistics: bool, name: str = "obs") -> torch.Tensor:
        """Raw env observations → what the networks see (normalized when enabled, detail 26)."""
        obs_tensor = self._to_device(obs, name)
        if self.obs_normalizer is None:
            return obs_tensor
        if update_statistics:
            self.obs_normalizer.update(obs_tensor)
        return self.obs_normalizer(obs_tensor)

    # -- learning --------------------------------------------------------------------------------------

    def learn(self, total_timesteps: int | None = None, callback: Callback | None = None) -> PPO:
        """Train until `global_step` reaches `total_timesteps` (default: `config.total_timesteps`).

        `total_timesteps`, when given, replaces `config.total_timesteps`, which fixes the learning-rate
        schedule. After every iteration `callback(self, metrics)` runs; returning `False` stops
        training there, in a state that `save` and a later `learn` continue exactly.
        """
        config = self.config
        if total_timesteps is not None:
            config.total_timesteps = total_timesteps
            config.validate()
        self._apply_torch_settings()
        if not self.started:
            obs, _ = self.envs.reset(seed=config.seed)
            self.next_obs.copy_(self._observe(obs, update_statistics=True))
            self.started = True

        start_time, start_step = time.perf_counter(), self.global_step
        while self.iteration < config.num_iterations:
            self.iteration += 1
            metrics = self._iterate(start_time, start_step)
            if callback is not None and callback(self, metrics) is False:
                break
        return self

    def _iterate(self, start_time: float, start_step: int) -> dict[str, float]:
        """One iteration: rollout, advantages, update; returns the iteration's metrics."""
        config, policy, envs = self.config, self.policy, self.envs
        # Linear learning-rate annealing to 0 (detail 4).
        fraction = 1.0 - (self.iteration - 1.0) / config.num_iterations if config.anneal_lr else 1.0
        learning_rate = fraction * config.learning_rate
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate

        # ---- Rollout ----
        env_time = inference_time = 0.0
        episode_returns: list[float] = []
        episode_lengths: list[int] = []
        action_low, action_high = (envs.single_action_space.low, envs.single_action_space.high) if self.clip_actions \
            else (None, None)
        for step in range(config.num_steps):
            tick = time.perf_counter()
            self.obs[step] = self.next_obs
            # One batched forward for all envs; log-probs and values stored, never recomputed (detail 36).
            action, logprob, value = policy.act(self.next_obs, self.generator)
            self.actions[step] = action
            self.logprobs[step] = logprob
            self.values[step] = value
            env_action = action.cpu().numpy()
            if self.clip_actions:  # the env gets clipped actions, the loss the unclipped sample (detail 25)
                env_action = np.clip(env_action, action_low, action_high)
            tock = time.perf_counter()
            inference_time += tock - tick

            obs, rewards, terminations, truncations, infos = envs.step(env_action)
            tick = time.perf_counter()
            env_time += tick - tock

            if self.reward_scaler is not None:  # (detail 27)
                rewards = self.reward_scaler(rewards, terminations | truncations)
            self.rewards[step] = self._to_device(rewards, "rewards")
            self.terminations[step] = self._to_device(terminations, "terminations")
            self.truncations[step] = self._to_device(truncations, "truncations")
            self.next_obs.copy_(self._observe(obs, update_statistics=True))
            # Time-limit truncations (detail 14): the value of the final observation, in one batched
            # forward over just those envs, is what the advantage kernel bootstraps from.
            time_limited = truncations & ~terminations
            if time_limited.any():
                rows = np.flatnonzero(time_limited)
                final_obs = self._observe(infos["final_obs"][rows], update_statistics=False, name="final_obs")
                with torch.no_grad():
                    self.final_values[step, self._to_device(rows, "rows")] = policy.value(final_obs)
            ended = infos["_episode"]
            if ended.any():
                episode_returns.extend(infos["episode"]["r"][ended].tolist())
                episode_lengths.extend(infos["episode"]["l"][ended].tolist())
            inference_time += time.perf_counter() - tick
        self.global_step += config.batch_size
        self.recent_returns.extend(episode_returns)
        self.recent_lengths.extend(episode_lengths)

        # ---- Advantages (detail 5): GAE(λ), bootstrapped from V(next obs); returns = advantages + values ----
        tick = time.perf_counter()
        with torch.no_grad():
            next_values = policy.value(self.next_obs)
        gae(self.rewards, self.values, self.terminations, self.truncations, self.final_values, next_values,
            config.gamma, config.gae_lambda, out=self.advantages)
        returns = self.advantages + self.values

        # ---- Update: epochs × shuffled minibatches (detail 6) ----
        b_obs = self.obs.flatten(0, 1)
        b_actions = self.actions.flatten(0, 1)
        b_logprobs = self.logprobs.flatten()
        b_advantages = self.advantages.flatten()
        b_returns = returns.flatten()
        b_values = self.values.flatten()
        clipfrac_sum = torch.zeros((), device=self.device)
        num_gradient_steps = 0
        for epoch in range(config.update_epochs):
            # One minibatch holding the whole batch needs no shuffle and no gather: its gradient is the same.
            order = torch.randperm(config.batch_size, generator=self.generator, device=self.device) \
                if config.num_minibatches > 1 else slice(None)
            for start in range(0, config.batch_size, config.minibatch_size):
                index = order[start:start + config.minibatch_size] if config.num_minibatches > 1 else order
                new_logprob, entropy, new_value = policy.evaluate(b_obs[index], b_actions[index])
                logratio = new_logprob - b_logprobs[index]
                ratio = logratio.exp()
                with torch.no_grad():
                    # Debug metrics (detail 12): the old KL estimator and the unbiased (r − 1) − log r one.
                    old_approx_kl = (-logratio).mean()
                    approx_kl = ((ratio - 1) - logratio).mean()
                    clipfrac_sum += ((ratio - 1.0).abs() > config.clip_coef).float().mean()

                advantages = b_advantages[index]
                if config.norm_adv:  # (detail 7)
                    advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)

                # Clipped surrogate objective, the pessimistic bound (detail 8).
                policy_loss = torch.max(
                    -advantages * ratio, -advantages * ratio.clamp(1 - config.clip_coef, 1 + config.clip_coef)
                ).mean()

                # Value loss, clipped around the rollout's values (detail 9).
                if config.clip_vloss:
                    unclipped = (new_value - b_returns[index]).square()
                    clipped_value = b_values[index] + (new_value - b_values[index]).clamp(
                        -config.clip_coef, config.clip_coef
                    )
                    value_loss = 0.5 * torch.max(unclipped, (clipped_value - b_returns[index]).square()).mean()
                else:
                    value_loss = 0.5 * (new_value - b_returns[index]).square().mean()

                # One loss (detail 10).
                entropy_loss = entropy.mean()
                loss = policy_loss - config.ent_coef * entropy_loss + config.vf_coef * value_loss
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"PPO loss is {loss.item()} at update {self.iteration} (epoch {epoch + 1}, minibatch "
                        f"{start // config.minibatch_size + 1}, global step {self.global_step}); training stopped "
                        f"before applying it. Check the environment's rewards/observations or lower learning_rate."
                    )

                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.parameters, config.max_grad_norm)  # (detail 11)
                self.optimizer.step()
                num_gradient_steps += 1

            if config.target_kl is not None and approx_kl.item() > config.target_kl:  # (detail 34)
                break
        learning_time = time.perf_counter() - tick

        # ---- Log ----
        y_pred, y_true = b_values, b_returns
        var_y = y_true.var()
        explained_var = (1 - (y_true - y_pred).var() / var_y).item() if var_y > 0 else float("nan")
        metrics = {
            "global_step": float(self.global_step),
            "charts/learning_rate": learning_rate,
            "charts/SPS": (self.global_step - start_step) / (time.perf_counter() - start_time),
            "losses/value_loss": value_loss.item(),
            "losses/policy_loss": policy_loss.item(),
            "losses/entropy": entropy_loss.item(),
            "losses/old_approx_kl": old_approx_kl.item(),
            "losses/approx_kl": approx_kl.item(),
            "losses/clipfrac": (clipfrac_sum / num_gradient_steps).item(),
            "losses/explained_variance": explained_var,
            "time/env": env_time,
            "time/inference": inference_time,
            "time/learning": learning_time,
        }
        if episode_returns:
            metrics["charts/episodic_return"] = float(np.mean(episode_returns))
            metrics["charts/episodic_length"] = float(np.mean(episode_lengths))
        return metrics

    # -- using the model -------------------------------------------------------------------------------

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Actions for a batch of raw observations `[B, ...]` (or one observation), as the env takes them.

        Applies the model's observation normalization, frozen; Box actions are clipped to the bounds.
        Stochastic actions draw from a generator of their own, so predicting never changes training.
        """
        obs = np.asarray(obs)
        single = obs.shape == self.envs.single_observation_space.shape
        batch = obs[None] if single else obs
        observed = self._observe(np.ascontiguousarray(batch), update_statistics=False, name="predict")
        if observed.dtype == torch.float64:
            observed = observed.float()
        if deterministic:
            action = self.policy.deterministic_action(observed)
        else:
            action = self.policy.act(observed, self.predict_generator)[0]
        action = action.cpu().numpy()
        if self.clip_actions:
            space = self.envs.single_action_space
            action = np.clip(action, space.low, space.high)
        return action[0] if single else action

    # -- saving and loading ----------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write the full training state atomically: everything `PPO.load` + `learn` need to continue exactly."""
        numpy_state = np.random.get_state()  # noqa: NPY002
        env_state = self.envs.state_dict() if self.started and hasattr(self.envs, "state_dict") else None
        checkpoint.save(path, "ppo", {
            "config": dataclasses.asdict(self.config),
            "policy": self.policy.state_dict(),
            "obs_normalizer": None if self.obs_normalizer is None else self.obs_normalizer.state_dict(),
            "reward_scaler": None if self.reward_scaler is None else self.reward_scaler.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "global_step": self.global_step,
            "iteration": self.iteration,
            "generator": self.generator.get_state(),
            "predict_generator": self.predict_generator.get_state(),
            "rng": {
                "python": random.getstate(),
                "numpy": (numpy_state[0], numpy_state[1].astype(np.int64), *numpy_state[2:]),
                "torch": torch.get_rng_state(),
            },
            "env": env_state,
            "next_obs": self.next_obs.cpu() if env_state is not None else None,
            "recent_returns": list(self.recent_returns),
            "recent_lengths": list(self.recent_lengths),
        })

    @classmethod
    def load(cls, path: str | os.PathLike, env: str | VecEnv | None = None, **overrides: Any) -> PPO:
        """A model from `save`d state; `env` (id or VecEnv) and hyperparameter `overrides` replace the saved ones.

        When the saved env state can be restored (native envs), `learn` continues bit-identically to a
        run that was never interrupted; otherwise the envs restart from a seeded reset.
        """
        state = checkpoint.load(path, "ppo")
        saved = state["config"]
        env_id = env if isinstance(env, str) else overrides.pop("env_id", saved["env_id"])
        envs = None if env is None or isinstance(env, str) else env
        if envs is not None:
            overrides["num_envs"] = envs.num_envs
        model = cls.__new__(cls)
        model._setup(make_config(env_id, overrides, base=saved), envs)
        try:
            model.policy.load_state_dict(state["policy"])
            if model.obs_normalizer is not None and state["obs_normalizer"] is not None:
                model.obs_normalizer.load_state_dict(state["obs_normalizer"])
            if model.reward_scaler is not None and state["reward_scaler"] is not None:
                model.reward_scaler.load_state_dict(state["reward_scaler"])
            model.optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as error:
            raise checkpoint.CheckpointError(
                f"checkpoint {str(path)!r} does not fit the model for {env_id!r}: {str(error).splitlines()[0]}"
            ) from error
        for group in model.optimizer.param_groups:  # an overridden learning rate takes effect
            group["lr"] = model.config.learning_rate
        model.global_step, model.iteration = state["global_step"], state["iteration"]
        if model.device.type == torch.device(saved["device"]).type:
            model.generator.set_state(state["generator"])
            model.predict_generator.set_state(state["predict_generator"])
        random.setstate(state["rng"]["python"])
        name, keys, *rest = state["rng"]["numpy"]
        np.random.set_state((name, keys.astype(np.uint32), *rest))  # noqa: NPY002
        torch.set_rng_state(state["rng"]["torch"])
        if state["env"] is not None and hasattr(model.envs, "load_state_dict"):
            model.envs.load_state_dict(state["env"])
            model.next_obs.copy_(state["next_obs"])
            model.started = True
        model.recent_returns.extend(state["recent_returns"])
        model.recent_lengths.extend(state["recent_lengths"])
        return model


def _env_id_of(envs: VecEnv) -> str:
    """The env id of a ready VecEnv: its `env_id` or `gymnasium_id` (native envs), or its first Gymnasium env's spec."""
    env_id = getattr(envs, "env_id", None) or getattr(envs, "gymnasium_id", None)
    if env_id is None and getattr(envs, "envs", None):
        spec = getattr(envs.envs[0], "spec", None)
        env_id = spec.id if spec is not None else None
    if env_id is None:
        raise ValueError("cannot tell the env id of this VecEnv: pass env_id=... with the hyperparameters")
    return env_id
