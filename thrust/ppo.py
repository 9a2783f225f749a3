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
import warnings
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

BACKENDS = ("auto", "native", "serial", "multiprocessing", "envpool")  # what thrust.make accepts


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
    """env backend: "auto", "native", "serial", "multiprocessing" or "envpool" (see thrust.make)"""
    num_envs: int = 4
    """environments stepped in parallel"""
    num_workers: int | None = None
    """worker processes (multiprocessing) or threads (envpool); None: thrust.make's default"""
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
    """torch CPU threads, set process-wide (0: leave torch's default); one is fastest for small networks"""

    @property
    def batch_size(self) -> int:
        """Env steps per iteration: num_envs × num_steps."""
        return self.num_envs * self.num_steps

    @property
    def minibatch_size(self) -> int:
        """Samples per gradient step: batch_size / num_minibatches."""
        return self.batch_size // self.num_minibatches

    @property
    def num_iterations(self) -> int:
        """Whole iterations in total_timesteps (a remainder smaller than a batch is not run)."""
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
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {self.backend!r}")
        if self.num_workers is not None:
            if not (isinstance(self.num_workers, int) and self.num_workers >= 1):
                raise ValueError(f"num_workers must be a positive number or None, got {self.num_workers!r}")
            if self.backend in ("native", "serial"):
                raise ValueError(
                    f"num_workers needs backend 'multiprocessing', 'envpool' or 'auto', not {self.backend!r}"
                )
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
# The loss
# ---------------------------------------------------------------------------------------------------


def ppo_loss(
    ratio: torch.Tensor,
    entropy: torch.Tensor,
    new_values: torch.Tensor,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    old_values: torch.Tensor,
    config: PPOConfig,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The loss of one minibatch: `(loss, policy_loss, value_loss, entropy_loss)`.

    `ratio` is π_new(a|s) / π_old(a|s) of the rollout's actions, `entropy` and `new_values` come from
    the current policy; `advantages`, `returns` and `old_values` from the rollout.
    """
    if config.norm_adv:  # per minibatch (detail 7)
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)

    # Clipped surrogate objective, the pessimistic bound (detail 8).
    policy_loss = torch.max(
        -advantages * ratio, -advantages * ratio.clamp(1 - config.clip_coef, 1 + config.clip_coef)
    ).mean()

    # Value loss, clipped around the rollout's values (detail 9).
    if config.clip_vloss:
        unclipped = (new_values - returns).square()
        clipped_values = old_values + (new_values - old_values).clamp(-config.clip_coef, config.clip_coef)
        value_loss = 0.5 * torch.max(unclipped, (clipped_values - returns).square()).mean()
    else:
        value_loss = 0.5 * (new_values - returns).square().mean()

    # One loss (detail 10).
    entropy_loss = entropy.mean()
    loss = policy_loss - config.ent_coef * entropy_loss + config.vf_coef * value_loss
    return loss, policy_loss, value_loss, entropy_loss


# ---------------------------------------------------------------------------------------------------
# The algorithm
# ---------------------------------------------------------------------------------------------------

Callback = Callable[["PPO", dict[str, float]], "bool | None"]


class PPO:
    """PPO agent: `learn`, `predict`, `save`, `PPO.load`, `close` (or use it as a context manager).

    `env` is an env id (made with `thrust.make`: `config.num_envs` copies, with `env_kwargs`, at the
    first `learn`) or a ready Thrust `VecEnv` (stepped in lockstep: `batch_size == num_envs`).
    Hyperparameters are `PPOConfig` fields; the env's preset is applied first, then these.

    Constructing a model, `learn` and `load` set process-wide torch state: the intra-op thread count
    (`config.num_threads`, unless 0) and flushing of denormal floats to zero.
    """

    def __init__(
        self,
        env: str | VecEnv = "CartPole-v1",
        seed: int = 1,
        device: str = "cpu",
        env_kwargs: dict[str, Any] | None = None,
        **hyperparameters: Any,
    ) -> None:
        if isinstance(env, str):
            env_id, envs = env, None
        else:
            envs = env
            _check_envs(envs)
            env_id = hyperparameters.pop("env_id", None) or _env_id_of(env)
            hyperparameters["num_envs"] = env.num_envs
        config = make_config(env_id, {**hyperparameters, "seed": seed, "device": device})
        self._setup(config, envs, env_kwargs or {})

    def _setup(self, config: PPOConfig, envs: VecEnv | None, env_kwargs: dict[str, Any]) -> None:
        self.config = config
        self.env_kwargs = dict(env_kwargs)
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

        # Environments (detail 1): one vectorized set, never reset between iterations. Made at the first
        # `learn` (predicting and evaluating never need them, and a Gymnasium id means worker processes);
        # until then a one-env probe, in this process, tells the spaces.
        self._envs, self.owns_envs = envs, envs is None
        if envs is None:
            probe_backend = "serial" if config.backend == "multiprocessing" else config.backend
            probe = make(config.env_id, num_envs=1, backend=probe_backend, **self.env_kwargs)
            self.observation_space, self.action_space = probe.single_observation_space, probe.single_action_space
            probe.close()
        else:
            self.observation_space, self.action_space = envs.single_observation_space, envs.single_action_space
        self.clip_actions = isinstance(self.action_space, gym.spaces.Box)

        # Agent (details 2, 13, 23): orthogonal init, separate actor and critic for vectors, shared CNN for images.
        self.policy = ActorCritic(
            self.observation_space, self.action_space, config.hidden_sizes, config.shared_trunk, config.log_std_init
        ).to(self.device)
        self.obs_normalizer = (
            ObservationNormalizer(self.observation_space.shape).to(self.device) if config.normalize_obs else None
        )
        self.reward_scaler = RewardScaler(config.num_envs, config.gamma) if config.normalize_reward else None
        # Adam with eps=1e-5 (detail 3); fused: one kernel for all parameters instead of one per tensor.
        self.parameters = list(self.policy.parameters())
        self.optimizer = torch.optim.Adam(self.parameters, lr=config.learning_rate, eps=1e-5, fused=True)

        # Rollout storage [T, N, ...], allocated once on the learner's device. Observations are stored as
        # the networks see them: float32 (whatever the env's dtype), or raw bytes for uint8 frames.
        T, N, device = config.num_steps, config.num_envs, self.device
        frames = is_image_space(self.observation_space) and self.observation_space.dtype == np.uint8
        obs_dtype = torch.uint8 if frames and not config.normalize_obs else torch.float32
        action_dtype = torch.float32 if self.clip_actions else torch.int64
        self.obs = torch.zeros((T, N, *self.observation_space.shape), dtype=obs_dtype, device=device)
        self.actions = torch.zeros((T, N, *self.action_space.shape), dtype=action_dtype, device=device)
        self.logprobs = torch.zeros((T, N), device=device)
        self.values = torch.zeros((T, N), device=device)
        self.rewards = torch.zeros((T, N), device=device)
        self.terminations = torch.zeros((T, N), dtype=torch.bool, device=device)
        self.truncations = torch.zeros((T, N), dtype=torch.bool, device=device)
        self.final_values = torch.zeros((T, N), device=device)
        self.advantages = torch.zeros((T, N), device=device)
        self.next_obs = torch.zeros((N, *self.observation_space.shape), dtype=obs_dtype, device=device)
        # On an accelerator, env arrays go through pinned host memory: one asynchronous copy each, and
        # non-finite losses are caught without a host sync per minibatch (see the update).
        self.pinned = self.device.type != "cpu"
        self.loss_check_on_device = self.device.type != "cpu"
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

    @property
    def envs(self) -> VecEnv:
        """The training envs: the VecEnv given, or `config.num_envs` copies made by `thrust.make` at first use."""
        if self._envs is None:
            config = self.config
            self._envs = make(
                config.env_id, num_envs=config.num_envs, seed=config.seed, backend=config.backend,
                num_workers=config.num_workers, **self.env_kwargs,
            )
        return self._envs

    def close(self) -> None:
        """Close the envs this model made (a VecEnv passed in is the caller's to close).

        A later `learn` makes new envs, reset with the seed `config.seed + global_step`.
        """
        if self._envs is not None and self.owns_envs:
            self._envs.close()
            self._envs, self.started = None, False

    def __enter__(self) -> PPO:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- host ↔ device -----------------------------------------------------------------------------

    def _to_device(self, array: np.ndarray, name: str, out: torch.Tensor | None = None) -> torch.Tensor:
        """`array` on the learner's device, written into `out` (cast to its dtype) when given.

        On the CPU: zero-copy, or one copy into `out`. On an accelerator: one non-blocking copy from a
        pinned staging buffer kept per `name`, at least `num_envs` rows and sliced, so a changing row
        count (the truncated envs) reuses it; reused only after the next step's synchronizing
        `action.cpu()`, so an in-flight copy is never overwritten.
        """
        tensor = torch.from_numpy(array)
        if self.pinned:
            staging = self.staging.get(name)
            if staging is None or staging.dtype != tensor.dtype or staging.shape[1:] != tensor.shape[1:] \
                    or len(staging) < len(tensor):
                rows = max(len(tensor), self.config.num_envs)
                staging = torch.empty((rows, *tensor.shape[1:]), dtype=tensor.dtype).pin_memory()
                self.staging[name] = staging
            tensor = staging[: len(tensor)].copy_(tensor)
            if out is None:
                return tensor.to(self.device, non_blocking=True)
        return tensor if out is None else out.copy_(tensor, non_blocking=self.pinned)

    def _observe(
        self, obs: np.ndarray, update_statistics: bool, name: str = "obs", out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Raw env observations → what the networks see, written into `out` when given: normalized when
        enabled (detail 26), else cast to the storage dtype (float32 for vectors, uint8 for frames)."""
        if self.obs_normalizer is None:
            if out is not None:
                return self._to_device(obs, name, out)  # the copy casts
            return self._to_device(obs, name).to(self.obs.dtype)
        obs_tensor = self._to_device(obs, name)
        if update_statistics:
            self.obs_normalizer.update(obs_tensor)
        normalized = self.obs_normalizer(obs_tensor)
        return normalized if out is None else out.copy_(normalized)

    # -- learning --------------------------------------------------------------------------------------

    def learn(self, total_timesteps: int | None = None, callback: Callback | None = None) -> PPO:
        """Train until `global_step` reaches `total_timesteps` (default: `config.total_timesteps`).

        `total_timesteps`, when given, replaces `config.total_timesteps`, which fixes the learning-rate
        schedule. After every iteration `callback(self, metrics)` runs; returning `False` stops
        training there, in a state that `save` and a later `learn` continue exactly.
        """
        config = self.config
        if total_timesteps is not None:
            dataclasses.replace(config, total_timesteps=total_timesteps).validate()
            config.total_timesteps = total_timesteps
        self._apply_torch_settings()
        envs = self.envs
        if not self.started:
            if self.global_step > 0:
                warnings.warn(
                    f"continuing at global step {self.global_step} on envs reset rather than restored (checkpoints "
                    f"hold the env state of native envs only; close() drops it): the reset is seeded with "
                    f"seed + global_step = {config.seed + self.global_step}, so this run is not the uninterrupted one",
                    stacklevel=2,
                )
                if self.reward_scaler is not None:  # the discounted returns restart with the episodes
                    self.reward_scaler.discounted_returns.zero_()
            # A run that continues without its envs' state takes fresh episodes, not the opening ones again.
            obs, _ = envs.reset(seed=config.seed + self.global_step)
            self._observe(obs, update_statistics=True, out=self.next_obs)
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
        action_low, action_high = (self.action_space.low, self.action_space.high) if self.clip_actions \
            else (None, None)
        self.obs[0] = self.next_obs
        for step in range(config.num_steps):
            tick = time.perf_counter()
            # One batched forward for all envs; log-probs and values stored, never recomputed (detail 36).
            action, logprob, value = policy.act(self.obs[step], self.generator)
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
            self._to_device(rewards, "rewards", out=self.rewards[step])
            self._to_device(terminations, "terminations", out=self.terminations[step])
            self._to_device(truncations, "truncations", out=self.truncations[step])
            # Straight into the next step's slot (after the last step: next_obs), one copy per step.
            next_slot = self.obs[step + 1] if step + 1 < config.num_steps else self.next_obs
            self._observe(obs, update_statistics=True, out=next_slot)
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
        # A non-finite loss must never be applied. On the CPU the host checks each loss, which is free there;
        # on an accelerator that check would stall once per minibatch, so it stays on the device: `skip`
        # becomes 1 at the first non-finite loss, fused Adam skips every step while its `found_inf` (the
        # hook torch's GradScaler uses) is 1, and the host reads `skip` once per epoch.
        skip = torch.zeros((), device=self.device)
        minibatch_losses = torch.zeros(config.num_minibatches, device=self.device)
        self.optimizer.found_inf = skip if self.loss_check_on_device else None
        num_gradient_steps = 0
        for epoch in range(config.update_epochs):
            # One minibatch holding the whole batch needs no shuffle and no gather: its gradient is the same.
            order = torch.randperm(config.batch_size, generator=self.generator, device=self.device) \
                if config.num_minibatches > 1 else slice(None)
            for minibatch, start in enumerate(range(0, config.batch_size, config.minibatch_size)):
                index = order[start:start + config.minibatch_size] if config.num_minibatches > 1 else order
                new_logprob, entropy, new_value = policy.evaluate(b_obs[index], b_actions[index])
                logratio = new_logprob - b_logprobs[index]
                ratio = logratio.exp()
                with torch.no_grad():
                    # Debug metrics (detail 12): the old KL estimator and the unbiased (r − 1) − log r one.
                    old_approx_kl = (-logratio).mean()
                    approx_kl = ((ratio - 1) - logratio).mean()
                    clipfrac_sum += ((ratio - 1.0).abs() > config.clip_coef).float().mean()

                loss, policy_loss, value_loss, entropy_loss = ppo_loss(
                    ratio, entropy, new_value, b_advantages[index], b_returns[index], b_values[index], config
                )
                if self.loss_check_on_device:
                    skip.masked_fill_(~torch.isfinite(loss), 1.0)
                    minibatch_losses[minibatch] = loss.detach()
                elif not torch.isfinite(loss):
                    raise self._loss_error(loss.item(), epoch, minibatch)

                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.parameters, config.max_grad_norm)  # (detail 11)
                self.optimizer.step()
                num_gradient_steps += 1

            if self.loss_check_on_device and skip.item():
                first = int(minibatch_losses.isfinite().logical_not().nonzero()[0])
                raise self._loss_error(minibatch_losses[first].item(), epoch, first)
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

    def _loss_error(self, loss: float, epoch: int, minibatch: int) -> FloatingPointError:
        return FloatingPointError(
            f"PPO loss is {loss} at update {self.iteration} (epoch {epoch + 1}, minibatch {minibatch + 1}, "
            f"global step {self.global_step}); training stopped before applying it. Check the environment's "
            f"rewards/observations or lower learning_rate."
        )

    # -- using the model -------------------------------------------------------------------------------

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Actions for a batch of raw observations `[B, ...]` (or one observation), as the env takes them.

        Applies the model's observation normalization, frozen; Box actions are clipped to the bounds.
        Stochastic actions draw from a generator of their own, so predicting never changes training.
        """
        obs = np.asarray(obs)
        single = obs.shape == self.observation_space.shape
        batch = obs[None] if single else obs
        observed = self._observe(np.ascontiguousarray(batch), update_statistics=False, name="predict")
        if deterministic:
            action = self.policy.deterministic_action(observed)
        else:
            action = self.policy.act(observed, self.predict_generator)[0]
        action = action.cpu().numpy()
        if self.clip_actions:
            action = np.clip(action, self.action_space.low, self.action_space.high)
        return action[0] if single else action

    # -- saving and loading ----------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write the full training state atomically: everything `PPO.load` + `learn` need to continue exactly."""
        numpy_state = np.random.get_state()  # noqa: NPY002
        saves_envs = self.started and hasattr(self._envs, "state_dict")
        checkpoint.save(path, "ppo", {
            "config": dataclasses.asdict(self.config),
            "env_kwargs": self.env_kwargs,
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
            "env": self._envs.state_dict() if saves_envs else None,
            "next_obs": self.next_obs.cpu() if saves_envs else None,
            "recent_returns": list(self.recent_returns),
            "recent_lengths": list(self.recent_lengths),
        })

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        env: str | VecEnv | None = None,
        env_kwargs: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> PPO:
        """A model from `save`d state; `env` (id or VecEnv), `env_kwargs` and hyperparameter `overrides`
        replace the saved ones.

        When the saved env state can be restored (native envs), `learn` continues bit-identically to a
        run that was never interrupted; otherwise it warns and restarts the envs from a reset seeded with
        `seed + global_step`. Envs are made here only to restore their state; otherwise at the first `learn`.
        """
        state = checkpoint.load(path, "ppo")
        saved = state["config"]
        env_id = env if isinstance(env, str) else overrides.pop("env_id", saved["env_id"])
        envs = None if env is None or isinstance(env, str) else env
        if envs is not None:
            _check_envs(envs)
            overrides["num_envs"] = envs.num_envs
        model = cls.__new__(cls)
        model._setup(make_config(env_id, overrides, base=saved), envs,
                     state.get("env_kwargs", {}) if env_kwargs is None else env_kwargs)
        restore_envs = state["env"] is not None and hasattr(model.envs, "load_state_dict")
        try:
            model.policy.load_state_dict(state["policy"])
            if model.obs_normalizer is not None and state["obs_normalizer"] is not None:
                model.obs_normalizer.load_state_dict(state["obs_normalizer"])
            if model.reward_scaler is not None and state["reward_scaler"] is not None:
                model.reward_scaler.load_state_dict(state["reward_scaler"])
            model.optimizer.load_state_dict(state["optimizer"])
            if restore_envs:
                model.envs.load_state_dict(state["env"])
                model.next_obs.copy_(state["next_obs"])
                model.started = True
        except (RuntimeError, ValueError, KeyError) as error:
            raise checkpoint.CheckpointError(
                f"checkpoint {str(path)!r} does not fit the model for {env_id!r} "
                f"(num_envs={model.config.num_envs}): {str(error).splitlines()[0]}"
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
        model.recent_returns.extend(state["recent_returns"])
        model.recent_lengths.extend(state["recent_lengths"])
        return model


def _check_envs(envs: object) -> None:
    """A ready env PPO can train on: a Thrust `VecEnv` stepped in lockstep; otherwise a clear `ValueError`."""
    if not isinstance(envs, VecEnv):
        raise ValueError(
            f"env must be an env id or a Thrust VecEnv (from thrust.make, or thrust.vector.serial.SerialVecEnv "
            f"around Gymnasium env constructors), got {type(envs).__module__}.{type(envs).__qualname__}"
        )
    if envs.batch_size != envs.num_envs:
        raise ValueError(
            f"PPO steps all envs together: this VecEnv has batch_size={envs.batch_size} < num_envs={envs.num_envs} "
            f"(async mode); make it without batch_size"
        )


def _env_id_of(envs: VecEnv) -> str:
    """The env id of a ready VecEnv: its `env_id` or `gymnasium_id` (native envs), or its first Gymnasium env's spec."""
    env_id = getattr(envs, "env_id", None) or getattr(envs, "gymnasium_id", None)
    if env_id is None and getattr(envs, "envs", None):
        spec = getattr(envs.envs[0], "spec", None)
        env_id = spec.id if spec is not None else None
    if env_id is None:
        raise ValueError("cannot tell the env id of this VecEnv: pass env_id=... with the hyperparameters")
    return env_id
