"""Learning tests: the presets solve their envs with fixed seeds (deterministic evaluation on fresh envs)."""

import pytest

import thrust


@pytest.mark.parametrize("env_id,threshold", [
    ("CartPole-v1", 475.0),
    ("Acrobot-v1", -100.0),
    ("Pendulum-v1", -250.0),  # continuous actions: Gaussian policy, obs normalization, reward scaling
])
def test_preset_solves(env_id, threshold):
    model = thrust.PPO(env_id, seed=1).learn()
    assert model.global_step == model.config.total_timesteps // model.config.batch_size * model.config.batch_size
    result = thrust.evaluate(model, num_episodes=50, seed=123)
    assert result["mean_return"] >= threshold, f"{env_id}: evaluation mean {result['mean_return']:.1f} < {threshold}"
