"""Running statistics of observation normalization and reward scaling, against plain numpy."""

import numpy as np
import torch

from thrust.normalize import ObservationNormalizer, RewardScaler, RunningMeanStd


def test_running_mean_std_matches_numpy_over_all_batches():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 3)) for n in (1, 7, 64, 5)]
    stats = RunningMeanStd((3,), epsilon=0.0)
    for batch in batches:
        stats.update(torch.from_numpy(batch))
    everything = np.concatenate(batches)
    np.testing.assert_allclose(stats.mean.numpy(), everything.mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats.var.numpy(), everything.var(0), rtol=1e-12)
    assert stats.count.item() == len(everything)


def test_observation_normalizer_scales_and_clips():
    normalizer = ObservationNormalizer((2,), clip=5.0)
    normalizer.update(torch.tensor([[0.0, 10.0], [2.0, 30.0]]))
    out = normalizer(torch.tensor([[1.0, 20.0], [1.0, 1e6]]))
    assert out.dtype == torch.float32
    torch.testing.assert_close(out[0], torch.zeros(2), atol=1e-3, rtol=0)
    assert out[1, 1].item() == 5.0  # clipped


def test_reward_scaler_divides_by_the_std_of_discounted_returns():
    rng = np.random.default_rng(1)
    gamma, num_envs = 0.9, 3
    scaler = RewardScaler(num_envs, gamma)
    reference = RunningMeanStd(())
    returns = np.zeros(num_envs)
    for _ in range(50):
        rewards = rng.normal(size=num_envs).astype(np.float32)
        dones = rng.random(num_envs) < 0.1
        scaled = scaler(rewards, dones)
        returns = returns * gamma + rewards  # the discounted return, restarted after every episode end
        reference.update(torch.from_numpy(returns.copy()))
        returns[dones] = 0.0
        expected = np.clip(rewards / np.sqrt(reference.var.item() + 1e-8), -10, 10)
        np.testing.assert_allclose(scaled, expected, rtol=1e-6)
        assert scaled.dtype == np.float32
