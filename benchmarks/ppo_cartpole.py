"""PPO on CartPole-v1: wall-clock time to solve, Thrust vs Stable-Baselines3 (RL-Zoo) vs a CleanRL-style ppo.py.

For every system and seed, in a fresh subprocess each (so torch thread settings, caches and RNGs
never leak between runs):

- **time to solve**: wall-clock seconds from before env creation to the first moment the mean return
  of the last 20 finished episodes reaches 475 (checked at every step by the peers, after every
  iteration by Thrust, which only ever delays Thrust's stop). Counted: env creation, model
  construction, training. Not counted: Python imports (torch, numba, gymnasium, SB3 and
  `torch._dynamo`, which `torch.optim` imports lazily at the first optimizer: imported up front for
  every system alike), and numba compilation (Thrust's kernels are cached on disk by a warm-up run
  before timing; the "cold start" line times a run that compiles them, as the first run after a clone does).
- **steps** used and **SPS** (steps / time to solve);
- **evaluation**: 100 episodes, deterministic actions, on fresh envs, after the stop.

Peers run with the torch settings Thrust's PPO applies to itself (one intra-op thread, denormals
flushed to zero), which made them faster here than with torch's defaults.

Then a large-batch Thrust configuration (4096 envs) measures end-to-end env steps/s, learning included.

    python benchmarks/ppo_cartpole.py            # 3 seeds, all systems (several minutes)
    python benchmarks/ppo_cartpole.py --quick    # 1 seed, Thrust and SB3 only, short large-batch run
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from workers import machine_info, spawn

SOLVED = 475.0
WINDOW = 20


def solved(returns) -> bool:
    recent = list(returns)[-WINDOW:]
    return len(recent) == WINDOW and sum(recent) / WINDOW >= SOLVED


# ---------------------------------------------------------------------------------------------------
# Workers: one run each, in its own process; print one JSON line.
# ---------------------------------------------------------------------------------------------------


def run_thrust(seed: int) -> dict:
    import thrust

    start = time.perf_counter()
    state = {}

    def stop_when_solved(model, metrics):
        if solved(model.recent_returns):
            state["time"], state["steps"] = time.perf_counter() - start, model.global_step
            return False
        return True

    model = thrust.PPO("CartPole-v1", seed=seed)
    model.learn(callback=stop_when_solved)
    if not state:
        state["time"], state["steps"] = time.perf_counter() - start, model.global_step
    result = thrust.evaluate(model, num_episodes=100, seed=10_000 + seed)
    return {"solved": "time" in state and solved(model.recent_returns), "seconds": state["time"],
            "steps": state["steps"], "eval": result["mean_return"]}


def run_peer(module_name: str, seed: int) -> dict:
    import gymnasium as gym
    import numpy as np
    import torch

    # The process settings Thrust's PPO uses (config.num_threads=1, flushed denormals), given to the peers
    # too: with torch's defaults SB3 ran up to 8× slower on this shared 2-core machine.
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)

    sys.path.insert(0, str(Path(__file__).parent / "peers"))
    peer = __import__(module_name)
    start = time.perf_counter()
    state = {}

    def stop(global_step, returns):
        if solved(returns):
            state["time"], state["steps"] = time.perf_counter() - start, global_step
            return True
        return False

    model, global_step = peer.train(seed, stop)
    if not state:
        state["time"], state["steps"] = time.perf_counter() - start, global_step

    # 100 deterministic evaluation episodes on a fresh Gymnasium env.
    env = gym.make("CartPole-v1")
    returns = []
    for episode in range(100):
        obs, _ = env.reset(seed=10_000 + seed * 1000 + episode)
        total, done = 0.0, False
        while not done:
            if module_name == "sb3_rlzoo":
                action, _ = model.predict(obs, deterministic=True)
            else:
                with torch.no_grad():
                    action = model.actor(torch.as_tensor(obs, dtype=torch.float32)).argmax().item()
            obs, reward, terminated, truncated, _ = env.step(int(action))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return {"solved": "time" in state, "seconds": state["time"], "steps": state["steps"],
            "eval": float(np.mean(returns))}


def run_large_batch(iterations: int, num_threads: int) -> dict:
    import thrust

    config = dict(num_envs=4096, num_steps=16, num_minibatches=4, update_epochs=4, learning_rate=2.5e-4,
                  total_timesteps=4096 * 16 * (iterations + 1), num_threads=num_threads)
    model = thrust.PPO("CartPole-v1", seed=1, **config)
    splits = []
    model.learn(callback=lambda m, metrics: False)  # one warm-up iteration, not timed
    start, first_step = time.perf_counter(), model.global_step
    model.learn(callback=lambda m, metrics: splits.append(metrics))
    seconds = time.perf_counter() - start
    total = {key: sum(m[key] for m in splits) for key in ("time/env", "time/inference", "time/learning")}
    return {"sps": (model.global_step - first_step) / seconds, "seconds": seconds, **config,
            **{key: value / seconds for key, value in total.items()}}


def worker(argv: list[str]) -> None:
    import torch._dynamo  # noqa: F401  (torch.optim imports it at the first optimizer: an import, not training)

    kind = argv[0]
    if kind == "thrust":
        result = run_thrust(int(argv[1]))
    elif kind == "large":
        result = run_large_batch(int(argv[1]), int(argv[2]))
    else:
        result = run_peer(kind, int(argv[1]))
    print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, no CleanRL, a short large-batch run")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per system (1, 2, ...)")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return

    seeds = range(1, 2 if args.quick else args.seeds + 1)
    systems = [("Thrust PPO (preset)", "thrust"), ("SB3 PPO, RL-Zoo hyperparameters", "sb3_rlzoo")]
    if not args.quick:
        systems.append(("CleanRL-style ppo.py, defaults", "cleanrl_ppo"))

    # Cold start: numba compiles Thrust's kernels into an empty cache, as on a fresh clone. Then a warm-up
    # run fills the real cache, so that the timed runs load the kernels as every later run does.
    with tempfile.TemporaryDirectory() as empty_cache:
        cold = spawn(__file__, "thrust", "1", NUMBA_CACHE_DIR=empty_cache)
    spawn(__file__, "thrust", "1000")
    rows = {}
    for name, kind in systems:
        rows[name] = [spawn(__file__, kind, str(seed)) for seed in seeds]
        for seed, run in zip(seeds, rows[name], strict=True):
            print(f"{name} seed {seed}: {run}", file=sys.stderr, flush=True)

    print("### PPO on CartPole-v1: time to solve (mean of the last 20 episodes ≥ 475)\n")
    print(f"Machine: {machine_info('stable_baselines3')}  ")
    print(f"Command: `python benchmarks/ppo_cartpole.py{' --quick' if args.quick else ''}`, "
          f"{len(seeds)} seed(s) per system, each run in a fresh process\n")
    thrust_median = statistics.median(run["seconds"] for run in rows[systems[0][0]])
    print("| system | solved | wall s (median) | wall s (all seeds) | steps (median) | SPS (median) "
          "| eval mean (100 ep.) | time vs Thrust |")
    print("|---|---|---|---|---|---|---|---|")
    for name, _ in systems:
        runs = rows[name]
        median = statistics.median(run["seconds"] for run in runs)
        seconds = ", ".join(f"{run['seconds']:.2f}" for run in runs)
        evals = ", ".join(f"{run['eval']:.1f}" for run in runs)
        print(f"| {name} | {sum(run['solved'] for run in runs)}/{len(runs)} | {median:.2f} | {seconds} | "
              f"{statistics.median(run['steps'] for run in runs):,.0f} | "
              f"{statistics.median(run['steps'] / run['seconds'] for run in runs):,.0f} | "
              f"{evals} | {median / thrust_median:.1f}× |")
    print("\nEvery system ran with Thrust's process-wide torch settings: one intra-op thread "
          "(torch.set_num_threads(1)) and denormals flushed to zero (torch.set_flush_denormal(True)).")
    print(f"\nCold start (seed 1, numba compiling every kernel into an empty cache, as on a fresh clone): "
          f"{cold['seconds']:.2f} s to solve.\n")

    iterations = 3 if args.quick else 10
    print("### Large batch: 4096 envs × 16 steps, 4 epochs × 4 minibatches, learning included\n")
    print("| torch threads | env steps/s | env | inference | learning |")
    print("|---|---|---|---|---|")
    for num_threads in (1, 2):
        run = spawn(__file__, "large", str(iterations), str(num_threads))
        print(f"| {num_threads} | {run['sps']:,.0f} | {run['time/env']:.0%} | {run['time/inference']:.0%} "
              f"| {run['time/learning']:.0%} |")
    print(f"\n({iterations} timed iterations after one warm-up iteration; shares are of the timed wall-clock.)")


if __name__ == "__main__":
    main()
