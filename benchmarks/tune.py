"""PPO presets across seeds: how often each candidate solves its env, on tuning and on validation seeds.

Every run trains `thrust.PPO(env_id, seed=s, **candidate)` (the env's preset under the candidate's
overrides) for the preset's whole budget, then evaluates the greedy policy on fresh envs
(`thrust.evaluate`, 100 episodes, evaluation seed 10,000 + s). A seed counts as solved when that
evaluation mean reaches the env's threshold. Wall time is the whole run (envs, model, training; not
the evaluation), measured with `time.perf_counter` in this process, one run at a time, beside the
process's CPU time (`time.process_time`; one thread: on a machine shared with other work it moves less
than the wall time, though still some); "to threshold" is the step and the wall time at which the
mean of the last 20 training episodes first reached the threshold (checked after every iteration).

    python benchmarks/tune.py                       # every preset, tuning seeds 100-109, validation seeds 200-209
    python benchmarks/tune.py --quick               # every preset, 3 + 3 seeds, 20 evaluation episodes
    python benchmarks/tune.py --env CartPole-v1 --seeds 100-109 \
        --grid '{"total_timesteps": [150000, 200000], "gae_lambda": [0.8, 0.9]}'
    python benchmarks/tune.py --env Pendulum-v1 --candidate '{}' --candidate '{"log_std_init": -1.0}'

Choose on the tuning seeds, then run the chosen candidate once on the validation seeds, which the
choice never saw; the learning tests (tests/test_ppo_learning.py) use other seeds again.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

import thrust
from thrust.presets import PPO_PRESETS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workers import seed_range  # noqa: E402

THRESHOLDS = {"CartPole-v1": 475.0, "Acrobot-v1": -100.0, "Pendulum-v1": -200.0, "MountainCarContinuous-v0": 90.0}
"""a seed solves the env when its greedy evaluation mean reaches this"""
WINDOW = 20


def run(env_id: str, seed: int, candidate: dict, episodes: int) -> dict:
    """Train one seed for the whole budget, evaluate it greedily; return its figures."""
    threshold, reached = THRESHOLDS[env_id], {}
    start, cpu_start = time.perf_counter(), time.process_time()

    def note_threshold(model, metrics):
        recent = list(model.recent_returns)[-WINDOW:]
        if not reached and len(recent) == WINDOW and sum(recent) / WINDOW >= threshold:
            reached.update(seconds=time.perf_counter() - start, steps=model.global_step)

    with thrust.PPO(env_id, seed=seed, **candidate) as model:
        model.learn(callback=note_threshold)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        result = thrust.evaluate(model, num_episodes=episodes, seed=10_000 + seed)
    return {"eval": result["mean_return"], "seconds": seconds, "cpu": cpu, "reached": reached}


def label(candidate: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in candidate.items()) or "preset"


def table_row(env_id: str, candidate: dict, seeds: range, runs: list[dict]) -> str:
    evals = [r["eval"] for r in runs]
    solved = sum(value >= THRESHOLDS[env_id] for value in evals)
    wall, cpu = statistics.mean(r["seconds"] for r in runs), statistics.mean(r["cpu"] for r in runs)
    reached = [r["reached"] for r in runs if r["reached"]]
    to_threshold = "–" if not reached else (f"{statistics.median(r['steps'] for r in reached):,.0f} steps, "
                                            f"{statistics.median(r['seconds'] for r in reached):.2f} s")
    return (f"| {env_id} | {label(candidate)} | {seeds.start}–{seeds.stop - 1} | {solved}/{len(runs)} "
            f"| {statistics.mean(evals):.1f} ± {statistics.pstdev(evals):.1f} | {min(evals):.1f} "
            f"| {wall:.2f} ({cpu:.2f}) | {to_threshold} ({len(reached)}/{len(runs)}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", action="append", help="env id (repeatable; default: every env with a PPO preset)")
    parser.add_argument("--candidate", action="append", type=json.loads, help="JSON overrides of the preset "
                        "(repeatable; default: the preset itself)")
    parser.add_argument("--grid", type=json.loads, default={}, help="JSON field → list of values; every "
                        "combination is applied over every candidate")
    parser.add_argument("--seeds", nargs="+", type=seed_range, help="seed ranges, one table block each "
                        "(default: 100-109 for tuning, 200-209 for validation)")
    parser.add_argument("--episodes", type=int, default=100, help="greedy evaluation episodes per seed")
    parser.add_argument("--quick", action="store_true", help="3 + 3 seeds and 20 evaluation episodes")
    args = parser.parse_args()
    env_ids = args.env or [env_id for env_id in PPO_PRESETS if env_id in THRESHOLDS]
    seed_sets = args.seeds or ([range(100, 103), range(200, 203)] if args.quick else [range(100, 110), range(200, 210)])
    episodes = 20 if args.quick else args.episodes
    grid = [dict(zip(args.grid, values, strict=True)) for values in itertools.product(*args.grid.values())]
    candidates = [{**candidate, **point} for candidate in (args.candidate or [{}]) for point in grid]

    rows = []
    for env_id, candidate, seeds in itertools.product(env_ids, candidates, seed_sets):
        runs = []
        for seed in seeds:
            runs.append(run(env_id, seed, candidate, episodes))
            print(f"{env_id} [{label(candidate)}] seed {seed}: eval {runs[-1]['eval']:.1f}, "
                  f"{runs[-1]['seconds']:.1f} s", file=sys.stderr, flush=True)
        rows.append(table_row(env_id, candidate, seeds, runs))

    command = shlex.join(["python", "benchmarks/tune.py", *sys.argv[1:]])
    print("### PPO presets across seeds: greedy evaluation after the whole budget\n")
    print(f"Command: `{command}`; {episodes} evaluation episodes per seed; solved: evaluation mean ≥ "
          + ", ".join(f"{env_id} {THRESHOLDS[env_id]:g}" for env_id in env_ids) + "\n")
    print("| env | candidate | seeds | solved | eval mean ± std over seeds | worst seed | wall s per run, mean (CPU s) "
          "| to threshold: last-20 training mean (median, runs) |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
