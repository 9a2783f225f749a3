"""`thrust.make`: the native env when one exists, otherwise the Gymnasium env vectorized."""

from __future__ import annotations

import difflib
from functools import partial
from typing import Any

import gymnasium as gym

from thrust.envs import registry as native_registry
from thrust.vector.base import VecEnv
from thrust.vector.serial import SerialVecEnv


class UnknownEnvError(gym.error.NameNotFound, ValueError):
    """An env id that neither Thrust's native envs nor Gymnasium's registry knows."""


def known_env_ids() -> list[str]:
    """Every env id `make` accepts: native ones first, then Gymnasium's registry."""
    return sorted(native_registry) + sorted(set(gym.registry) - set(native_registry))


def make(
    env_id: str,
    num_envs: int = 1,
    seed: int | None = None,
    backend: str = "auto",
    **env_kwargs: Any,
) -> VecEnv:
    """Make `num_envs` copies of `env_id` behind Thrust's vector interface.

    `backend="auto"` picks the native kernel when Thrust has one, otherwise steps Gymnasium envs
    serially. `seed` seeds the first `reset()` that is called without a seed (env `i` gets `seed + i`).
    """
    if env_id not in native_registry and env_id not in gym.registry:
        close = difflib.get_close_matches(env_id, known_env_ids(), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownEnvError(f"unknown env id {env_id!r}{hint}")
    if backend == "auto":
        backend = "native" if env_id in native_registry else "serial"
    if backend == "native":
        if env_id not in native_registry:
            raise ValueError(f"{env_id!r} has no native implementation; native envs: {sorted(native_registry)}")
        env = native_registry[env_id](num_envs=num_envs, **env_kwargs)
    elif backend == "serial":
        env = SerialVecEnv([partial(gym.make, env_id, **env_kwargs)] * num_envs)
    else:
        raise ValueError(f"unknown backend {backend!r}; choose from 'auto', 'native', 'serial'")
    env.initial_seed = seed
    return env
