"""MuJoCo (the `mujoco` extra, installed by `make`): CleanRL's continuous-control presets, and PPO learning a
short MuJoCo task. The 1M-step figures of the presets are in BENCHMARKS.md (they take hours here)."""

import pytest

pytest.importorskip("mujoco")

import thrust  # noqa: E402
from thrust.presets import MUJOCO_ENV_IDS, PPO_WALL_CLOCK_PRESETS, preset  # noqa: E402

CLEANRL_CONTINUOUS = dict(total_timesteps=1_000_000, num_envs=1, num_steps=2048, learning_rate=3e-4, gamma=0.99,
                          gae_lambda=0.95, num_minibatches=32, update_epochs=10, ent_coef=0.0, normalize_obs=True,
                          normalize_reward=True, norm_adv="standardize")


def test_mujoco_presets_are_cleanrls_ppo_continuous_action_settings():
    assert MUJOCO_ENV_IDS == ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Ant-v5", "Humanoid-v5")
    for env_id in MUJOCO_ENV_IDS:
        assert preset("ppo", env_id) == CLEANRL_CONTINUOUS
        wall_clock = PPO_WALL_CLOCK_PRESETS[env_id]
        assert wall_clock["num_envs"] * wall_clock["num_steps"] == 2048 and wall_clock["backend"] == "envpool"


def test_the_halfcheetah_preset_runs_one_env_in_process():
    with thrust.PPO("HalfCheetah-v5", seed=1, num_steps=64, num_minibatches=4, total_timesteps=128) as model:
        assert (model.config.num_envs, model.env_spec.backend, model.config.anneal_lr) == (1, "serial", True)
        model.learn()
        assert model.global_step == 128 and model.obs_normalizer.count.item() > 128  # every step folded in
        assert model.reward_scaler.return_stats.count.item() > 128


INVERTED_PENDULUM = dict(num_envs=8, num_steps=64, learning_rate=1e-3, num_minibatches=4, update_epochs=10,
                         ent_coef=0.0, normalize_obs=True, total_timesteps=20_000, backend="serial")


@pytest.mark.parametrize("seed", [4, 5])
def test_ppo_balances_the_inverted_pendulum(seed):
    """InvertedPendulum-v5 (1000 for 1000 steps balanced): solved in 20K steps (settings tried on seeds 1-3)."""
    with thrust.PPO("InvertedPendulum-v5", seed=seed, **INVERTED_PENDULUM) as model:
        untrained = thrust.evaluate(model, num_episodes=10, seed=100 + seed)["mean_return"]
        model.learn()
        trained = thrust.evaluate(model, num_episodes=10, seed=100 + seed)["mean_return"]
    assert untrained < 100, untrained  # the negative control: a balanced pole comes from learning
    assert trained >= 950, f"seed {seed}: greedy evaluation {trained:.0f}"
