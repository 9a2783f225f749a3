"""PPO's defaults (an env without a preset): each advantage normalization (`norm_adv`) on a sparse reward
and on dense tasks.

Every run trains with PPO's defaults (`PPOConfig`, no preset), only `norm_adv` varied:

- **Before any reward**: FarCorner-v0 (thrust/envs/far_corner.py, a grid rewarded only at its far corner)
  with episodes too short to reach the corner, 25,600 steps; the policy's lowest entropy over the
  updates, against a uniform policy's ln 4 = 1.386.
- **The sparse task**: FarCorner-v0, 60,000 steps per seed, then 8 evaluation episodes with the most
  likely actions (greedy) and 8 with sampled ones; a seed arrives when every episode reached the corner.
- **Dense tasks**: CartPole-v1 and Acrobot-v1 with the defaults instead of their presets, 100,000 steps
  per seed; the greedy and the sampled evaluation mean (20 episodes each), mean over the seeds.

    python benchmarks/ppo_defaults.py                 # FarCorner seeds 1-20, dense seeds 1-5
    python benchmarks/ppo_defaults.py --seeds 50-59   # FarCorner on the learning test's seeds
    python benchmarks/ppo_defaults.py --quick         # 3 and 1 seeds, 20,000 dense steps
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import thrust
from thrust.envs import FarCorner
from thrust.envs.far_corner import SIZE
from thrust.storage import ADVANTAGE_NORMS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workers import machine_info, seed_range  # noqa: E402

SPARSE_STEPS = 60_000
NO_REWARD_STEPS = 25_600
SPARSE_EPISODES = 8
DENSE_ENVS = ("CartPole-v1", "Acrobot-v1")
DENSE_EPISODES = 20


def lowest_entropy(seed: int, norm_adv: str) -> float:
    """The policy's lowest entropy over the updates of a run that never sees a reward."""
    entropies: list[float] = []
    envs = FarCorner(num_envs=4, max_episode_steps=SIZE)  # the corner is 2 · (SIZE - 1) - 2 steps away or more
    with thrust.PPO(envs, env_id="FarCorner-v0", seed=seed, total_timesteps=NO_REWARD_STEPS,
                    norm_adv=norm_adv) as model:
        model.learn(callback=lambda _, metrics: entropies.append(metrics["losses/entropy"]))
    return min(entropies)


def evaluation(env_id: str, seed: int, norm_adv: str, steps: int, episodes: int) -> tuple[float, float]:
    """(greedy, sampled) evaluation means after training with PPO's defaults, the env's preset left out."""
    config = thrust.PPOConfig(env_id=env_id, seed=seed, total_timesteps=steps, norm_adv=norm_adv)
    with thrust.PPO(env_id, config=config) as model:
        model.learn()
        result = thrust.evaluate(model, num_episodes=episodes, seed=10_000 + seed)
    return result["mean_return"], result["sampled"]["mean_return"]


def span(seeds: range) -> str:
    """"seeds 1-5", or "seed 1" for one."""
    return f"seeds {seeds.start}-{seeds.stop - 1}" if len(seeds) > 1 else f"seed {seeds.start}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=seed_range, default=range(1, 21), help="FarCorner seeds (default: 1-20)")
    parser.add_argument("--quick", action="store_true", help="FarCorner seeds 1-3, one seed elsewhere")
    args = parser.parse_args()
    seeds = range(1, 4) if args.quick else args.seeds
    entropy_seeds = range(1, 2) if args.quick else range(1, 4)
    dense_seeds = range(1, 2) if args.quick else range(1, 6)
    dense_steps = 20_000 if args.quick else 100_000
    sparse_rows, dense_rows = [], []
    for norm_adv in ADVANTAGE_NORMS:
        start = time.perf_counter()
        entropies = [lowest_entropy(seed, norm_adv) for seed in entropy_seeds]
        results = {seed: evaluation("FarCorner-v0", seed, norm_adv, SPARSE_STEPS, SPARSE_EPISODES) for seed in seeds}
        print(f"FarCorner-v0 {norm_adv}: entropies {entropies}, evaluations {results}", file=sys.stderr, flush=True)
        misses = ", ".join(str(seed) for seed, (greedy, _) in results.items() if greedy < 1.0) or "none"
        sparse_rows.append(
            f"| {norm_adv} | {', '.join(f'{e:.2f}' for e in entropies)} | "
            f"{sum(greedy == 1.0 for greedy, _ in results.values())}/{len(seeds)} | "
            f"{sum(sampled == 1.0 for _, sampled in results.values())}/{len(seeds)} | {misses} | "
            f"{time.perf_counter() - start:.0f} |")
        for env_id in DENSE_ENVS:
            scores = [evaluation(env_id, seed, norm_adv, dense_steps, DENSE_EPISODES) for seed in dense_seeds]
            print(f"{env_id} {norm_adv}: evaluations {scores}", file=sys.stderr, flush=True)
            greedy = ", ".join(f"{g:.0f}" for g, _ in scores)
            dense_rows.append(f"| {env_id} | {norm_adv} | {statistics.mean(g for g, _ in scores):.1f} ({greedy}) | "
                              f"{statistics.mean(s for _, s in scores):.1f} |")
    command = "python benchmarks/ppo_defaults.py" + (" --quick" if args.quick else
                                                      f" --seeds {seeds.start}-{seeds.stop - 1}")
    print("### PPO's defaults: advantage normalization on a sparse reward and on dense tasks\n")
    print(f"Machine: {machine_info()}  ")
    print(f"Command: `{command}`; PPO's defaults (no preset), only `norm_adv` varied\n")
    print(f"FarCorner-v0 ({SIZE} × {SIZE} grid), {SPARSE_STEPS:,} steps a seed, {SPARSE_EPISODES} evaluation "
          f"episodes each greedy and sampled:\n")
    print(f"| norm_adv | lowest entropy without a reward ({span(entropy_seeds)}, "
          f"{NO_REWARD_STEPS:,} steps; uniform 1.39) | greedy arrival | sampled arrival | seeds not arriving "
          "greedily | wall s (with the entropy runs) |")
    print("|---|---|---|---|---|---|")
    print("\n".join(sparse_rows))
    print(f"\nDense tasks with the defaults instead of their presets, {dense_steps:,} steps, "
          f"{span(dense_seeds)}, {DENSE_EPISODES} evaluation episodes each:\n")
    print("| env | norm_adv | greedy evaluation, mean (per seed) | sampled evaluation, mean |")
    print("|---|---|---|---|")
    print("\n".join(sorted(dense_rows, key=lambda row: row.split("|")[1])))


if __name__ == "__main__":
    main()
