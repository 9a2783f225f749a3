"""`thrust.make`: the native env when one exists, otherwise the Gymnasium env vectorized."""

from __future__ import annotations

import difflib
import os
from functools import partial
from typing import Any

import gymnasium as gym

from thrust.envs import registry as native_registry
from thrust.vector.atari import make_atari, register_ale_envs
from thrust.vector.base import VecEnv
from thrust.vector.multiprocessing import MultiprocessingVecEnv
from thrust.vector.serial import SerialVecEnv


class UnknownEnvError(gym.error.NameNotFound, ValueError):
    """An env id that neither Thrust's native envs nor Gymnasium's registry knows."""


def known_env_ids() -> list[str]:
    """Every env id `make` accepts: native ones first, then Gymnasium's registry."""
    return sorted(native_registry) + sorted(set(gym.registry) - set(native_registry))


def default_num_workers(num_envs: int, batch_size: int | None = None) -> int:
    """Worker processes for the multiprocessing backend: as many as the cores (fewer when that does
    not split `num_envs` evenly), and in async mode enough that a batch is made of whole workers."""
    cores = os.cpu_count() or 1
    batch_size = num_envs if batch_size is None else batch_size
    fitting = [w for w in range(1, num_envs + 1) if num_envs % w == 0 and batch_size % (num_envs // w) == 0]
    if batch_size == num_envs:
        return max(w for w in fitting if w <= cores)
    return min((w for w in fitting if w >= cores), default=num_envs)


def make(
    env_id: str,
    num_envs: int = 1,
    seed: int | None = None,
    backend: str = "auto",
    num_workers: int | None = None,
    batch_size: int | None = None,
    **env_kwargs: Any,
) -> VecEnv:
    """Make `num_envs` copies of `env_id` behind Thrust's vector interface.

    `backend="auto"` picks the native kernel when Thrust has one, otherwise Gymnasium envs in worker
    processes (`"multiprocessing"`) when there are several envs and cores, otherwise in this process
    (`"serial"`). That choice is a rule of thumb, not a measurement: for cheap envs the pipe round
    trip can cost more than the env (serial is about 2x faster than multiprocessing for 8 CartPoles
    on 2 cores), so run `thrust.vector.autotune(env_id, num_envs)` and pass what it returns
    (`make(env_id, num_envs, **best)`). `"envpool"` uses EnvPool's C++ envs when it is installed. `num_workers`: worker
    processes (multiprocessing) or threads (envpool); default every core, dividing `num_envs`.
    `batch_size < num_envs` (multiprocessing only) turns on async mode: `send`/`recv` of the first
    envs ready. "ALE/…" ids get the standard Atari preprocessing. `seed` seeds the first `reset()`
    that is called without a seed (env `i` gets `seed + i`).
    """
    if backend == "envpool":
        from thrust.vector.envpool import EnvPoolVecEnv

        if batch_size not in (None, num_envs):
            raise ValueError("the envpool backend runs in sync mode only: leave batch_size unset")
        env = EnvPoolVecEnv(env_id, num_envs, num_threads=num_workers or 0, **env_kwargs)
        env.initial_seed, env.env_id = seed, env_id
        return env
    is_atari = env_id.startswith("ALE/")
    if is_atari:
        register_ale_envs()
    if env_id not in native_registry and env_id not in gym.registry:
        close = difflib.get_close_matches(env_id, known_env_ids(), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownEnvError(f"unknown env id {env_id!r}{hint}")
    if backend == "auto":
        if env_id in native_registry:
            backend = "native"
        else:
            parallel = num_envs > 1 and (os.cpu_count() or 1) > 1
            asked = num_workers is not None or batch_size is not None
            backend = "multiprocessing" if parallel or asked else "serial"
    if backend != "multiprocessing" and (num_workers is not None or batch_size not in (None, num_envs)):
        raise ValueError(f"num_workers and batch_size need backend='multiprocessing' or 'envpool', not {backend!r}")
    if backend == "native":
        if env_id not in native_registry:
            raise ValueError(f"{env_id!r} has no native implementation; native envs: {sorted(native_registry)}")
        env = native_registry[env_id](num_envs=num_envs, **env_kwargs)
    elif backend in ("serial", "multiprocessing"):
        # The spec rather than the id: a worker process then needs no registration (an env
        # registered in the user's script travels by value).
        if is_atari:
            env_fn = partial(make_atari, env_id, **env_kwargs)
        else:
            env_fn = partial(gym.make, gym.spec(env_id), **env_kwargs)
        if backend == "serial":
            env = SerialVecEnv([env_fn] * num_envs)
        else:
            workers = default_num_workers(num_envs, batch_size) if num_workers is None else num_workers
            env = MultiprocessingVecEnv([env_fn] * num_envs, num_workers=workers, batch_size=batch_size)
    else:
        raise ValueError(
            f"unknown backend {backend!r}; choose from 'auto', 'native', 'serial', 'multiprocessing', 'envpool'"
        )
    env.initial_seed, env.env_id = seed, env_id
    return env
