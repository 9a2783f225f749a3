"""Steps/s of Python Gymnasium envs run in parallel: Thrust's backends against the usual peers, in one run.

Two envs: Gymnasium's CartPole-v1 (a fast Python env, ~10 µs a step) and a "slow simulator" whose step
busy-waits 1 ms (fixed, or uniform in 0-2 ms per step to show what async mode is for). Systems:
Thrust multiprocessing (sync, and async returning the first half of the envs ready), Thrust serial,
Gymnasium `SyncVectorEnv` and `AsyncVectorEnv`, Stable-Baselines3 `SubprocVecEnv` and EnvPool
(CartPole only) when installed; for the busy-wait envs also a yardstick of what the cores give
right now (one free-running process per core, no synchronization). Every system steps random
actions (drawn once, reused) for a fixed time after a warm-up; steps/s counts env steps; startup
is not timed. Prints a markdown table to stdout, progress to stderr.

    python benchmarks/vector_throughput.py [--quick] [--seconds S] [--rounds R]
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

import thrust  # noqa: E402
from thrust.vector import MultiprocessingVecEnv, SerialVecEnv  # noqa: E402

CORES = os.cpu_count() or 1


class BusyEnv(gym.Env):
    """A slow simulator: each step busy-waits `milliseconds` (or uniform in [0, 2·milliseconds] when `vary`)."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, milliseconds: float = 1.0, vary: bool = False) -> None:
        self.milliseconds, self.vary, self.steps = milliseconds, vary, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.steps = 0
        return np.zeros(4, np.float32), {}

    def step(self, action):
        wait = self.milliseconds * (2.0 * self.np_random.random() if self.vary else 1.0) / 1000.0
        end = time.perf_counter() + wait
        while time.perf_counter() < end:
            pass
        self.steps += 1
        return np.zeros(4, np.float32), 1.0, False, self.steps >= 1000, {}


def measure(step: Callable[[int], int], seconds: float) -> float:
    """Steps/s of `step(i) -> envs stepped`, timed for `seconds` after a warm-up of a tenth of that."""
    warm_end = time.perf_counter() + seconds / 10
    i = 0
    while time.perf_counter() < warm_end:
        step(i)
        i += 1
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        count += step(i)
        i += 1
    return count / elapsed


def random_actions(n: int, batches: int = 64) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 2, size=(batches, n), dtype=np.int64)


def lockstep_rate(make_envs: Callable[[], Any], n: int, seconds: float, seed: int | None = 0) -> float:
    """Steps/s of `step` on all `n` envs at once with random actions; `seed=None` for a reset without one
    (SB3's VecEnv). The envs are made here and closed afterwards."""
    envs = make_envs()
    actions = random_actions(n)
    if seed is None:
        envs.reset()
    else:
        envs.reset(seed=seed)
    try:
        return measure(lambda i: envs.step(actions[i % 64]) is not None and n, seconds)
    finally:
        envs.close()


def thrust_sync(env_fn, n: int, seconds: float, workers: int) -> float:
    return lockstep_rate(lambda: MultiprocessingVecEnv([env_fn] * n, num_workers=workers), n, seconds)


def thrust_async(env_fn, n: int, seconds: float, workers: int) -> float:
    """`workers` processes, `recv` returns the first half of the envs ready, actions go back to those."""
    envs = MultiprocessingVecEnv([env_fn] * n, num_workers=workers, batch_size=n // 2)
    actions = random_actions(n // 2)
    envs.reset(seed=0)
    envs.send(np.zeros(n, dtype=np.int64))

    def step(i: int) -> int:
        *_, env_ids = envs.recv()
        envs.send(actions[i % 64], env_ids)
        return n // 2

    try:
        return measure(step, seconds)
    finally:
        envs.recv()
        envs.close()


def thrust_serial(env_fn, n: int, seconds: float) -> float:
    return lockstep_rate(lambda: SerialVecEnv([env_fn] * n), n, seconds)


def gymnasium_vector(vector_class, env_fn, n: int, seconds: float) -> float:
    return lockstep_rate(lambda: vector_class([env_fn] * n), n, seconds)


def sb3_subproc(env_fn, n: int, seconds: float) -> float:
    from stable_baselines3.common.vec_env import SubprocVecEnv

    return lockstep_rate(lambda: SubprocVecEnv([env_fn] * n), n, seconds, seed=None)


def envpool_cartpole(n: int, seconds: float) -> float:
    return lockstep_rate(
        lambda: thrust.make("CartPole-v1", num_envs=n, backend="envpool", num_workers=CORES), n, seconds
    )


def busy_steps_per_second(env_fn, seconds: float) -> float:
    """Steps/s of one env stepped alone in this process (run in each free-running process)."""
    env = env_fn()
    env.reset(seed=0)
    return measure(lambda i: env.step(0) and 1, seconds)


def free_running(env_fn, n: int, seconds: float) -> float:
    """What the cores could give this run: one busy env per core in its own process, no batching, no
    synchronization, timed over the same window; the sum of their rates. The yardstick for the
    busy-wait columns, since other processes on the machine take their share of the cores."""
    context = multiprocessing.get_context("forkserver")
    with context.Pool(CORES) as pool:
        return sum(pool.starmap(busy_steps_per_second, [(env_fn, seconds)] * CORES))


def versions() -> str:
    names = ["numpy", "gymnasium", "stable_baselines3", "envpool"]
    found = []
    for name in names:
        if importlib.util.find_spec(name) is not None:
            found.append(f"{name} {getattr(__import__(name), '__version__', '?')}")
    return ", ".join([f"Python {platform.python_version()}", *found])


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (0.3 s per measurement)")
    parser.add_argument("--seconds", type=float, default=1.0, help="timed seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per cell (the median is shown)")
    args = parser.parse_args()
    seconds = 0.3 if args.quick else args.seconds
    args.rounds = 1 if args.quick else args.rounds
    have_sb3 = importlib.util.find_spec("stable_baselines3") is not None
    have_envpool = importlib.util.find_spec("envpool") is not None

    cartpole = partial(gym.make, "CartPole-v1")
    slow, varied = partial(BusyEnv, 1.0), partial(BusyEnv, 1.0, vary=True)
    workloads = [("CartPole-v1", cartpole, 8), ("CartPole-v1", cartpole, 64), ("busy-wait 1 ms", slow, 8),
                 ("busy-wait 0-2 ms", varied, 8)]
    every, cartpole_only, busy_only = (cartpole, slow, varied), (cartpole,), (slow, varied)
    systems: list[tuple[str, Callable[..., float], tuple]] = [
        (f"Thrust multiprocessing, sync ({CORES} workers)", partial(thrust_sync, workers=CORES), every),
        (f"Thrust multiprocessing, async ({2 * CORES} workers, batch N/2)", partial(thrust_async, workers=2 * CORES),
         every),
        ("Thrust serial", thrust_serial, every),
        ("Gymnasium SyncVectorEnv", partial(gymnasium_vector, gym.vector.SyncVectorEnv), every),
        ("Gymnasium AsyncVectorEnv (1 process per env)", partial(gymnasium_vector, gym.vector.AsyncVectorEnv), every),
    ]
    if have_sb3:
        systems.append(("SB3 SubprocVecEnv (1 process per env)", sb3_subproc, every))
    if have_envpool:
        systems.append((f"EnvPool ({CORES} threads, C++ CartPole)", lambda fn, n, s: envpool_cartpole(n, s),
                        cartpole_only))
    capacity = f"Free-running: {CORES} processes, one env each, no synchronization"
    systems.append((capacity, lambda fn, n, s: free_running(fn, n, s), busy_only))

    # Rounds: every system once per round, so a change in the machine's load hits all of them alike;
    # each cell is the median over rounds, each ratio the median of the same round's ratios.
    rates: dict[tuple[str, str], list[float]] = {}
    columns = [f"{name}, N={n}" for name, _, n in workloads]
    for round_index in range(args.rounds):
        for column, (_, env_fn, n) in zip(columns, workloads, strict=True):
            for system, run, runs_on in systems:
                if env_fn not in runs_on:
                    continue
                rate = run(env_fn, n, seconds)
                rates.setdefault((system, column), []).append(rate)
                progress = f"round {round_index + 1} | {column} | {system}: {rate:,.0f} steps/s"
                print(progress, file=sys.stderr, flush=True)

    baseline = "Gymnasium AsyncVectorEnv (1 process per env)"

    def cell(system: str, column: str) -> str:
        if (system, column) not in rates:
            return "—"
        ratios = np.array(rates[system, column]) / np.array(rates[baseline, column])
        rate = np.median(rates[system, column])
        shown = f"{rate / 1000:,.1f}K" if rate >= 10_000 else f"{rate:,.0f}"
        return f"{shown} ({np.median(ratios):.2f}×)"

    print(f"Env steps per second (median of {args.rounds} rounds; K = thousands), random actions; "
          f"in brackets: × {baseline} in the same round.\n")
    print("| system | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for system, _, _ in systems:
        print(f"| {system} | " + " | ".join(cell(system, column) for column in columns) + " |")
    ideal = CORES * 1000
    sync, asynchronous = systems[0][0], systems[1][0]

    def share(system: str, column: str) -> str:
        return f"{np.median(rates[system, column]) / ideal:.0%}"

    def ratio(system: str, other: str, column: str) -> str:
        return f"{np.median(np.array(rates[system, column]) / np.array(rates[other, column])):.2f}×"

    print("\nAgainst the targets (same-round ratios, medians):")
    print(f"- CartPole N=8, Thrust sync / Gymnasium AsyncVectorEnv: {ratio(sync, baseline, columns[0])} (target ≥ 3×)")
    print(f"- CartPole N=64, Thrust sync / Gymnasium SyncVectorEnv: "
          f"{ratio(sync, 'Gymnasium SyncVectorEnv', columns[1])} (target > 1×)")
    print(f"- 1 ms env, share of the ideal cores × 1000 = {ideal:,} steps/s: Thrust sync {share(sync, columns[2])}, "
          f"async {share(asynchronous, columns[2])} (target ≥ 90%); free-running processes reached "
          f"{share(capacity, columns[2])}: other processes held the rest of the cores. Share of the free-running "
          f"rate in the same round: sync {ratio(sync, capacity, columns[2])}, "
          f"async {ratio(asynchronous, capacity, columns[2])}")
    print(f"- 0-2 ms env, Thrust async / Thrust sync: {ratio(asynchronous, sync, columns[3])} (target > 1×)")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nMachine: {cpu_model()}, {CORES} cores, load average {load} at the end (other processes share the "
          f"cores: the free-running row shows what was left for this run); {versions()}. "
          f"{seconds:g} s per measurement.")
    options = " --quick" if args.quick else f" --seconds {args.seconds:g} --rounds {args.rounds}"
    print(f"Command: `python benchmarks/vector_throughput.py{options}`")


if __name__ == "__main__":
    main()
