"""The collector: runs a policy against a `VecEnv` for `T` steps, straight into rollout storage.

Per step: one batched forward (actions, log-probs and the values of every value head stored, never
recomputed: PPO detail 36), the actions handed to the env (Box actions clipped for the env only:
detail 25), rewards scaled (detail 27), the next observations normalized (detail 26) and written
into the next row, and the values of time-limited episodes' final observations computed in one
batched forward over just those rows, so that the advantages bootstrap from them (detail 14).
Episode statistics and the split of the time between the env and the policy come back with the rollout.

A recurrent policy's state per env (`state`) is carried from step to step and from rollout to
rollout: stored as it enters each step, advanced by the step's forward, and zeroed after a step
that ended the env's episode, so that the next episode (already started by same-step autoreset)
begins from zeros. The final observation of a truncated episode is valued from the state that
reached it.

On an accelerator every env array goes through a pinned host buffer with one asynchronous copy; on
the CPU observations reach the policy without a copy, or with the one copy into storage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

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

    # -- host ↔ device -----------------------------------------------------------------------------

    def to_device(self, array: np.ndarray, name: str, out: torch.Tensor | None = None) -> torch.Tensor:
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
        normalized = self.obs_normalizer(obs_tensor)
        return normalized if out is None else out.copy_(normalized)

    def env_actions(self, action: torch.Tensor) -> np.ndarray:
        """Policy actions as the env takes them: numpy, Box actions clipped to the bounds."""
        env_action = action.cpu().numpy()
        return env_action if self.clip_bounds is None else np.clip(env_action, *self.clip_bounds)

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
        storage.obs[0] = storage.next_obs
        for step in range(storage.num_steps):
            tick = time.perf_counter()
            if state is not None:
                storage.states[step] = state
            action, logprob, value = policy.act(storage.obs[step], self.generator, state)
            storage.actions[step] = action
            storage.logprobs[step] = logprob
            storage.head_values[:, step] = value.view(storage.num_envs, -1).T  # every value head's row
            env_action = self.env_actions(action)
            tock = time.perf_counter()
            stats.inference_time += tock - tick

            obs, rewards, terminations, truncations, infos = envs.step(env_action)
            tick = time.perf_counter()
            stats.env_time += tick - tock

            if self.reward_scaler is not None:
                rewards = self.reward_scaler(rewards, terminations | truncations)
            self.to_device(rewards, "rewards", out=storage.rewards[step])
            self.to_device(terminations, "terminations", out=storage.terminations[step])
            self.to_device(truncations, "truncations", out=storage.truncations[step])
            # Straight into the next step's slot (after the last step: next_obs), one copy per step.
            next_slot = storage.obs[step + 1] if step + 1 < storage.num_steps else storage.next_obs
            self.observe(obs, update_statistics=True, out=next_slot)
            time_limited = truncations & ~terminations
            if time_limited.any():
                rows = np.flatnonzero(time_limited)
                final_obs = self.observe(infos["final_obs"][rows], update_statistics=False, name="final_obs")
                device_rows = self.to_device(rows, "rows")
                with torch.no_grad():
                    final_values = policy.value(final_obs, None if state is None else state[device_rows])
                    storage.head_final_values[:, step, device_rows] = final_values.view(len(rows), -1).T
            if state is not None:  # the next episode starts from zeros
                state.mul_(torch.logical_or(storage.terminations[step], storage.truncations[step])
                           .logical_not_().to(state.dtype)[:, None, None])
            ended = infos["_episode"]
            if ended.any():
                stats.episode_returns.extend(infos["episode"]["r"][ended].tolist())
                stats.episode_lengths.extend(infos["episode"]["l"][ended].tolist())
            stats.inference_time += time.perf_counter() - tick
        return stats
