"""Learning tests: each classic-control preset solves its env on fresh seeds, counted as a success rate.

The presets were tuned with `benchmarks/tune.py` on seeds 100-109 and checked on seeds 200-209; the
seeds here (1-10; seed 1 is the README's) were never used to choose them. Each seed trains for the
preset's whole budget, one after another in this process, then the greedy policy is evaluated on fresh
envs (evaluation seed 10,000 + seed, as in the tuning and in benchmarks/quality.py). The seed counts are
what CI time allows: ten for CartPole (2 s a seed), fewer for the slower presets, whose figures over
seeds 1-10 (`python benchmarks/tune.py --env Acrobot-v1 --env MountainCarContinuous-v0 --env Pendulum-v1
--seeds 1-10`) are in the comments below and in BENCHMARKS.md.
"""

import pytest

import thrust

MEAN_TARGETS = {"Pendulum-v1": -200.0, "MountainCarContinuous-v0": 90.0}
"""issue 10's targets for the mean over seeds (seeds 1-10: Pendulum -189.7, MountainCarContinuous 94.8)"""


@pytest.mark.parametrize("env_id,seeds,threshold,required", [
    # issue 10's 9 of 10; seeds 1-10: 10 of 10 (the preset with standardized advantages, before it was retuned
    # on 100 other seeds: 8 of 10, seeds 2 and 8 at 255 and 352)
    ("CartPole-v1", range(1, 11), 475.0, 9),
    ("Acrobot-v1", range(1, 6), -100.0, 5),  # seeds 1-10: all between -82 and -90
    ("Pendulum-v1", range(1, 4), -200.0, 2),  # seeds 1-10: 9 of 10 (seed 9 -202.6), seed 3 at -199.9
    ("MountainCarContinuous-v0", range(1, 4), 90.0, 3),  # seeds 1-10: 10 of 10, the worst 93.8
])
def test_preset_solves_over_fresh_seeds(env_id, seeds, threshold, required):
    scores = {}
    for seed in seeds:
        with thrust.PPO(env_id, seed=seed) as model:
            model.learn()
            assert model.global_step == model.config.num_iterations * model.config.batch_size
            scores[seed] = thrust.evaluate(model, num_episodes=100, seed=10_000 + seed, sampled=False)["mean_return"]
    solved = sum(score >= threshold for score in scores.values())
    report = ", ".join(f"seed {seed} {score:.1f}" for seed, score in scores.items())
    assert solved >= required, f"{env_id}: {solved}/{len(scores)} seeds reach {threshold}: {report}"
    if env_id in MEAN_TARGETS:
        assert sum(scores.values()) / len(scores) >= MEAN_TARGETS[env_id], f"{env_id}: mean below target: {report}"
