"""PPO trains unchanged on the multiprocessing backend, bit for bit as on the serial one."""

import pytest
import torch

import thrust

ppo = pytest.importorskip("thrust.algorithms.ppo")

SHORT = dict(num_steps=32, total_timesteps=4 * 32 * 3, num_minibatches=2, update_epochs=2)


def train(backend: str, **options):
    envs = thrust.make("CartPole-v1", num_envs=4, backend=backend, **options)
    try:
        return ppo.PPO(envs, seed=3, **SHORT).learn()
    finally:
        envs.close()


def test_ppo_on_multiprocessing_matches_serial():
    # PPO's learn() sets these; set them before either agent is built so both start from the same state.
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    serial = train("serial")
    parallel = train("multiprocessing", num_workers=2)
    assert parallel.global_step == SHORT["total_timesteps"] and parallel.config.env_id == "CartPole-v1"
    assert len(parallel.recent_returns) > 5
    assert list(parallel.recent_returns) == list(serial.recent_returns)
    for a, b in zip(parallel.policy.parameters(), serial.policy.parameters(), strict=True):
        assert torch.equal(a, b)
