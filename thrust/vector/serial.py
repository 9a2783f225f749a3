"""The serial backend: Gymnasium envs stepped one after another in this process (for debugging)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from thrust.vector.base import VecEnv


def write(buffer: Any, index: int, value: Any) -> None:
    """Store one env's `value` at row `index` of `buffer` (an array, or a dict/tuple of arrays)."""
    if isinstance(buffer, dict):
        for key, sub in buffer.items():
            write(sub, index, value[key])
    elif isinstance(buffer, tuple):
        for sub, item in zip(buffer, value, strict=True):
            write(sub, index, item)
    else:
        buffer[index] = value


def read(buffer: Any, index: int) -> Any:
    """One env's action from row `index` of a batch (an array, or a dict/tuple of arrays)."""
    if isinstance(buffer, dict):
        return {key: read(sub, index) for key, sub in buffer.items()}
    if isinstance(buffer, tuple):
        return tuple(read(sub, index) for sub in buffer)
    return buffer[index]


class SerialVecEnv(VecEnv):
    """Steps `len(env_fns)` Gymnasium envs in turn, with Thrust's same-step autoreset semantics."""

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]]) -> None:
        self.envs = [fn() for fn in env_fns]
        first = self.envs[0]
        super().__init__(first.observation_space, first.action_space, len(self.envs))
        self.metadata = {**VecEnv.metadata, "render_modes": first.metadata.get("render_modes", [])}
        self.render_mode = first.render_mode
        self._running_returns = np.zeros(self.num_envs, dtype=np.float64)
        self._running_lengths = np.zeros(self.num_envs, dtype=np.int64)
        self._env_ids = np.arange(self.num_envs)
        self._actions: Any = None

    def _reset(self, seed: int | None, options: dict[str, Any] | None) -> None:
        for i, env in enumerate(self.envs):
            obs, _ = env.reset(seed=None if seed is None else seed + i, options=options)
            write(self.observations, i, obs)
        self._running_returns[:] = 0.0
        self._running_lengths[:] = 0

    def _send(self, actions: Any, env_ids: np.ndarray | None) -> None:
        if env_ids is not None and not np.array_equal(env_ids, self._env_ids):
            raise ValueError("the serial backend steps all envs at once: pass env_ids=None")
        self._actions = actions

    def _recv(self):
        self.final_mask[:] = False
        for i, env in enumerate(self.envs):
            obs, reward, terminated, truncated, _ = env.step(read(self._actions, i))
            self.rewards[i] = reward
            self.terminations[i] = terminated
            self.truncations[i] = truncated
            self._running_returns[i] += reward
            self._running_lengths[i] += 1
            if terminated or truncated:
                write(self.final_observations, i, obs)
                self.final_mask[i] = True
                self.episode_returns[i] = self._running_returns[i]
                self.episode_lengths[i] = self._running_lengths[i]
                self._running_returns[i] = 0.0
                self._running_lengths[i] = 0
                obs, _ = env.reset()
            write(self.observations, i, obs)
        return (
            self.observations, self.rewards, self.terminations, self.truncations, self.infos, self._env_ids
        )

    def render(self):
        """The first env's frame (rgb_array), as Gymnasium's `render()` gives it."""
        return self.envs[0].render()

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()
