"""The collector: runs a policy against a `VecEnv` for `T` steps, straight into rollout storage.

Per step: one batched forward (actions, log-probs and the values of every value head stored, never
recomputed: PPO detail 36), the actions handed to the env (Box actions clipped for the env only:
detail 25), rewards scaled (detail 27), the next observations normalized (detail 26) and written
into the next row, and the values of time-limited episodes' final observations computed in one
batched forward over just those rows, so that the advantages bootstrap from them (detail 14).
Episode statistics and the split of the time between the env and the policy come back with the rollout.
Multi-agent envs (agents as rows) also have each step's `row_masks`, the agents present, copied into storage.

A recurrent policy's state per env (`state`) is carried from step to step and from rollout to
rollout: stored as it enters each step, advanced by the step's forward, and zeroed after a step
that ended the env's episode, so that the next episode (already started by same-step autoreset)
begins from zeros. The final observation of a truncated episode is valued from the state that
reached it.

On an accelerator every env array goes through a pinned host buffer with one asynchronous copy; on
the CPU observations reach the policy without a copy, or with the one copy into storage.

Envs that hand out torch tensors (native envs on the GPU, `thrust.make(..., device="cuda")`) keep the
whole rollout on the device with no host synchronization per step: actions go to the env as tensors,
every time-limited step's bootstrap value comes from one forward over all the final observations (the
rows that did not end are valued too, and never read), and the episode statistics are gathered on the
device and read once per rollout. `env_time`/`inference_time` then time the launches, not the work.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from thrust.normalize import ObservationNormalizer, RewardScaler
from thrust.policies import ActorCritic
from thrust.storage import RolloutStorage
from thrust.vector.base import VecEnv


@dataclass
class RolloutStatistics:
    """What one rollout measured: seconds in the env and in the policy, and the episodes that ended."""

    env_time: float = 0.0
    inference_time: float = 0.0
    episode_returns: list[float] = field(default_factory=list)
    episode_lengths: list[int] = field(default_factory=list)


class Collector:
    """Fills `storage` from envs with `policy`; also turns raw observations into what the policy sees.

    `generator` draws the rollout's actions. `obs_normalizer` and `reward_scaler` are optional.
    """

    def __init__(
        self,
        policy: ActorCritic,
        storage: RolloutStorage,
        action_space: gym.Space,
        generator: torch.Generator,
        obs_normalizer: ObservationNormalizer | None = None,
        reward_scaler: RewardScaler | None = None,
    ) -> None:
        self.policy, self.storage, self.generator = policy, storage, generator
        self.obs_normalizer, self.reward_scaler = obs_normalizer, reward_scaler
        self.device = storage.device
        self.clip_bounds = (action_space.low, action_space.high) if isinstance(action_space, gym.spaces.Box) \
            else None
        self.pinned = self.device.type != "cpu"
        self.staging: dict[str, torch.Tensor] = {}
        self.state = policy.initial_state(storage.num_envs, self.device)
        """a recurrent policy's state per env, where the next step starts (None for a feed-forward policy)"""
        self.device_episodes: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        """with GPU envs: per step and env, whether an episode ended, its return and length (`record_episodes`)"""

    # -- host ↔ device -----------------------------------------------------------------------------

    def to_device(self, array: np.ndarray | torch.Tensor, name: str, out: torch.Tensor | None = None) -> torch.Tensor:
        """`array` on the learner's device, written into `out` (cast to its dtype) when given.

        On the CPU: zero-copy, or one copy into `out`. On an accelerator: one non-blocking copy from a
        pinned staging buffer kept per `name`, at least `num_envs` rows and sliced, so a changing row
        count (the truncated envs) reuses it; reused only after the next step's synchronizing
        `action.cpu()`, so an in-flight copy is never overwritten.
        """
        if isinstance(array, torch.Tensor):  # a GPU env's buffer: one device copy, or none
            return array.to(self.device) if out is None else out.copy_(array)
        tensor = torch.from_numpy(array)
        if self.pinned:
            staging = self.staging.get(name)
            if staging is None or staging.dtype != tensor.dtype or staging.shape[1:] != tensor.shape[1:] \
                    or len(staging) < len(tensor):
                rows = max(len(tensor), self.storage.num_envs)
                staging = torch.empty((rows, *tensor.shape[1:]), dtype=tensor.dtype).pin_memory()
                self.staging[name] = staging
            tensor = staging[: len(tensor)].copy_(tensor)
            if out is None:
                return tensor.to(self.device, non_blocking=True)
        return tensor if out is None else out.copy_(tensor, non_blocking=self.pinned)

    def observe(
        self, obs: np.ndarray, update_statistics: bool, name: str = "obs", out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Raw env observations → what the networks see, written into `out` when given: normalized when
        enabled, else cast to the storage dtype (float32 for vectors, uint8 for frames)."""
        if self.obs_normalizer is None:
            if out is not None:
                return self.to_device(obs, name, out)  # the copy casts
            return self.to_device(obs, name).to(self.storage.obs.dtype)
        obs_tensor = self.to_device(obs, name)
        if update_statistics:
            self.obs_normalizer.update(obs_tensor)
        return self.obs_normalizer(obs_tensor, out=out)

    def env_actions(self, action: torch.Tensor) -> np.ndarray:
        """Policy actions as the env takes them: numpy, Box actions clipped to the bounds."""
        env_action = action.cpu().numpy()
        if self.clip_bounds is None:
            return env_action
        low, high = self.clip_bounds  # np.clip's bits, without its Python-level argument handling (~10 µs)
        clipped = np.maximum(env_action, low)
        return np.minimum(clipped, high, out=clipped)

    def device_actions(self, action: torch.Tensor) -> torch.Tensor:
        """Policy actions as an env that takes tensors takes them: Box actions clipped, on the device."""
        if self.clip_bounds is None:
            return action
        low, high = (torch.as_tensor(bound, device=action.device) for bound in self.clip_bounds)
        return torch.clamp(action, low, high)

    # -- rollouts ----------------------------------------------------------------------------------

    def reset(self, envs: VecEnv, seed: int | None) -> None:
        """Reset the envs (seeded) and store their first observations as where the next rollout starts."""
        obs, _ = envs.reset(seed=seed)
        self.observe(obs, update_statistics=True, out=self.storage.next_obs)
        if self.state is not None:
            self.state.zero_()

    def collect(self, envs: VecEnv) -> RolloutStatistics:
        """One rollout of `storage.num_steps` steps from `storage.next_obs`; leaves `next_obs` at its end."""
        policy, storage, state, stats = self.policy, self.storage, self.state, RolloutStatistics()
        on_device = isinstance(envs.observations, torch.Tensor)  # a GPU env: no host synchronization per step
        # Every step's row of every storage tensor as a view, made once per rollout (the storage may be another
        # one at the next: an actor's slot): with one env, indexing the tensors anew at each step (`obs[step]`,
        # `actions[step] = ...`, ten times a step) cost more than the policy's forward. `obs_rows[T]` is `next_obs`.
        obs_rows = (*storage.obs.unbind(0), storage.next_obs)
        action_rows, logprob_rows, state_rows = storage.actions.unbind(0), storage.logprobs.unbind(0), \
            (None if state is None else storage.states.unbind(0))
        value_rows = storage.head_values.unbind(1)  # [H, N] each
        reward_rows, termination_rows, truncation_rows = \
            storage.rewards.unbind(0), storage.terminations.unbind(0), storage.truncations.unbind(0)
        obs_rows[0].copy_(storage.next_obs)
        for step in range(storage.num_steps):
            tick = time.perf_counter()
            if state is not None:
                state_rows[step].copy_(state)
            if storage.row_masks is not None:  # the agents present in obs[step] (multi-agent rows)
                self.to_device(envs.row_masks, "row_masks", out=storage.row_masks[step])
            action, logprob, value = policy.act(obs_rows[step], self.generator, state)
            action_rows[step].copy_(action)
            logprob_rows[step].copy_(logprob)
            value_rows[step].copy_(value.view(storage.num_envs, -1).T)  # every value head's row
            env_action = self.device_actions(action) if on_device else self.env_actions(action)
            tock = time.perf_counter()
            stats.inference_time += tock - tick

            obs, rewards, terminations, truncations, infos = envs.step(env_action)
            tick = time.perf_counter()
            stats.env_time += tick - tock

            if self.reward_scaler is not None:
                rewards = self.reward_scaler(rewards, terminations | truncations)
            self.to_device(rewards, "rewards", out=reward_rows[step])
            self.to_device(terminations, "terminations", out=termination_rows[step])
            self.to_device(truncations, "truncations", out=truncation_rows[step])
            # Straight into the next step's slot (after the last step: next_obs), one copy per step.
            self.observe(obs, update_statistics=True, out=obs_rows[step + 1])
            self.value_final_observations(step, infos, truncations & ~terminations, on_device)
            if state is not None:  # the next episode starts from zeros
                state.mul_(torch.logical_or(termination_rows[step], truncation_rows[step])
                           .logical_not_().to(state.dtype)[:, None, None])
            self.record_episodes(step, infos, stats, on_device)
            stats.inference_time += time.perf_counter() - tick
        if on_device:  # the rollout's one synchronization
            ended, returns, lengths = self.device_episodes
            stats.episode_returns, stats.episode_lengths = returns[ended].tolist(), lengths[ended].tolist()
        return stats

    def value_final_observations(self, step: int, infos: dict, time_limited: Any, on_device: bool) -> None:
        """V(final observation), every value head, of the time-limited rows into
        `storage.head_final_values[:, step]` (detail 14), valued from the state that reached them.
        On the device every row is valued (in one forward, without asking the device which rows ended); the
        others' values are never read."""
        state, storage = self.state, self.storage
        if on_device:
            final_obs = self.observe(infos["final_obs"], update_statistics=False, name="final_obs")
            with torch.no_grad():
                storage.head_final_values[:, step] = self.policy.value(final_obs, state).view(storage.num_envs, -1).T
        elif time_limited.any():
            rows = np.flatnonzero(time_limited)
            final_obs = self.observe(infos["final_obs"][rows], update_statistics=False, name="final_obs")
            device_rows = self.to_device(rows, "rows")
            with torch.no_grad():
                final_values = self.policy.value(final_obs, None if state is None else state[device_rows], device_rows)
                storage.head_final_values[:, step, device_rows] = final_values.view(len(rows), -1).T

    def record_episodes(self, step: int, infos: dict, stats: RolloutStatistics, on_device: bool) -> None:
        """The episodes that ended at `step`: into `stats` from numpy, or into `device_episodes[:][step]`."""
        if not on_device:
            ended = infos["_episode"]
            if ended.any():
                stats.episode_returns.extend(infos["episode"]["r"][ended].tolist())
                stats.episode_lengths.extend(infos["episode"]["l"][ended].tolist())
            return
        if self.device_episodes is None:
            shape, device = self.storage.terminations.shape, self.device
            self.device_episodes = (torch.zeros(shape, dtype=torch.bool, device=device),
                                    torch.zeros(shape, dtype=torch.float64, device=device),
                                    torch.zeros(shape, dtype=torch.int64, device=device))
        ended, returns, lengths = self.device_episodes
        ended[step].copy_(infos["_episode"])
        returns[step].copy_(infos["episode"]["r"])
        lengths[step].copy_(infos["episode"]["l"])
