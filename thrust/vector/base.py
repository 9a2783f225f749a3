"""The one interface every Thrust environment backend shares.

A `VecEnv` owns preallocated arrays (observations, rewards, flags, final observations, episode
statistics) and hands out views of them. `step` is `send` followed by `recv`; backends implement
`_send`/`_recv` (and `_reset`) and fill the arrays in place. The semantics (same-step autoreset,
final observations, terminated vs truncated, episode statistics, seeding) are the table in the README.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from thrust.vector.spec import EnvSpec, check_count, check_seed


def allocate(space: gym.Space, n: int, take: Callable[[tuple[int, ...], np.dtype], Any] = np.zeros) -> Any:
    """Zeroed storage for `n` values of `space`: an array, or a dict/tuple of arrays for composite spaces.

    `take(shape, dtype)` makes each leaf array (the multiprocessing backend passes one that carves
    views out of shared memory).
    """
    if isinstance(space, gym.spaces.Dict):
        return {key: allocate(sub, n, take) for key, sub in space.spaces.items()}
    if isinstance(space, gym.spaces.Tuple):
        return tuple(allocate(sub, n, take) for sub in space.spaces)
    if space.shape is None or space.dtype is None:
        raise TypeError(f"cannot allocate a buffer for space {space}")
    return take((n, *space.shape), space.dtype)


OBSERVATION_BUFFERS = ("observations", "final_observations")
"""Buffers shaped like the observation space (an array, or a dict/tuple of arrays)."""
FLAT_BUFFERS: dict[str, type] = {
    "rewards": np.float32,
    "terminations": np.bool_,
    "truncations": np.bool_,
    "final_mask": np.bool_,
    "episode_mask": np.bool_,
    "episode_returns": np.float64,
    "episode_lengths": np.int64,
}
"""Buffers of one value per env, with their dtypes."""
BUFFER_NAMES = (*OBSERVATION_BUFFERS, *FLAT_BUFFERS)


def allocate_buffers(
    observation_space: gym.Space, n: int, take: Callable[[tuple[int, ...], np.dtype], Any] = np.zeros,
    own_episode_mask: bool = True,
) -> dict[str, Any]:
    """The one buffer set of a `VecEnv` (see `BUFFER_NAMES`) for `n` envs, by name.

    Every leaf comes from `take(shape, dtype)`, always in the same order, so two processes carving
    views out of the same shared memory get the same layout. Without `own_episode_mask`,
    "episode_mask" is the "final_mask" array itself (see `VecEnv`).
    """
    buffers: dict[str, Any] = {}
    for name in BUFFER_NAMES:
        if name in OBSERVATION_BUFFERS:
            buffers[name] = allocate(observation_space, n, take)
        elif name == "episode_mask" and not own_episode_mask:
            buffers[name] = buffers["final_mask"]
        else:
            buffers[name] = take((n,), FLAT_BUFFERS[name])
    return buffers


def episode_infos(buffers: dict[str, Any]) -> dict[str, Any]:
    """The `infos` dict every backend returns, made of views of `buffers` (an `allocate_buffers` set).

    `_episode` marks where `episode["r"]`/`["l"]` hold a finished episode's statistics; it is `_final_obs`
    itself unless the backend has its own episode mask (envs that report their own statistics, see `VecEnv`).
    """
    return {
        "final_obs": buffers["final_observations"],
        "_final_obs": buffers["final_mask"],
        "episode": {"r": buffers["episode_returns"], "l": buffers["episode_lengths"]},
        "_episode": buffers["episode_mask"],
    }


def check_actions(space: gym.Space, actions: Any, n: int) -> None:
    """Raise `ValueError` unless `actions` is a valid batch of `n` actions from `space`.

    Costs a constant number of vectorized numpy calls, never a Python loop over envs. Box actions
    are checked for shape, dtype and finiteness (NaN and ±inf are rejected); finite actions outside
    the Box's bounds are accepted and clipped by the environment, as Gymnasium's own envs do.
    """
    if isinstance(space, (gym.spaces.Dict, gym.spaces.Tuple)):
        items = space.spaces.items() if isinstance(space, gym.spaces.Dict) else enumerate(space.spaces)
        for key, sub in items:
            check_actions(sub, actions[key], n)
        return
    if not isinstance(actions, np.ndarray):
        raise ValueError(f"actions must be a numpy array of shape {(n, *space.shape)}, got {type(actions).__name__}")
    expected = (n, *space.shape)
    if actions.shape != expected:
        raise ValueError(f"actions must have shape {expected} for {space}, got {actions.shape}")
    checker = next((check for kind, check in _ACTION_CHECKS.items() if isinstance(space, kind)), None)
    if actions.size and checker is not None:
        checker(space, actions)


def _check_dtype(space: gym.Space, actions: np.ndarray, kinds: str, what: str) -> None:
    if actions.dtype.kind not in kinds:
        raise ValueError(f"actions for {space} must be {what}, got dtype {actions.dtype}")


def _check_discrete(space: gym.spaces.Discrete, actions: np.ndarray) -> None:
    _check_dtype(space, actions, "iu", "integers")
    low, high = actions.min(), actions.max()
    if low < space.start or high >= space.start + space.n:
        raise ValueError(
            f"actions for {space} must lie in [{space.start}, {space.start + space.n - 1}], "
            f"got values in [{low}, {high}]"
        )


def _check_multi_discrete(space: gym.spaces.MultiDiscrete, actions: np.ndarray) -> None:
    _check_dtype(space, actions, "iu", "integers")
    offset = actions - space.start
    if (offset < 0).any() or (offset >= space.nvec).any():
        raise ValueError(f"actions for {space} must satisfy start <= a < start + nvec")


def _check_multi_binary(space: gym.spaces.MultiBinary, actions: np.ndarray) -> None:
    _check_dtype(space, actions, "iub", "integers or booleans")
    if actions.min() < 0 or actions.max() > 1:
        raise ValueError(f"actions for {space} must be 0 or 1")


def _check_box(space: gym.spaces.Box, actions: np.ndarray) -> None:
    _check_dtype(space, actions, "f", "floating point")
    low, high = actions.min(), actions.max()  # NaN propagates into both; an inf shows in one of them
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"actions for {space} must be finite (no NaN or inf), got values in [{low}, {high}]")


_ACTION_CHECKS: dict[type, Callable[[Any, np.ndarray], None]] = {
    gym.spaces.Discrete: _check_discrete,
    gym.spaces.MultiDiscrete: _check_multi_discrete,
    gym.spaces.MultiBinary: _check_multi_binary,
    gym.spaces.Box: _check_box,
}


class VecEnv(gym.vector.VectorEnv):
    """Base class of every Thrust backend: preallocated buffers and the send/recv state machine.

    Subclasses call `super().__init__(...)`, then implement `_reset(seed, options)`,
    `_send(actions, env_ids)` and `_recv()`, writing into the arrays below. `_recv` returns
    `(observations, rewards, terminations, truncations, infos, env_ids)`: in sync mode the full
    arrays and `env_ids = arange(num_envs)`. Returned arrays are views of these buffers, valid
    until the next `step`/`recv`. `episode_returns`/`episode_lengths` hold the statistics of the
    episode that just ended, valid where `episode_mask` (`infos["_episode"]`) is true; running sums
    live in the backend. `episode_mask` is `final_mask` itself unless a backend declares its own
    (`own_episode_mask = True`): Atari with episodic life ends an episode at every lost life, but
    reports the raw score and length of the whole game, once, when the game ends (see `thrust.atari`).

    The buffers are allocated once, here (`allocate_buffers`; `self.buffers` holds them by name), by
    `take(shape, dtype)`: `np.zeros` by default, views of shared memory for the multiprocessing backend.

    `env_spec` (an `EnvSpec`) is the identity of these envs, given at construction: each backend
    fills in what it knows when none is given (a subclass of one's own gets `backend="custom"`).
    Its `seed` seeds the first `reset()` called without a seed, once.
    """

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}
    own_episode_mask: ClassVar[bool] = False  # True: `episode_mask` is an array of its own, not `final_mask`

    def __init__(
        self,
        single_observation_space: gym.Space,
        single_action_space: gym.Space,
        num_envs: int,
        batch_size: int | None = None,
        env_spec: EnvSpec | None = None,
        take: Callable[[tuple[int, ...], np.dtype], Any] = np.zeros,
    ) -> None:
        num_envs = check_count(num_envs, "num_envs")
        if env_spec is None:
            env_spec = EnvSpec(id=None, backend="custom")
        if not isinstance(env_spec, EnvSpec):
            raise TypeError(f"env_spec must be a thrust.vector.EnvSpec or None, got {type(env_spec).__name__}")
        self.env_spec = env_spec
        self._next_seed = env_spec.seed  # the seed of the next reset() called without one, used once
        batch_size = num_envs if batch_size is None else batch_size
        if not 1 <= batch_size <= num_envs:
            raise ValueError(f"batch_size must lie in [1, num_envs={num_envs}], got {batch_size}")
        self.num_envs = num_envs
        self.batch_size = batch_size
        self.single_observation_space = single_observation_space
        self.single_action_space = single_action_space
        self.observation_space = batch_space(single_observation_space, num_envs)
        self.action_space = batch_space(single_action_space, num_envs)

        self.buffers = allocate_buffers(single_observation_space, num_envs, take, self.own_episode_mask)
        self.observations = self.buffers["observations"]
        self.final_observations = self.buffers["final_observations"]
        self.rewards: np.ndarray = self.buffers["rewards"]
        self.terminations: np.ndarray = self.buffers["terminations"]
        self.truncations: np.ndarray = self.buffers["truncations"]
        self.final_mask: np.ndarray = self.buffers["final_mask"]
        self.episode_mask: np.ndarray = self.buffers["episode_mask"]
        self.episode_returns: np.ndarray = self.buffers["episode_returns"]
        self.episode_lengths: np.ndarray = self.buffers["episode_lengths"]
        self.infos: dict[str, Any] = episode_infos(self.buffers)
        self._needs_reset = True
        self._pending = False

    @property
    def env_id(self) -> str | None:
        """The id these envs were made from (`env_spec.id`; None: built directly from constructors)."""
        return self.env_spec.id

    # -- the public interface -------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset every env; env `i` is seeded with `seed + i`. Returns `(observations, infos)`."""
        if self._pending:
            raise RuntimeError("reset() called while a send() is pending; call recv() first")
        seed = check_seed(seed)
        if seed is None and self._next_seed is not None:
            seed, self._next_seed = self._next_seed, None
        self._reset(seed, options)
        self.final_mask[:] = False
        self.episode_mask[:] = False
        self._needs_reset = False
        return self.observations, self.infos

    def step(self, actions: Any):
        """Step every env with `actions`: `(observations, rewards, terminations, truncations, infos)`."""
        if self.batch_size != self.num_envs:
            raise RuntimeError(
                f"step() needs batch_size == num_envs; this env has batch_size={self.batch_size} "
                f"and num_envs={self.num_envs}: use send()/recv()"
            )
        self.send(actions)
        observations, rewards, terminations, truncations, infos, _ = self.recv()
        return observations, rewards, terminations, truncations, infos

    def send(self, actions: Any, env_ids: np.ndarray | None = None) -> None:
        """Start stepping envs `env_ids` (default: all) with `actions`, one row per env id."""
        if self._needs_reset:
            raise RuntimeError("call reset() before step()/send()")
        if self._pending:
            raise RuntimeError("send() called twice without recv() in between")
        count = self.num_envs if env_ids is None else len(env_ids)
        self._check_actions(actions, count)
        self._send(actions, env_ids)
        self._pending = True

    def recv(self):
        """Finish a step: `(observations, rewards, terminations, truncations, infos, env_ids)`."""
        if not self._pending:
            raise RuntimeError("recv() called without a pending send()")
        self._pending = False
        return self._recv()

    # -- what a backend implements ----------------------------------------------------------------

    def _check_actions(self, actions: Any, count: int) -> None:
        """`ValueError` unless `actions` is a valid batch of `count` actions (backends taking tensors override it)."""
        check_actions(self.single_action_space, actions, count)

    def _reset(self, seed: int | None, options: dict[str, Any] | None) -> None:
        raise NotImplementedError

    def _send(self, actions: Any, env_ids: np.ndarray | None) -> None:
        raise NotImplementedError

    def _recv(self) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any], np.ndarray]:
        raise NotImplementedError
