"""`autotune`: measure which backend, worker count and batch size step a Gymnasium env fastest here."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np


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
    from thrust.env_factory import make  # thrust.env_factory imports this package: resolve it when called

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
