"""IMPALA and APPO against synchronous PPO: steps/s and time to solve, (a) native CartPole, (b) a 1 ms CPU env.

(a) Native CartPole-v1, each system with its CartPole preset (IMPALA's and APPO's run their actor in
    lockstep: policy lag 0), and APPO asynchronous (the same preset, `asynchronous=True`): wall-clock
    seconds until the mean return of the last 20 episodes reaches 475, steps, SPS, a greedy evaluation.
(b) Gymnasium's CartPole-v1 made slow: every step first spins the CPU for 1 ms (a Python busy loop, as
    a simulator written in Python would), 16 envs in 2 worker processes (multiprocessing backend). Every
    system has the same batch shape (16 envs × 32 steps, one segment per actor) and trains for a fixed
    budget of steps: SPS, the last-20 return it reached, its policy lag. The async systems run 2 actor
    threads, one worker process each, which keep stepping while the learner updates.

Every run is a fresh subprocess; the machine is the shared 2-core one, so compare rows of one run.

    python benchmarks/async_throughput.py            # 2 seeds on (a), 30K steps on (b)
    python benchmarks/async_throughput.py --quick    # 1 seed, 10K steps
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym

ROOT = Path(__file__).resolve().parent.parent
SOLVED, WINDOW = 475.0, 20
SLOW_ID = "ThrustBench/SpinningCartPole-v1"
SLOW = dict(num_envs=16, num_steps=32, num_workers=2, backend="multiprocessing")


class SpinningCartPole(gym.Wrapper):
    """CartPole-v1 whose every step costs 1 ms of CPU first."""

    def __init__(self) -> None:
        super().__init__(gym.make("CartPole-v1"))

    def step(self, action):
        deadline = time.perf_counter() + 0.001
        while time.perf_counter() < deadline:
            pass
        return self.env.step(action)


def register() -> None:
    if SLOW_ID not in gym.registry:
        gym.register(SLOW_ID, entry_point=f"{__name__}:SpinningCartPole" if __name__ != "__main__"
                     else "async_throughput:SpinningCartPole")


def solved(returns) -> bool:
    recent = list(returns)[-WINDOW:]
    return len(recent) == WINDOW and sum(recent) / WINDOW >= SOLVED


def run(system: str, workload: str, seed: int, steps: int) -> dict:
    import numpy as np

    import thrust
    import thrust.algorithms

    algorithm, asynchronous = system.split("-") if "-" in system else (system, None)
    overrides = {} if asynchronous is None else {"asynchronous": asynchronous == "async"}
    if workload == "slow":
        register()
        overrides.update(SLOW, total_timesteps=steps)
        if algorithm != "ppo":
            overrides["num_actors"] = 2
    env_id = "CartPole-v1" if workload == "native" else SLOW_ID
    start, state, lags = time.perf_counter(), {}, []

    def watch(model, metrics):
        lags.append(metrics.get("charts/policy_lag", 0.0))
        if workload == "native" and solved(model.recent_returns):
            state["time"], state["steps"] = time.perf_counter() - start, model.global_step
            return False
        return True

    model = thrust.algorithms.get(algorithm)(env_id, seed=seed, **overrides)
    model.learn(callback=watch)
    seconds = time.perf_counter() - start
    result = {"seconds": state.get("time", seconds), "steps": state.get("steps", model.global_step),
              "solved": bool(state), "lag": float(np.mean(lags)),
              "last20": float(np.mean(list(model.recent_returns)[-WINDOW:]))}
    if workload == "native":
        result["eval"] = thrust.evaluate(model, num_episodes=100, seed=10_000 + seed)["mean_return"]
    model.close()
    return result


def spawn(*args: str) -> dict:
    benchmarks = Path(__file__).parent
    path = os.pathsep.join([str(ROOT), str(benchmarks), os.environ.get("PYTHONPATH", "")])
    output = subprocess.run([sys.executable, __file__, "--worker", *args], capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": path})
    for line in output.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"worker {args} failed:\n{output.stdout}\n{output.stderr[-3000:]}")


SYSTEMS = [("PPO", "ppo"), ("IMPALA, lockstep", "impala-sync"), ("APPO, lockstep", "appo-sync"),
           ("IMPALA, asynchronous", "impala-async"), ("APPO, asynchronous", "appo-async")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed on (a), 10K steps on (b)")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        import torch._dynamo  # noqa: F401  (torch.optim imports it at the first optimizer: an import, not training)

        system, workload, seed, steps = args.worker
        print("RESULT " + json.dumps(run(system, workload, int(seed), int(steps))), flush=True)
        return

    sys.path.insert(0, str(Path(__file__).parent))
    from ppo_cartpole import machine_info

    seeds, slow_steps = (range(1, 2), 10_000) if args.quick else (range(1, 3), 30_000)
    spawn("ppo", "native", "1000", "0")  # warm-up: numba compiles the native CartPole's kernels into its cache
    print("### IMPALA and APPO against synchronous PPO\n")
    print(f"Machine: {machine_info()}  ")
    print(f"Command: `python benchmarks/async_throughput.py{' --quick' if args.quick else ''}`, each run in a "
          f"fresh process\n")
    print(f"(a) Native CartPole-v1, the presets, {len(seeds)} seed(s): time to solve (last 20 episodes ≥ 475)\n")
    print("| system | solved | wall s (median) | steps (median) | SPS (median) | eval (100 ep.) | policy lag "
          "| time vs PPO |")
    print("|---|---|---|---|---|---|---|---|")
    native = {}
    for name, system in SYSTEMS:
        native[name] = runs = [spawn(system, "native", str(seed), "0") for seed in seeds]
        print(f"{name} (a): {runs}", file=sys.stderr, flush=True)
        seconds = statistics.median(r["seconds"] for r in runs)
        evals = ", ".join(f"{r['eval']:.0f}" for r in runs)
        reference = statistics.median(r["seconds"] for r in native["PPO"])
        print(f"| {name} | {sum(r['solved'] for r in runs)}/{len(runs)} | {seconds:.1f} | "
              f"{statistics.median(r['steps'] for r in runs):,.0f} | "
              f"{statistics.median(r['steps'] / r['seconds'] for r in runs):,.0f} | "
              f"{evals} | {statistics.mean(r['lag'] for r in runs):.2f} | "
              f"{seconds / reference:.2f}× |")
    print(f"\n(b) CartPole-v1 spinning 1 ms of CPU per step, 16 envs in 2 worker processes, {slow_steps:,} steps, "
          f"seed 1\n")
    print("| system | SPS | vs PPO | last-20 return at the end | policy lag |")
    print("|---|---|---|---|---|")
    slow = {}
    for name, system in SYSTEMS:
        if system.endswith("sync") and not system.endswith("async"):
            continue  # lockstep actors step the envs as PPO does: nothing to hide the update behind
        slow[name] = result = spawn(system, "slow", "1", str(slow_steps))
        print(f"{name} (b): {result}", file=sys.stderr, flush=True)
        sps = result["steps"] / result["seconds"]
        reference = slow["PPO"]["steps"] / slow["PPO"]["seconds"]
        print(f"| {name} | {sps:,.0f} | {sps / reference:.2f}× | {result['last20']:.0f} | {result['lag']:.2f} |")
    print("\nSample Factory is not in this table yet: `pip install sample-factory` (2.1.1) pins gymnasium 0.29 and "
          "numpy 1.26, so it needs a venv of its own, and a driver for its APPO on these envs is still to be written.")


if __name__ == "__main__":
    main()
