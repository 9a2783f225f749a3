"""Learning tests: the presets solve their envs on seeds they were not tuned on (greedy evaluation on fresh envs).

The presets were tuned with `benchmarks/tune.py` on seeds 100-109 and checked on seeds 200-209 (10 of
10 solved for CartPole and Acrobot, with the evaluation seeded as here); seed 1 is the README's.
"""

import pytest

import thrust


@pytest.mark.parametrize("env_id,seed,threshold", [
    *[("CartPole-v1", seed, 475.0) for seed in (1, 200, 201, 202)],
    *[("Acrobot-v1", seed, -100.0) for seed in (1, 203)],
    ("Pendulum-v1", 1, -250.0),  # continuous actions: Gaussian policy, obs normalization, reward scaling
])
def test_preset_solves(env_id, seed, threshold):
    with thrust.PPO(env_id, seed=seed) as model:
        model.learn()
        assert model.global_step == model.config.num_iterations * model.config.batch_size
        result = thrust.evaluate(model, num_episodes=100, seed=10_000 + seed)
    assert result["mean_return"] >= threshold, f"{env_id}, seed {seed}: evaluation mean {result['mean_return']:.1f}"
