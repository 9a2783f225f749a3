"""Environment stepping throughput: Thrust's native envs against Gymnasium and EnvPool, in one run.

Steps every native env with random actions (drawn before timing, the same batches for every system)
and reports steps/s for each number of envs, next to Gymnasium's own vectorized CartPole
(`make_vec(..., vectorization_mode="vector_entry_point")`), Gymnasium's `SyncVectorEnv` and EnvPool
(when installed). The systems take turns in `--rounds` rounds of one `--window`-second window each;
figures are medians over rounds, ratios medians of same-round ratios (the shared machine's load drifts,
and taking turns exposes every system to the same drift). Then: what
numba's threads buy at each size, what the per-step action check costs, and what compiling costs
(cold, in a fresh process with an empty cache; warm, in a second process that finds the cache).

    python benchmarks/env_throughput.py            # the full table (a few minutes)
    python benchmarks/env_throughput.py --quick    # a smoke run (seconds)
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a fresh clone without installing
import thrust  # noqa: E402
from thrust.envs import registry  # noqa: E402
from thrust.vector.base import check_actions  # noqa: E402

ENV_IDS = ["CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1"]
HAS_ENVPOOL = importlib.util.find_spec("envpool") is not None


def action_batches(space: gym.Space, n: int, count: int, seed: int = 0) -> list[np.ndarray]:
    """`count` batches of `n` random actions from `space`, drawn before any timing."""
    rng = np.random.default_rng(seed)
    if isinstance(space, gym.spaces.Discrete):
        return [rng.integers(space.start, space.start + space.n, n) for _ in range(count)]
    return [rng.uniform(space.low, space.high, (n, *space.shape)).astype(space.dtype) for _ in range(count)]


def window_rate(step: Callable[[Any], Any], batches: list[np.ndarray], n: int, window: float) -> float:
    """Steps/s over one window of at least `window` seconds of `step(actions)` calls."""
    calls, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < window:
        for actions in batches:
            step(actions)
        calls += len(batches)
    return n * calls / elapsed


def interleaved(steppers: dict[str, Callable[[Any], Any]], batches: list[np.ndarray], n: int, window: float,
                rounds: int) -> dict[str, list[float]]:
    """Steps/s of every stepper, one window each per round, the steppers taking turns within each round.

    The machine's load drifts; taking turns exposes every system to the same drift, so the ratios of
    one round compare like with like. Callers report medians over rounds.
    """
    for step in steppers.values():  # warm-up: compiled code, caches, thread pools
        for actions in batches:
            step(actions)
    rates: dict[str, list[float]] = {name: [] for name in steppers}
    for _ in range(rounds):
        for name, step in steppers.items():
            rates[name].append(window_rate(step, batches, n, window))
    return rates


def make_system(system: str, env_id: str, n: int) -> tuple[Callable[[Any], Any], Callable[[], None]] | None:
    """`(step, close)` for one system at size `n`, or None where that system has no such env."""
    if system == "thrust":
        envs = thrust.make(env_id, num_envs=n, seed=0)
    elif system == "gymnasium_vector":
        if gym.spec(env_id).vector_entry_point is None:
            return None
        envs = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point")
    elif system == "gymnasium_sync":
        envs = gym.make_vec(env_id, num_envs=n, vectorization_mode="sync")
    elif system == "envpool":
        import envpool

        envs = envpool.make(env_id, env_type="gymnasium", num_envs=n, batch_size=n,
                            num_threads=min(n, os.cpu_count() or 1), seed=0)
    else:
        raise ValueError(system)
    envs.reset(seed=0)
    return envs.step, envs.close


Figures = dict[tuple[str, int, str], float]  # (env id, N, system) -> median steps/s, or median ratio to Thrust
PEERS = ("gymnasium_vector", "gymnasium_sync", "envpool")


def run_table(sizes: list[int], sync_sizes: list[int], window: float, rounds: int,
              rates: Figures, ratios: Figures) -> list[str]:
    """Every env at every size: median steps/s per system, and the median over rounds of Thrust ÷ peer."""
    lines = [
        "| env | N | Thrust native | Gymnasium vectorized (numpy) | Gymnasium SyncVectorEnv | EnvPool "
        "| Thrust ÷ Gymnasium vectorized | Thrust ÷ SyncVectorEnv | Thrust ÷ EnvPool |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    systems = ["thrust", "gymnasium_vector", "gymnasium_sync"] + (["envpool"] if HAS_ENVPOOL else [])
    for env_id in ENV_IDS:
        for n in sizes:
            made = {}
            for system in systems:
                if system == "gymnasium_sync" and n not in sync_sizes:
                    continue
                if (stepper := make_system(system, env_id, n)) is not None:
                    made[system] = stepper
            batches = action_batches(gym.make(env_id).action_space, n, 4)
            per_round = interleaved({name: step for name, (step, _) in made.items()}, batches, n, window, rounds)
            for name, (_, close) in made.items():
                close()
                rates[(env_id, n, name)] = float(np.median(per_round[name]))
                if name != "thrust":
                    ratios[(env_id, n, name)] = float(np.median(np.divide(per_round["thrust"], per_round[name])))
            cells = [fmt(rates.get((env_id, n, name))) for name in ("thrust", *PEERS)]
            cells += [f"{ratios[(env_id, n, name)]:.1f}×" if (env_id, n, name) in ratios else "—" for name in PEERS]
            lines.append(f"| {env_id} | {n:,} | " + " | ".join(cells) + " |")
            print(lines[-1], file=sys.stderr, flush=True)
    return lines


def targets(rates: Figures, ratios: Figures) -> list[str]:
    """The issue's targets, checked against this run's figures."""

    def check(label: str, value: float | None, target: float, unit: str) -> str:
        if value is None:
            return f"- {label}: not measured in this run"
        verdict = "met" if value >= target else "MISSED"
        return f"- {label}: {value:.2f}{unit} (target ≥ {target:g}{unit}: {verdict})"

    cartpole = rates.get(("CartPole-v1", 4096, "thrust"))
    sync = [(r, env_id) for (env_id, n, system), r in ratios.items() if system == "gymnasium_sync" and n == 64]
    lowest = min(sync, default=None)
    return [
        "Targets (from this run; ratios are medians of same-round ratios):",
        check("CartPole-v1 at N=4,096, Thrust", None if cartpole is None else cartpole / 1e6, 40, "M steps/s"),
        check("CartPole-v1 at N=4,096, Thrust ÷ Gymnasium vectorized",
              ratios.get(("CartPole-v1", 4096, "gymnasium_vector")), 2.5, "×"),
        check("CartPole-v1 at N=4,096, Thrust ÷ EnvPool", ratios.get(("CartPole-v1", 4096, "envpool")), 50, "×"),
        check(f"every env at N=64, Thrust ÷ SyncVectorEnv (lowest: {lowest[1] if lowest else '—'})",
              lowest[0] if lowest else None, 10, "×"),
    ]


def run_threads(sizes: list[int], window: float, rounds: int) -> list[str]:
    """CartPole with the serial kernel vs the prange kernel on 1 and on all threads, at every size (medians)."""
    threads = numba.config.NUMBA_NUM_THREADS
    cartpole = registry["CartPole-v1"]
    header = f"| N | serial kernel | prange kernel, 1 thread | prange kernel, {threads} threads | thrust.make's pick |"
    lines = [header, "|---|---|---|---|---|"]
    for n in sizes:
        one_thread_prange = cartpole(n, parallel_threshold=1)
        one_thread_prange.num_threads = 1  # set after construction: num_threads=1 there selects the serial kernel
        configs = {
            "serial": cartpole(n, num_threads=1),
            "prange 1": one_thread_prange,
            "prange all": cartpole(n, parallel_threshold=1, num_threads=threads),
            "default": thrust.make("CartPole-v1", num_envs=n, seed=0),
        }
        for envs in configs.values():
            envs.reset(seed=0)
        per_round = interleaved({name: envs.step for name, envs in configs.items()},
                                action_batches(gym.spaces.Discrete(2), n, 4), n, window, rounds)
        cells = [fmt(float(np.median(per_round[name]))) for name in configs]
        cells[-1] += " (serial)" if n < configs["default"].parallel_threshold else " (prange)"
        lines.append(f"| {n:,} | " + " | ".join(cells) + " |")
        print(lines[-1], file=sys.stderr, flush=True)
    return lines


def run_threads_per_layer(sizes: list[int], window: float, rounds: int) -> list[str]:
    """The threads table once per numba threading layer, each in its own process (the layer is per process)."""
    lines: list[str] = []
    for layer in ("omp", "workqueue"):
        command = [sys.executable, __file__, "--threads-only", "--window", str(window), "--rounds", str(rounds),
                   "--sizes", *map(str, sizes)]
        env = {**os.environ, "NUMBA_THREADING_LAYER": layer}
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            lines.append(f"(threading layer {layer!r} unavailable: {result.stderr.strip().splitlines()[-1]})")
            continue
        table = result.stdout.strip().splitlines()
        if not lines:
            lines += ["| layer " + table[0], "|---" + table[1]]
        lines += [f"| {layer} " + row for row in table[2:]]
    return lines


def run_check_cost(n: int, rounds: int) -> str:
    """What `check_actions` costs inside one CartPole step of `n` envs (medians over rounds)."""
    envs = thrust.make("CartPole-v1", num_envs=n, seed=0)
    envs.reset()
    actions = action_batches(envs.single_action_space, n, 1)[0]
    calls = 2000

    def per_call(fn: Callable[[], Any]) -> float:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        return (time.perf_counter() - start) / calls

    step, check = [], []
    for _ in range(rounds):
        step.append(per_call(lambda: envs.step(actions)))
        check.append(per_call(lambda: check_actions(envs.single_action_space, actions, n)))
    step_s, check_s = float(np.median(step)), float(np.median(check))
    return (f"Action check (shape, dtype, range: a constant number of numpy calls) at N={n:,}: "
            f"{check_s * 1e6:.1f} µs of a {step_s * 1e6:.1f} µs CartPole step ({100 * check_s / step_s:.0f}%).")


COMPILE_PROBE = """
import time
start = time.perf_counter()
import numpy as np
import thrust
imported = time.perf_counter()
for env_id in {env_ids!r}:
    envs = thrust.make(env_id, num_envs={n}, seed=0)
    envs.reset()
    envs.step(envs.action_space.sample())
done = time.perf_counter()
print(f"{{imported - start:.2f}} {{done - imported:.2f}}")
"""


def run_compile_cost(n: int) -> list[str]:
    """Cold and warm `import thrust + make + reset + first step`, each in a fresh process."""
    lines = ["| what | cold cache (compiles) | warm cache (second process) |", "|---|---|---|"]
    for label, env_ids in [("CartPole-v1", ["CartPole-v1"]), ("all five classic-control envs", ENV_IDS)]:
        with tempfile.TemporaryDirectory() as cache_dir:
            env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
            probe = COMPILE_PROBE.format(env_ids=env_ids, n=n)
            timings = []
            for _ in ("cold", "warm"):
                out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
                imported, first_step = map(float, out.stdout.split())
                timings.append(f"import {imported:.2f} s + make, reset, first step {first_step:.2f} s")
            lines.append(f"| {label}, N={n:,} | " + " | ".join(timings) + " |")
            print(lines[-1], file=sys.stderr, flush=True)
    return lines


def fmt(rate: float | None) -> str:
    if rate is None:
        return "—"
    return f"{rate / 1e6:.2f}M" if rate >= 1e6 else f"{rate / 1e3:.0f}K"


def ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None else f"{a / b:.1f}×"


def machine() -> list[str]:
    cpu = platform.processor() or "unknown CPU"
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            models = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = models[0] if models else cpu
    versions = [f"Python {platform.python_version()}", f"numpy {np.__version__}", f"numba {numba.__version__}",
                f"gymnasium {gym.__version__}"]
    if HAS_ENVPOOL:
        import envpool

        versions.append(f"envpool {envpool.__version__}")
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return [
        f"Machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}; "
        f"numba threads: {numba.config.NUMBA_NUM_THREADS} ({numba.config.THREADING_LAYER} layer requested); "
        f"load average at start (1/5/15 min): {load}.",
        "Versions: " + ", ".join(versions) + ".",
        f"Command: `{' '.join(['python benchmarks/env_throughput.py', *sys.argv[1:]])}`.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run: small sizes, short windows")
    parser.add_argument("--window", type=float, default=0.25, help="seconds per timing window")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of one window per system (medians reported)")
    parser.add_argument("--sizes", type=int, nargs="+", help="numbers of envs (default 64 4096 65536)")
    parser.add_argument("--threads-only", action="store_true", help=argparse.SUPPRESS)  # one layer's threads table
    args = parser.parse_args()
    sizes = args.sizes or ([64, 4096] if args.quick else [64, 4096, 65536])
    window, rounds = (0.05, 1) if args.quick else (args.window, args.rounds)
    if args.threads_only:
        print("\n".join(run_threads(sizes, window, rounds)))
        return

    method = (f"Method: random actions drawn before timing (the same batches for every system); {rounds} rounds in "
              f"which the systems take turns, one {window} s window each; medians over rounds, and ratios as the "
              "median of same-round ratios; `step` includes Thrust's action checks; EnvPool with one thread per "
              "core. The 2 cores are shared with other work (see the load average), so absolute figures drift "
              "between runs; the same-round ratios are the comparison.")
    out = ["### Steps per second, random actions", "", *machine(), method, ""]
    rates: Figures = {}
    ratios: Figures = {}
    out += run_table(sizes, [64], window, rounds, rates, ratios)
    out += ["", *targets(rates, ratios)]
    out += ["", "### What numba's threads buy (CartPole-v1, medians), per threading layer", ""]
    out += run_threads_per_layer(sizes, window, rounds)
    out += ["", run_check_cost(4096, rounds)]
    out += ["", "### Compile cost (fresh processes, `NUMBA_CACHE_DIR` set to an empty folder)", ""]
    out += ["(skipped with --quick)"] if args.quick else run_compile_cost(4096)
    print("\n".join(out))


if __name__ == "__main__":
    main()
