"""The envpool backend: EnvPool's C++ thread pool (Atari, MuJoCo, classic control) behind Thrust's semantics.

EnvPool resets a finished env on the *next* step and drops that step's action; Thrust resets in the
same step. The translation: after each step, the finished envs' observations are kept as final
observations and those envs are reset at once (`pool.reset(env_ids)`), so the next action counts.
Atari with episodic life is the exception: after a lost life (terminated, lives left) EnvPool plays
on without a reset, so the observation at the life loss is both the final one and the next
episode's first. Episode statistics are summed here; for Atari, as in the other backends, they are
whole games and raw scores (EnvPool's `info["reward"]` is the unclipped reward, `info["terminated"]`
the game over), reported once per game, so a lost life sets `_final_obs` but not `_episode`.
"ALE/…" ids get the standard preprocessing's settings (episodic life, reward clipping, sticky
actions 0.25 as in Gymnasium's v5; EnvPool's defaults already do no-op reset, frame skip 4 with
max-pool, FIRE reset, 84×84 grayscale, 4 stacked frames). Sync mode only.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from thrust.vector.base import VecEnv
from thrust.vector.spec import EnvSpec, check_backend


def envpool_task_id(env_id: str) -> str:
    """EnvPool's name for a Gymnasium env id ("ALE/Breakout-v5" → "Breakout-v5")."""
    return env_id.removeprefix("ALE/")


class EnvPoolVecEnv(VecEnv):
    """`num_envs` copies of EnvPool task `env_id`, stepped by `num_threads` C++ threads (0: EnvPool's default).

    Extra keyword arguments go to `envpool.make` (e.g. `episodic_life=True` for Atari). `env_spec`
    defaults to this id, these kwargs, backend "envpool" and `num_threads` (None for 0).
    """

    own_episode_mask = True  # games, not lives (see VecEnv)

    def __init__(
        self, env_id: str, num_envs: int, num_threads: int = 0, env_spec: EnvSpec | None = None, **envpool_kwargs: Any
    ) -> None:
        try:
            import envpool
        except ImportError as error:
            raise ImportError("the envpool backend needs envpool: pip install 'thrust-rl[envpool]'") from error

        if env_spec is None:
            env_spec = EnvSpec(id=env_id, kwargs=envpool_kwargs, backend="envpool", num_workers=num_threads or None)
        check_backend(env_spec, "envpool")
        task_id = envpool_task_id(env_id)
        if env_id.startswith("ALE/"):
            envpool_kwargs = {
                "episodic_life": True, "reward_clip": True, "repeat_action_probability": 0.25, **envpool_kwargs
            }
        if task_id not in envpool.list_all_envs():
            raise ValueError(f"EnvPool has no task {task_id!r} (from env id {env_id!r})")
        self._make_pool = partial(
            envpool.make, task_id, env_type="gymnasium", num_envs=num_envs, num_threads=num_threads, **envpool_kwargs
        )
        self._pool = self._make_pool(seed=0)
        super().__init__(self._pool.observation_space, self._pool.action_space, num_envs, env_spec=env_spec)
        self._game_over = np.zeros(num_envs, dtype=bool)
        self._raw_rewards = np.zeros(num_envs, dtype=np.float64)
        self._running_returns = np.zeros(num_envs, dtype=np.float64)
        self._running_lengths = np.zeros(num_envs, dtype=np.int64)
        self._env_ids = np.arange(num_envs)

    def _reset(self, seed: int | None, options: dict[str, Any] | None) -> None:
        if options:
            raise ValueError("the envpool backend takes no reset options")
        if seed is not None:  # EnvPool seeds env i with seed + i when the pool is made
            self._pool.close()
            self._pool = self._make_pool(seed=seed)
        observations, info = self._pool.reset()
        self.observations[info["env_id"]] = observations
        self._running_returns[:] = 0.0
        self._running_lengths[:] = 0

    def _send(self, actions: Any, env_ids: np.ndarray | None) -> None:
        if env_ids is not None and not np.array_equal(env_ids, self._env_ids):
            raise ValueError("the envpool backend steps all envs at once: pass env_ids=None")
        self._pool.send(actions, self._env_ids)

    def _recv(self):
        observations, rewards, terminations, truncations, info = self._pool.recv()
        ids = info["env_id"]
        self.observations[ids] = observations
        self.rewards[ids] = rewards
        self.terminations[ids] = terminations
        self.truncations[ids] = truncations
        np.logical_or(self.terminations, self.truncations, out=self.final_mask)
        if "reward" in info:  # Atari: the raw reward, before clipping
            self._raw_rewards[ids] = info["reward"]
            self._running_returns += self._raw_rewards
        else:
            self._running_returns += self.rewards
        self._running_lengths += 1
        if "terminated" in info:  # Atari: the game is over (a lost life with lives left is not)
            self._game_over[ids] = info["terminated"]
            np.logical_or(self._game_over, self.truncations, out=self.episode_mask)
        else:
            self.episode_mask[:] = self.final_mask
        if self.final_mask.any():
            done = np.flatnonzero(self.final_mask)
            self.final_observations[done] = self.observations[done]
            games = np.flatnonzero(self.episode_mask)  # only these are reset: after a lost life EnvPool plays on
            if games.size:
                self.episode_returns[games] = self._running_returns[games]
                self.episode_lengths[games] = self._running_lengths[games]
                self._running_returns[games] = 0.0
                self._running_lengths[games] = 0
                reset_observations, reset_info = self._pool.reset(games)
                self.observations[reset_info["env_id"]] = reset_observations
        return self.observations, self.rewards, self.terminations, self.truncations, self.infos, self._env_ids

    def close_extras(self, **kwargs: Any) -> None:
        self._pool.close()
