"""The serial backend: Gymnasium envs stepped one after another in this process (for debugging).

`EnvBlock` is the stepping loop itself, shared with the multiprocessing backend, whose workers each
run one block over their envs, writing into shared memory instead of this process's buffers.

Episode statistics are summed from the rewards, except for an env whose wrappers include Gymnasium's
`RecordEpisodeStatistics`: its own record (`info["episode"]`) is passed on, at the steps that carry
one. That is how Atari reports raw game scores under reward clipping and episodic life.

The envs' own info keys are collected as `EnvBlock.reported` and written in Gymnasium's vector format
by `thrust.vector.infos.InfoArrays` (here directly; the multiprocessing workers send them over).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from thrust.vector.base import VecEnv
from thrust.vector.infos import InfoArrays, Report
from thrust.vector.spec import EnvSpec, check_backend, gymnasium_spec


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


def reports_episodes(env: gym.Env) -> bool:
    """Whether `env`'s wrappers include Gymnasium's `RecordEpisodeStatistics` (whose record is then used)."""
    while isinstance(env, gym.Wrapper):
        if isinstance(env, gym.wrappers.RecordEpisodeStatistics):
            return True
        env = env.env
    return False


class EnvBlock:
    """Envs `first .. first + len(envs) - 1` of a batch, stepped in turn with Thrust's semantics
    (same-step autoreset, final observations, episode statistics), writing their rows of `arrays`:
    a `VecEnv`'s buffers by name (`allocate_buffers`, with an episode mask of its own).

    After each `reset`/`step`, `reported` lists the envs' non-empty info dicts as `(env index, info,
    final)` (`final`: the info of the step that ended the episode; the reset info follows it); it
    stays empty, allocating nothing, while the envs report no info.

    `current` (a one-element int64 array, default its own) holds the index of the env being stepped or
    reset: a multiprocessing worker's is in shared memory, so a stuck env can be named from outside.
    """

    def __init__(
        self, envs: list[gym.Env], first: int, arrays: dict[str, Any], current: np.ndarray | None = None
    ) -> None:
        self.envs = envs
        self.rows = list(enumerate(envs, start=first))
        self.stop = first + len(envs)
        self.first = first
        self.running_returns = [0.0] * len(envs)
        self.running_lengths = [0] * len(envs)
        self.observations, self.final_observations = arrays["observations"], arrays["final_observations"]
        self.rewards, self.terminations, self.truncations = (
            arrays["rewards"], arrays["terminations"], arrays["truncations"]
        )
        self.final_mask, self.episode_mask = arrays["final_mask"], arrays["episode_mask"]
        self.episode_returns, self.episode_lengths = arrays["episode_returns"], arrays["episode_lengths"]
        self.reporting = [reports_episodes(env) for env in envs]
        self.reported: list[Report] = []
        self._current = memoryview(np.zeros(1, dtype=np.int64) if current is None else current)
        self._current[0] = first

    @property
    def current(self) -> int:
        """The env being stepped or reset (or the last one), named when it raises or hangs."""
        return int(self._current[0])

    def reset(self, seed: int | None, options: dict[str, Any] | None) -> None:
        """Reset every env of the block; env `i` gets `seed + i`."""
        reported, current = self.reported, self._current
        reported.clear()
        for i, env in self.rows:
            current[0] = i
            obs, info = env.reset(seed=None if seed is None else seed + i, options=options)
            write(self.observations, i, obs)
            if info:
                reported.append((i, info, False))
        self.running_returns = [0.0] * len(self.envs)
        self.running_lengths = [0] * len(self.envs)
        self.final_mask[self.first : self.stop] = False
        self.episode_mask[self.first : self.stop] = False

    def step(self, actions: Any) -> None:
        """Step env `i` with row `i` of `actions` (a batch over all envs, not just this block)."""
        running_returns, running_lengths, first = self.running_returns, self.running_lengths, self.first
        rewards, terminations, truncations = self.rewards, self.terminations, self.truncations
        final_mask, episode_mask, reporting = self.final_mask, self.episode_mask, self.reporting
        reported, current = self.reported, self._current
        reported.clear()
        final_mask[first : self.stop] = False  # one slice each, cheaper than a store per env that goes on
        episode_mask[first : self.stop] = False
        for i, env in self.rows:
            current[0] = i
            obs, reward, terminated, truncated, info = env.step(read(actions, i))
            rewards[i] = reward
            terminations[i] = terminated
            truncations[i] = truncated
            running_returns[i - first] += reward
            running_lengths[i - first] += 1
            if terminated or truncated:
                write(self.final_observations, i, obs)
                final_mask[i] = True
                if reporting[i - first]:  # the env's own record, e.g. a whole game's raw score
                    record = info.get("episode")
                    episode_mask[i] = record is not None
                    if record is not None:
                        self.episode_returns[i] = record["r"]
                        self.episode_lengths[i] = record["l"]
                else:
                    episode_mask[i] = True
                    self.episode_returns[i] = running_returns[i - first]
                    self.episode_lengths[i] = running_lengths[i - first]
                running_returns[i - first] = 0.0
                running_lengths[i - first] = 0
                if info:
                    reported.append((i, info, True))
                obs, info = env.reset()
            if info:
                reported.append((i, info, False))
            write(self.observations, i, obs)

    def close(self) -> None:
        for env in self.envs:
            env.close()


class SerialVecEnv(VecEnv):
    """Steps `len(env_fns)` Gymnasium envs in turn, with Thrust's same-step autoreset semantics.

    `env_spec` (default: the id of env 0's Gymnasium spec, backend "serial") is what `thrust.make`
    passes; see `thrust.vector.EnvSpec`.
    """

    own_episode_mask = True  # an env's own episode record may differ from its final observations: see EnvBlock

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]], env_spec: EnvSpec | None = None) -> None:
        if len(env_fns) < 1:
            raise ValueError("env_fns must hold at least one env constructor")
        self.envs = [fn() for fn in env_fns]
        first = self.envs[0]
        env_spec = gymnasium_spec(first, "serial") if env_spec is None else check_backend(env_spec, "serial")
        super().__init__(first.observation_space, first.action_space, len(self.envs), env_spec=env_spec)
        self.metadata = {**VecEnv.metadata, "render_modes": first.metadata.get("render_modes", [])}
        self.render_mode = first.render_mode
        self.block = EnvBlock(self.envs, 0, self.buffers)
        self.env_infos = InfoArrays(self.infos, self.final_mask)
        self._env_ids = np.arange(self.num_envs)
        self._actions: Any = None

    def _reset(self, seed: int | None, options: dict[str, Any] | None) -> None:
        self.block.reset(seed, options)
        self.env_infos.clear()
        self.env_infos.write(self.block.reported)

    def _send(self, actions: Any, env_ids: np.ndarray | None) -> None:
        if env_ids is not None and not np.array_equal(env_ids, self._env_ids):
            raise ValueError("the serial backend steps all envs at once: pass env_ids=None")
        self._actions = actions

    def _recv(self):
        self.block.step(self._actions)
        self.env_infos.clear()
        self.env_infos.write(self.block.reported)
        return (
            self.observations, self.rewards, self.terminations, self.truncations, self.infos, self._env_ids
        )

    def render(self):
        """The first env's frame (rgb_array), as Gymnasium's `render()` gives it."""
        return self.envs[0].render()

    def close_extras(self, **kwargs: Any) -> None:
        self.block.close()
