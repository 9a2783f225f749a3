"""Population-based training on native CartPole-v1: wall-clock time to a solved member, PBT vs the same
members trained one after another; and members in turn in one process vs in worker processes.

1. **Time to a solved member**: 8 PPO members (the CartPole preset, seeds 1-8, learning rates drawn
   log-uniformly from [1e-4, 1e-2] as `thrust pbt` draws them) trained by `thrust.population.Population`
   (interval 5, the default selection), against the same 8 configurations trained as single runs one
   after another. A member is solved when the mean return of its last 20 episodes reaches 475 (checked
   after each of its iterations); the clock stops at the first solved member. Counted: model
   construction and training; not counted: imports and numba compilation (cached by a warm-up run).
   The single runs are also timed one by one to their budget or their solve, giving the time to the
   first solved run in the order drawn and its mean over random orders.
2. **In turn vs processes**: two single runs of the preset (60K steps each), trained in turn in this
   process, then at once in two fresh processes (each warmed up, then timed from model construction on).

    python benchmarks/pbt.py            # population of 8
    python benchmarks/pbt.py --quick    # population of 4, shorter runs
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import thrust  # noqa: E402
from thrust.population import PBTOptions, Population  # noqa: E402
from thrust.search import Uniform  # noqa: E402

SOLVED, WINDOW = 475.0, 20
SPACE = {"learning_rate": Uniform(1e-4, 1e-2, log=True)}


def solved(model) -> bool:
    recent = list(model.recent_returns)[-WINDOW:]
    return len(recent) == WINDOW and sum(recent) / WINDOW >= SOLVED


def members(count: int, total_timesteps: int) -> list:
    rng = np.random.default_rng(1)  # as thrust pbt --seed 1 draws its members' values
    rates = [SPACE["learning_rate"].sample(rng) for _ in range(count)]
    return [thrust.PPO("CartPole-v1", seed=1 + i, learning_rate=rate, total_timesteps=total_timesteps)
            for i, rate in enumerate(rates)], rng


def pbt_time(count: int, total_timesteps: int) -> tuple[float, int | None, int]:
    start = time.perf_counter()
    models, rng = members(count, total_timesteps)
    population = Population(models, SPACE, PBTOptions(population=count), rng)
    winner = None

    def stop_when_solved(index, model, metrics):
        nonlocal winner
        if solved(model):
            winner = index
            return False
        return True

    while winner is None and population.boundary < models[0].config.num_iterations:
        end = min(population.boundary + 5, models[0].config.num_iterations)
        population.train_until(end, stop_when_solved)
        if winner is None:
            population.update_scores()
            population.boundary = end
            population.exploit_and_explore()
    return time.perf_counter() - start, winner, sum(m.global_step for m in models)


def single_runs(count: int, total_timesteps: int) -> list[tuple[float, bool, int]]:
    """Each member trained alone to its budget or until solved: (seconds, solved, steps)."""
    models, _ = members(count, total_timesteps)
    results = []
    for model in models:
        start = time.perf_counter()
        model.learn(callback=lambda model, metrics: not solved(model))
        results.append((time.perf_counter() - start, solved(model), model.global_step))
    return results


def first_solved(results: list[tuple[float, bool, int]], order: list[int]) -> float:
    """Seconds until the first solved run when the runs go one after another in `order` (all of them if none)."""
    total = 0.0
    for index in order:
        total += results[index][0]
        if results[index][1]:
            break
    return total


def expected_first_solved(results: list[tuple[float, bool, int]], shuffles: int = 10_000) -> float:
    """The mean of `first_solved` over random orders of the runs."""
    rng = np.random.default_rng(0)
    return float(np.mean([first_solved(results, list(rng.permutation(len(results)))) for _ in range(shuffles)]))


RUN = ("import time, thrust; thrust.PPO('CartPole-v1', total_timesteps=1024).learn(); start = time.perf_counter(); "
       "thrust.PPO('CartPole-v1', seed={seed}, total_timesteps={steps}).learn(); print(time.perf_counter() - start)")


def in_turn_vs_processes(steps: int) -> tuple[float, float]:
    start = time.perf_counter()
    for seed in (1, 2):
        thrust.PPO("CartPole-v1", seed=seed, total_timesteps=steps).learn()
    in_turn = time.perf_counter() - start
    processes = [subprocess.Popen([sys.executable, "-c", RUN.format(seed=seed, steps=steps)], cwd=ROOT,
                                  stdout=subprocess.PIPE, text=True) for seed in (1, 2)]
    inside = [float(process.communicate()[0]) for process in processes]
    return in_turn, max(inside)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    count, budget, steps_each = (4, 100_000, 20_000) if quick else (8, 150_000, 60_000)
    thrust.PPO("CartPole-v1", total_timesteps=1024).learn()  # compile and cache the kernels; warm torch
    pbt_seconds, pbt_winner, pbt_steps = pbt_time(count, budget)
    singles = single_runs(count, budget)
    in_order = first_solved(singles, list(range(count)))
    in_order_steps = 0
    for _, done, steps in singles:
        in_order_steps += steps
        if done:
            break
    in_turn, parallel = in_turn_vs_processes(steps_each)

    print(f"### PBT on CartPole-v1: time to the first solved member (last {WINDOW} episodes ≥ {SOLVED:.0f})\n")
    print(f"Machine: {platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} cores, shared "
          f"(load average {os.getloadavg()[0]:.1f} at the end); Python {platform.python_version()}  ")
    print(f"Command: `python benchmarks/pbt.py{' --quick' if quick else ''}`; {count} members, the PPO preset with "
          f"learning rates drawn log-uniformly from [1e-4, 1e-2], at most {budget:,} steps each\n")
    print("| training | wall s to a solved member | env steps until then (all members) |")
    print("|---|---|---|")
    print(f"| PBT (interval 5, bottom 25% copy top 25%) | {pbt_seconds:.1f} "
          f"(member {'none' if pbt_winner is None else pbt_winner}) | {pbt_steps:,} |")
    print(f"| single runs one after another, in the order drawn | {in_order:.1f} | {in_order_steps:,} |")
    print(f"| single runs one after another, expected over random orders | {expected_first_solved(singles):.1f} | |")
    print(f"\nSingle runs alone: {sum(done for _, done, _ in singles)}/{count} solved within {budget:,} steps; "
          f"seconds each: {', '.join(f'{seconds:.1f}' for seconds, _, _ in singles)}.")
    print(f"\n### Two single runs in turn in one process vs at once in two processes ({steps_each:,} steps each)\n")
    print("| how | wall s |")
    print("|---|---|")
    print(f"| in turn, one process | {in_turn:.2f} |")
    print(f"| at once, two processes (the slower one; each warmed up first, timed from model construction) "
          f"| {parallel:.2f} |")


if __name__ == "__main__":
    main()
