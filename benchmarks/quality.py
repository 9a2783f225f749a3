"""Learning quality of the PPO presets beside CleanRL's published figures: returns, wall time, learning curves.

Every run trains `thrust.PPO(env_id, seed=s, total_timesteps=steps)` (the env's preset; steps: the
table's, or the preset's own budget where the table gives none), one run at a time in this process,
then evaluates the greedy policy on 100 fresh episodes (`thrust.evaluate`, evaluation seed 10,000 + s).
Reported per env, mean ± std over seeds: that evaluation, the mean of the last 20 training episodes,
the wall time of training (envs, model, learning; not the evaluation) and its env steps per second.
CleanRL's figures are its openrlbenchmark results (last training episodes, mean ± std over seeds, at
the steps named). The learning curves (each iteration's mean training return, trailing mean of 5
iterations, against env steps and against wall time, mean and ± std band over seeds) go to
`docs/quality.png`.

    python benchmarks/quality.py                  # classic control at the presets' budgets, 3 seeds
    python benchmarks/quality.py --quick          # the same, 1 seed (a check of the script)
    python benchmarks/quality.py --full           # CleanRL's budgets, MuJoCo v5 and Atari too (days on a CPU)
    python benchmarks/quality.py --env Hopper-v5 --steps 1000000 --seeds 1-3
    python benchmarks/quality.py --wall-clock --env HalfCheetah-v5 --seeds 1-3 --plot docs/quality_mujoco.png

`--wall-clock` trains the MuJoCo envs with `thrust.presets.PPO_WALL_CLOCK_PRESETS` (16 EnvPool envs) instead of
the 1-env preset of CleanRL's protocol.

An env whose extra is not installed (MuJoCo, Atari) is skipped with a message naming the extra.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import thrust
from thrust.plot import draw_curves, save_figure, trailing_mean
from thrust.presets import PPO_WALL_CLOCK_PRESETS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workers import seed_range  # noqa: E402

CLEANRL = {
    "CartPole-v1": ("490 ± 6", 500_000),
    "Acrobot-v1": ("−86 ± 1", 500_000),
    "MountainCar-v0": ("−200 ± 0", 500_000),
    "HalfCheetah-v5": ("1443 ± 46", 1_000_000),
    "Hopper-v5": ("2383 ± 272", 1_000_000),
    "Walker2d-v5": ("2288 ± 572", 1_000_000),
    "ALE/Breakout-v5": ("415 ± 28", 10_000_000),
    "ALE/Pong-v5": ("20.4 ± 0.2", 10_000_000),
    "ALE/BeamRider-v5": ("1916 ± 484", 10_000_000),
}
"""env id → CleanRL's published return (mean ± std over seeds) and the steps it was measured at"""

FULL = [
    ("CartPole-v1", 500_000), ("Acrobot-v1", 500_000), ("MountainCar-v0", 500_000), ("Pendulum-v1", None),
    ("MountainCarContinuous-v0", None), ("HalfCheetah-v5", 1_000_000), ("Hopper-v5", 1_000_000),
    ("Walker2d-v5", 1_000_000), ("Ant-v5", None), ("Humanoid-v5", None), ("ALE/Breakout-v5", 10_000_000),
    ("ALE/Pong-v5", 10_000_000), ("ALE/BeamRider-v5", 10_000_000),
]
"""the full table: (env id, steps; None: the preset's budget), CleanRL's step counts where it has a figure"""
CLASSIC = [("CartPole-v1", None), ("Acrobot-v1", None), ("Pendulum-v1", None), ("MountainCarContinuous-v0", None)]
"""the default table, classic control at the presets' budgets: minutes on a 2-core CPU (`thrust bench` runs it)"""
WINDOW = 20
EPISODES = 100
PLOT = Path("docs/quality.png")


def available(env_id: str) -> str | None:
    """None if `env_id` can be made here, else why not (its optional extra is missing)."""
    try:
        thrust.make(env_id, num_envs=1).close()
    except (ImportError, gym.error.DependencyNotInstalled) as error:
        return f"{error}".splitlines()[0]
    return None


def settings_of(env_id: str, steps: int | None, wall_clock: bool) -> dict:
    """The hyperparameters over the env's preset: the wall-clock preset's, and the step budget if given."""
    settings = dict(PPO_WALL_CLOCK_PRESETS.get(env_id, {})) if wall_clock else {}
    if steps is not None:
        settings["total_timesteps"] = steps
    return settings


def warm_up(env_id: str, steps: int | None, wall_clock: bool) -> None:
    """One untimed iteration, so that numba's compilation and torch's first calls (seconds, once per process)
    land in no seed's wall time or curve."""
    with thrust.PPO(env_id, seed=0, **settings_of(env_id, steps, wall_clock)) as model:
        model.learn(total_timesteps=model.config.batch_size)


def run(env_id: str, seed: int, steps: int | None, wall_clock: bool = False) -> dict:
    """Train one seed, evaluate it greedily; its figures and its learning curve."""
    curve: dict[str, list[float]] = {"steps": [], "seconds": [], "values": []}
    start = time.perf_counter()

    def record(model, metrics):
        if "charts/episodic_return" in metrics:
            curve["steps"].append(model.global_step)
            curve["seconds"].append(time.perf_counter() - start)
            curve["values"].append(metrics["charts/episodic_return"])

    with thrust.PPO(env_id, seed=seed, **settings_of(env_id, steps, wall_clock)) as model:
        model.learn(callback=record)
        seconds = time.perf_counter() - start
        evaluation = thrust.evaluate(model, num_episodes=EPISODES, seed=10_000 + seed, sampled=False)
        recent = list(model.recent_returns)[-WINDOW:]
        total = model.global_step
    return {
        "eval": evaluation["mean_return"], "last": float(np.mean(recent)), "seconds": seconds, "sps": total / seconds,
        "steps": total, "curve": {key: np.array(values) for key, values in curve.items()},
    }


def mean_std(values: list[float], digits: int = 1) -> str:
    return f"{statistics.mean(values):.{digits}f} ± {statistics.pstdev(values):.{digits}f}"


def table_row(env_id: str, runs: list[dict]) -> str:
    reference, reference_steps = CLEANRL.get(env_id, ("–", None))
    at = f" at {reference_steps / 1e6:g}M" if reference_steps else ""
    return (f"| {env_id} | {runs[0]['steps']:,} | {len(runs)} | {mean_std([r['eval'] for r in runs])} "
            f"| {mean_std([r['last'] for r in runs])} | {reference}{at} | {mean_std([r['seconds'] for r in runs])} "
            f"| {statistics.mean(r['sps'] for r in runs):,.0f} |")


def plot(curves: dict[str, list[dict]], output: Path) -> None:
    """One row per env: its runs' curves against steps and against wall time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(curves), 2, figsize=(10, 2.6 * len(curves)), constrained_layout=True, squeeze=False)
    for row, (env_id, runs) in zip(axes, curves.items(), strict=True):
        smoothed = [{**c, "values": trailing_mean(c["values"], 5)} for c in runs]
        draw_curves(row, {env_id: smoothed}, "training return")
    fig.suptitle("PPO presets: training return (mean of 5 iterations), mean ± std over seeds\n"
                 "(time axis: the span every run covers)", fontsize=10)
    save_figure(fig, output, dpi=90)  # small enough to commit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", action="append", help="env id (repeatable; default: the table's)")
    parser.add_argument("--steps", type=int, help="env steps per run for every env (default: the table's)")
    parser.add_argument("--seeds", type=seed_range, help="seed range (default: 1-3; --quick: 1)")
    parser.add_argument("--quick", action="store_true", help="one seed")
    parser.add_argument("--full", action="store_true", help="CleanRL's budgets, with MuJoCo and Atari")
    parser.add_argument("--wall-clock", action="store_true", help="MuJoCo envs: the wall-clock preset")
    parser.add_argument("--plot", type=Path, default=PLOT, help="where the learning curves go")
    args = parser.parse_args()
    table = FULL if args.full else CLASSIC
    if args.env:  # the full table's steps for its envs, the preset's budget for others
        table = [(env_id, dict(FULL).get(env_id)) for env_id in args.env]
    seeds = args.seeds or range(1, 2 if args.quick else 4)

    rows, curves, skipped = [], {}, []
    load_start = os.getloadavg()[0]
    for env_id, steps in table:
        missing = available(env_id)
        if missing:
            print(f"skipping {env_id}: {missing}", file=sys.stderr, flush=True)
            skipped.append(f"{env_id} ({missing})")
            continue
        warm_up(env_id, args.steps or steps, args.wall_clock)
        runs = []
        for seed in seeds:
            runs.append(run(env_id, seed, args.steps or steps, args.wall_clock))
            print(f"{env_id} seed {seed}: eval {runs[-1]['eval']:.1f}, last-{WINDOW} {runs[-1]['last']:.1f}, "
                  f"{runs[-1]['seconds']:.1f} s", file=sys.stderr, flush=True)
        rows.append(table_row(env_id, runs))
        curves[env_id] = [r["curve"] for r in runs]
    if curves:
        plot(curves, args.plot)

    command = shlex.join(["python", "benchmarks/quality.py", *sys.argv[1:]])
    print("### Learning quality: PPO presets beside CleanRL\n")
    print(f"Command: `{command}`; seeds {seeds.start}–{seeds.stop - 1}, one run at a time on this machine; greedy "
          f"evaluation over {EPISODES} fresh episodes; training return: the last {WINDOW} training episodes; "
          f"mean ± std over seeds. Load average (1 min) at the start {load_start:.1f}, at the end "
          f"{os.getloadavg()[0]:.1f} (2 cores): wall times and SPS are comparable within a run only. Learning "
          f"curves: [{args.plot}]({args.plot}).\n")
    print(f"| env | steps | seeds | greedy evaluation | last-{WINDOW} training | CleanRL | wall s | SPS |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if skipped:
        print("\nSkipped (extra not installed): " + "; ".join(skipped))


if __name__ == "__main__":
    main()
