"""Exploration with Random Network Distillation: PPO against PPO+RND with the same settings, and RND's cost.

- **MountainCar-v0** (native), 5 seeds per system, with the env's preset (`thrust train ppo --env
  MountainCar-v0`, with and without `--curiosity rnd`: the learning test's settings). A run succeeds when
  its greedy evaluation (10 episodes) returns more than -200 (some episode reached the flag); the wall
  time to the first success is the training time until the first training episode that reached the flag
  (median over the seeds that had one).
- **LockedCorridor-v0**: the same, success = a greedy return above 0 (some episode opened the door).
- **RND's overhead**: SPS of PPO and PPO+RND with the CartPole-v1 preset (150K steps, one run each).

    python benchmarks/exploration.py            # 5 seeds
    python benchmarks/exploration.py --quick    # 1 seed, shorter runs
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import thrust  # noqa: E402
from thrust.presets import preset  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workers import machine_info  # noqa: E402


def run(env_id: str, seed: int, curiosity: str | None, settings: dict, solved) -> dict:
    """One training run: did the greedy policy succeed, and when did a training episode first succeed."""
    start, first = time.perf_counter(), {}

    def watch(model, metrics):
        returns = metrics.get("charts/episodic_return")
        if "seconds" not in first and returns is not None and any(solved(r) for r in model.recent_returns):
            first["seconds"], first["steps"] = time.perf_counter() - start, model.global_step

    with thrust.PPO(env_id, seed=seed, curiosity=curiosity, **settings) as model:
        model.learn(callback=watch)
        seconds = time.perf_counter() - start
        result = thrust.evaluate(model, num_episodes=10, seed=10_000 + seed)
    return {"success": solved(result["mean_return"]), "eval": result["mean_return"], "seconds": seconds,
            "first": first.get("seconds"), "first_steps": first.get("steps")}


def table_rows(env_id: str, label: str, settings: dict, seeds, solved) -> list[str]:
    rows = []
    for name, curiosity in (("PPO", None), ("PPO+RND", "rnd")):
        runs = [run(env_id, seed, curiosity, settings, solved) for seed in seeds]
        for seed, result in zip(seeds, runs, strict=True):
            print(f"{env_id} {label} {name} seed {seed}: {result}", file=sys.stderr, flush=True)
        firsts = [r["first"] for r in runs if r["first"] is not None]
        first = f"{statistics.median(firsts):.1f} ({len(firsts)}/{len(runs)} runs)" if firsts else "never"
        evals = ", ".join(f"{r['eval']:.0f}" for r in runs)
        rows.append(f"| {env_id} | {label} | {name} | {sum(r['success'] for r in runs)}/{len(runs)} | {first} | "
                    f"{statistics.median(r['seconds'] for r in runs):.1f} | {evals} |")
    return rows


def sps(curiosity: str | None, steps: int) -> float:
    with thrust.PPO("CartPole-v1", seed=1, curiosity=curiosity, total_timesteps=steps) as model:
        model.learn(total_timesteps=2048)  # warm-up: numba and torch's first calls
        start, done = time.perf_counter(), model.global_step
        model.learn(total_timesteps=steps)
        return (model.global_step - done) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, shorter runs")
    args = parser.parse_args()
    seeds = range(1, 2 if args.quick else 6)
    mountain_car = preset("ppo", "MountainCar-v0")
    corridor = preset("ppo", "LockedCorridor-v0")
    if args.quick:
        for settings in (mountain_car, corridor):
            settings["total_timesteps"] = settings["total_timesteps"] // 4

    def flag(r):
        return r > -200

    def door(r):
        return r > 0

    rows = [*table_rows("MountainCar-v0", "preset", mountain_car, seeds, flag),
            *table_rows("LockedCorridor-v0", "preset", corridor, seeds, door)]
    steps = 30_000 if args.quick else 150_000
    plain, rnd = sps(None, steps), sps("rnd", steps)

    print("### Exploration: PPO vs PPO+RND with the same settings\n")
    print(f"Machine: {machine_info()}  ")
    print(f"Command: `python benchmarks/exploration.py{' --quick' if args.quick else ''}`, seeds "
          f"{seeds.start}-{seeds.stop - 1}, one run each, in one process\n")
    print(f"MountainCar-v0 preset: `{mountain_car}`; LockedCorridor-v0 preset: `{corridor}`.\n")
    print("| env | settings | system | greedy success | wall s to first success (median) | wall s per run "
          "(median) | greedy returns |")
    print("|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(f"\nRND's overhead on CartPole-v1 (preset, {steps:,} steps): PPO {plain:,.0f} SPS, PPO+RND {rnd:,.0f} SPS: "
          f"{plain / rnd:.2f}× slower (target ≤ 1.5×).")


if __name__ == "__main__":
    main()
