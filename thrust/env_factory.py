"""`thrust.make`: the native env when one exists, otherwise the Gymnasium env vectorized; `autotune`:
measure which backend, worker count and batch size step a Gymnasium env fastest here."""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
import os
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from thrust.atari import make_atari, register_ale_envs
from thrust.envs import registry as native_registry
from thrust.vector.base import VecEnv
from thrust.vector.multiprocessing import MultiprocessingVecEnv
from thrust.vector.pettingzoo import PettingZooVecEnv, constructor_from_id, id_of
from thrust.vector.serial import SerialVecEnv
from thrust.vector.spec import BACKENDS, EnvSpec, check_count, check_seed


class UnknownEnvError(gym.error.NameNotFound, ValueError):
    """An env id that neither Thrust's native envs nor Gymnasium's registry knows."""


def num_workers_like(spec: EnvSpec, num_envs: int, num_workers: int | None, batch_size: int | None) -> int | None:
    """The workers for `num_envs` more envs of `spec` (`num_workers` when given); `ValueError` for a spec
    that `make` cannot make again."""
    if spec.id is None:
        raise ValueError(
            "this EnvSpec has no id (envs built directly from constructors): thrust.make cannot make them again"
        )
    if spec.backend not in BACKENDS:
        raise ValueError(f"thrust.make cannot make envs of backend {spec.backend!r}: it makes {BACKENDS}")
    if num_workers is not None or spec.backend != "multiprocessing":
        return spec.num_workers if num_workers is None else num_workers
    return workers_like(spec.num_workers, num_envs, batch_size)


def check_known(full_id: str, env_id: str, is_atari: bool) -> None:
    """`UnknownEnvError`, with close matches, unless Thrust's native registry or Gymnasium's knows `env_id`."""
    if is_atari:
        register_ale_envs()
    if env_id in native_registry or env_id in gym.registry:
        return
    close = difflib.get_close_matches(env_id, known_env_ids(), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    if not close and full_id == env_id:
        hint = "; an env registered by your own code is found as 'module:id' (the module that registers it, importable)"
    raise UnknownEnvError(f"unknown env id {full_id!r}{hint}")


def import_env_module(env_id: str) -> str:
    """For `module:id` (Gymnasium's convention), import `module`, which registers the env (in Thrust's
    native registry or Gymnasium's), and return `id`; any other id is returned as it is."""
    module, colon, name = env_id.partition(":")
    if not colon or env_id in native_registry or env_id in gym.registry:
        return env_id
    try:
        importlib.import_module(module)
    except ImportError as error:
        raise UnknownEnvError(f"env id {env_id!r}: cannot import module {module!r} ({error})") from error
    return name


def parallel_env_constructor(env_id: str) -> Callable[..., Any] | None:
    """The PettingZoo ParallelEnv constructor that `env_id` names as "module:attribute"; None for any other id
    (one that the module registers in Thrust's native registry or Gymnasium's included)."""
    constructor = constructor_from_id(env_id)
    name = env_id.partition(":")[2]
    return None if constructor is None or name in native_registry or name in gym.registry else constructor


def is_pettingzoo(env_id: Any, backend: str) -> bool:
    """Whether `env_id` is a PettingZoo ParallelEnv constructor or names one; `ValueError` for backend "pettingzoo"
    and anything else; `TypeError` for what is no env id, `EnvSpec` or constructor."""
    if not isinstance(env_id, (str, EnvSpec)) and not callable(env_id):
        raise TypeError(f"env_id must be an env id (str), a thrust.vector.EnvSpec or a PettingZoo ParallelEnv "
                        f"constructor, got {type(env_id).__name__}")
    found = callable(env_id) and not isinstance(env_id, (str, EnvSpec)) or \
        isinstance(env_id, str) and parallel_env_constructor(env_id) is not None
    if backend == "pettingzoo" and not found and not isinstance(env_id, EnvSpec):
        raise ValueError(f"backend='pettingzoo' needs a PettingZoo ParallelEnv constructor (or 'module:attribute' "
                         f"naming one), got {env_id!r}")
    return found


def check_pettingzoo_options(
    backend: str, num_workers: int | None, batched: bool, step_timeout: float | None, device: str
) -> None:
    """`ValueError` unless the options fit PettingZoo envs, which run in this process on the CPU."""
    if backend not in ("auto", "pettingzoo") or num_workers is not None or batched or step_timeout is not None \
            or device_type(device) != "cpu":
        raise ValueError("a PettingZoo ParallelEnv runs in this process on the CPU: backend 'auto' or 'pettingzoo', "
                         "no num_workers, batch_size, step_timeout or device")


def make_pettingzoo(
    env_id: str | Callable[..., Any], num_envs: int, seed: int | None, env_kwargs: dict[str, Any]
) -> PettingZooVecEnv:
    """`num_envs` PettingZoo envs of the constructor `env_id` is or names (its id: "module:attribute")."""
    constructor = env_id if callable(env_id) else parallel_env_constructor(env_id)
    spec = EnvSpec(id=id_of(env_id) if callable(env_id) else env_id, kwargs=env_kwargs, backend="pettingzoo",
                   seed=seed)
    return PettingZooVecEnv(constructor, num_envs, env_spec=spec, **env_kwargs)


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


def workers_like(num_workers: int | None, num_envs: int, batch_size: int | None) -> int | None:
    """The worker count for `num_envs` envs made from a spec that had `num_workers`: that count when it
    divides `num_envs` (and fits `batch_size`), else the largest one below it that does (None: the default)."""
    if num_workers is None:
        return None
    batch_size = num_envs if batch_size is None else batch_size
    fitting = [
        w for w in range(1, min(num_workers, num_envs) + 1) if num_envs % w == 0 and batch_size % (num_envs // w) == 0
    ]
    return max(fitting, default=None)


def check_native_kwargs(env_id: str, constructor: Callable[..., VecEnv], env_kwargs: dict[str, Any]) -> None:
    """`ValueError` unless the native constructor of `env_id` takes `env_kwargs` (and `env_spec`)."""
    try:
        parameters = inspect.signature(constructor).parameters
    except (TypeError, ValueError):  # no signature to read: the constructor will say
        return
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values()):
        return
    if "env_spec" not in parameters:
        raise TypeError(
            f"the native constructor registered for {env_id!r} must take env_spec=None and pass it on to "
            "NativeVecEnv.__init__ (thrust.make gives every VecEnv its EnvSpec)"
        )
    taken = [name for name, parameter in parameters.items() if parameter.kind is not inspect.Parameter.VAR_POSITIONAL
             and name not in ("self", "num_envs", "env_spec")]
    unknown = sorted(set(env_kwargs) - set(taken))
    if unknown:
        gymnasium = (
            f"; {unknown} would go to Gymnasium's {env_id}, which needs backend='serial' (or 'multiprocessing')"
            if env_id in gym.registry else ""
        )
        raise ValueError(f"the native {env_id} takes only {taken} as keyword arguments, not {unknown}{gymnasium}")


def device_type(device: str | torch.device) -> str:
    """"cpu", "cuda", ...: the kind of torch device `device` names; `ValueError` if it names none."""
    try:
        return torch.device(device).type
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device must be 'cpu' or 'cuda' (where the envs run), got {device!r}") from error


def resolve_backend(
    env_id: str, num_envs: int, backend: str, num_workers: int | None, batch_size: int | None, device: str = "cpu"
) -> str:
    """The backend `make` uses for `backend` ("auto" picks one) and the envs' `device`, after checking the
    options fit it: `device="cuda"` is the "cuda" backend (native envs on the GPU)."""
    if is_pettingzoo(env_id, backend):
        check_pettingzoo_options(backend, num_workers, batch_size not in (None, num_envs), None, device)
        return "pettingzoo"
    env_id = import_env_module(env_id)
    if device_type(device) == "cuda":
        if backend not in ("auto", "native", "cuda"):
            raise ValueError(f"device='cuda' runs native envs on the GPU: backend must be 'auto', not {backend!r}")
        if env_id not in native_registry:
            raise ValueError(f"device='cuda' runs native envs only, and {env_id!r} has none; native envs: "
                             f"{sorted(native_registry)}")
        backend = "cuda"
    elif device_type(device) != "cpu":
        raise ValueError(f"device must be 'cpu' or 'cuda' (where the envs run), got {device!r}")
    if backend == "auto":
        if env_id in native_registry:
            backend = "native"
        else:
            parallel = num_envs > 1 and (os.cpu_count() or 1) > 1
            asked = num_workers is not None or batch_size is not None
            backend = "multiprocessing" if parallel or asked else "serial"
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose from 'auto', {', '.join(map(repr, BACKENDS))}")
    if backend == "envpool" and batch_size not in (None, num_envs):
        raise ValueError("the envpool backend runs in sync mode only: leave batch_size unset")
    if backend in ("native", "cuda", "serial") and (num_workers is not None or batch_size not in (None, num_envs)):
        raise ValueError(f"num_workers and batch_size need backend='multiprocessing' or 'envpool', not {backend!r}")
    if backend in ("native", "cuda") and env_id not in native_registry:
        raise ValueError(f"{env_id!r} has no native implementation; native envs: {sorted(native_registry)}")
    return backend


def make(
    env_id: str | EnvSpec | Callable[..., Any],
    num_envs: int = 1,
    seed: int | None = None,
    backend: str = "auto",
    num_workers: int | None = None,
    batch_size: int | None = None,
    step_timeout: float | None = None,
    device: str = "cpu",
    **env_kwargs: Any,
) -> VecEnv:
    """Make `num_envs` copies of `env_id` behind Thrust's vector interface.

    `backend="auto"` picks the native kernel when Thrust has one, otherwise Gymnasium envs in worker
    processes (`"multiprocessing"`) when there are several envs and cores, otherwise in this process
    (`"serial"`). That choice is a rule of thumb, not a measurement: for cheap envs the pipe round
    trip can cost more than the env (serial is about 2x faster than multiprocessing for 8 CartPoles
    on 2 cores), so run `thrust.autotune(env_id, num_envs)` and pass what it returns
    (`make(env_id, num_envs, **best)`). `"envpool"` uses EnvPool's C++ envs when it is installed. `num_workers`: worker
    processes (multiprocessing) or threads (envpool); default every core, dividing `num_envs`.
    `batch_size < num_envs` (multiprocessing only) turns on async mode: `send`/`recv` of the first
    envs ready. "ALE/…" ids get the standard Atari preprocessing. `seed` seeds the first `reset()`
    that is called without a seed (env `i` gets `seed + i`). `step_timeout` (multiprocessing only):
    seconds a worker may take to step its envs before a `TimeoutError` names the env that hangs.
    `device="cuda"` (the same as `backend="cuda"`) steps a native env's own functions as CUDA kernels,
    returning torch tensors on the GPU (see `thrust.envs.native_cuda`; a `RuntimeError` without CUDA).

    The envs' `env_spec` records the id, the env kwargs, the backend chosen, the workers and `seed`.
    `env_id` may be such an `EnvSpec`: `make(envs.env_spec, num_envs=16, seed=0)` makes envs of the same
    kind (same id, kwargs, backend; the spec's workers, or fewer where they would not divide `num_envs`)
    with this count and seed. A spec fixes the backend and the kwargs: change them with
    `dataclasses.replace(spec, ...)`.

    Every argument is checked here, the same way for every backend: `num_envs` a positive int, `seed`
    an int >= 0 or None, `num_workers` and `batch_size` positive ints or None, and a native env's
    kwargs its constructor's (Gymnasium's env kwargs need `backend="serial"` or `"multiprocessing"`).

    Multi-agent envs: `env_id` may be a PettingZoo `ParallelEnv` constructor (a callable, or "module:attribute"
    naming one, or "package:env_module" for a module with a `parallel_env`), called with `env_kwargs`; the envs are
    `num_envs × len(possible_agents)` rows, one per (env, agent) pair (see `thrust.vector.pettingzoo`).
    """
    num_envs = check_count(num_envs, "num_envs")
    seed = check_seed(seed)
    num_workers = check_count(num_workers, "num_workers", optional=True)
    batch_size = check_count(batch_size, "batch_size", optional=True)
    if is_pettingzoo(env_id, backend):
        check_pettingzoo_options(backend, num_workers, batch_size is not None, step_timeout, device)
        return make_pettingzoo(env_id, num_envs, seed, env_kwargs)
    if isinstance(env_id, EnvSpec):
        spec = env_id
        if backend not in ("auto", spec.backend) or env_kwargs:
            raise ValueError(
                "an EnvSpec fixes the backend and the env kwargs; change them with dataclasses.replace(spec, ...)"
            )
        backend = "cuda" if device_type(device) == "cuda" else spec.backend
        return make(spec.id, num_envs, seed, backend, num_workers_like(spec, num_envs, num_workers, batch_size),
                    batch_size, step_timeout, **spec.kwargs)

    full_id, env_id = env_id, import_env_module(env_id)
    is_atari = env_id.startswith("ALE/")
    if backend != "envpool":  # EnvPool knows its own tasks
        check_known(full_id, env_id, is_atari)
    backend = resolve_backend(env_id, num_envs, backend, num_workers, batch_size, device)
    if step_timeout is not None and backend != "multiprocessing":
        raise ValueError(f"step_timeout needs backend='multiprocessing', not {backend!r}")
    if backend == "multiprocessing" and num_workers is None:
        num_workers = default_num_workers(num_envs, batch_size)
    spec = EnvSpec(id=full_id, kwargs=env_kwargs, backend=backend, num_workers=num_workers, seed=seed)

    if backend == "envpool":
        from thrust.vector.envpool import EnvPoolVecEnv

        return EnvPoolVecEnv(env_id, num_envs, num_threads=num_workers or 0, env_spec=spec, **env_kwargs)
    if backend in ("native", "cuda"):
        constructor = native_registry[env_id]
        check_native_kwargs(env_id, constructor, env_kwargs)
        if backend == "native":
            return constructor(num_envs=num_envs, env_spec=spec, **env_kwargs)
        from thrust.cuda import check_cuda  # numba's CUDA target: imported only when asked for
        from thrust.envs.native_cuda import NativeCudaVecEnv

        check_cuda()
        host_envs = constructor(num_envs=num_envs, env_spec=dataclasses.replace(spec, backend="native"), **env_kwargs)
        return NativeCudaVecEnv(host_envs)
    # The spec rather than the id: a worker process then needs no registration (an env
    # registered in the user's script travels by value).
    if is_atari:
        env_fn = partial(make_atari, env_id, **env_kwargs)
    else:
        env_fn = partial(gym.make, gym.spec(env_id), **env_kwargs)
    if backend == "serial":
        return SerialVecEnv([env_fn] * num_envs, env_spec=spec)
    return MultiprocessingVecEnv(
        [env_fn] * num_envs, num_workers=num_workers, batch_size=batch_size, env_spec=spec, step_timeout=step_timeout
    )


# -- autotune ----------------------------------------------------------------------------------------


def candidate_configs(num_envs: int, cores: int) -> list[dict[str, Any]]:
    """Serial, then every worker count dividing `num_envs` up to 2× the cores, in sync mode and in
    async mode returning half the envs."""
    configs: list[dict[str, Any]] = [{"backend": "serial"}]
    for workers in range(1, min(num_envs, 2 * cores) + 1):
        if num_envs % workers:
            continue
        configs.append({"backend": "multiprocessing", "num_workers": workers, "batch_size": num_envs})
        half = num_envs // 2
        if workers > 1 and half % (num_envs // workers) == 0:
            configs.append({"backend": "multiprocessing", "num_workers": workers, "batch_size": half})
    return configs


def steps_per_second(env_id: str, num_envs: int, config: dict[str, Any], seconds: float, **env_kwargs: Any) -> float:
    """Env steps/s of `make(env_id, num_envs, **config)` under random actions, timed for `seconds`."""
    envs = make(env_id, num_envs=num_envs, **config, **env_kwargs)
    try:
        batch = envs.batch_size
        envs.single_action_space.seed(0)
        actions = np.stack([envs.single_action_space.sample() for _ in range(batch)])
        envs.reset(seed=0)
        envs.send(np.stack([envs.single_action_space.sample() for _ in range(num_envs)]))
        count, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            *_, env_ids = envs.recv()
            envs.send(actions, None if batch == num_envs else env_ids)
            count += batch
        envs.recv()
        return count / elapsed
    finally:
        envs.close()


def autotune(
    env_id: str, num_envs: int = 8, seconds: float = 1.0, verbose: bool = True, **env_kwargs: Any
) -> dict[str, Any]:
    """Try the serial backend and the multiprocessing backend's worker counts and batch sizes for
    `num_envs` copies of `env_id`; print the table and return the fastest configuration, ready for
    `thrust.make(env_id, num_envs=num_envs, **config)`.

    Async configurations (`batch_size < num_envs`) need a `send`/`recv` loop instead of `step`.
    """
    results = []
    for config in candidate_configs(num_envs, os.cpu_count() or 1):
        results.append((steps_per_second(env_id, num_envs, config, seconds, **env_kwargs), config))
        if verbose:
            print(f"{results[-1][0]:>12,.0f} steps/s  {config}", flush=True)
    best_rate, best = max(results, key=lambda result: result[0])
    if verbose:
        print(f"fastest for {num_envs} × {env_id}: {best} ({best_rate:,.0f} steps/s)")
    return best
