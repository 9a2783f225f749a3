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


def batched_update(stats: RunningMeanStd, batch: torch.Tensor) -> None:
    """The torch formula `update` runs for batches of several rows (and on accelerators)."""
    batch = batch.to(torch.float64)
    delta = batch.mean(0) - stats.mean
    total = stats.count + len(batch)
    stats.mean += delta * len(batch) / total
    m2 = stats.var * stats.count + batch.var(0, unbiased=False) * len(batch) \
        + delta.square() * stats.count * len(batch) / total
    stats.var.copy_(m2 / total)
    stats.count.copy_(total)


def test_the_one_row_kernel_gives_the_bits_of_the_batched_formula():
    """One env folds in one row per step through a numba kernel: bit for bit what the torch formula gives."""
    rng = np.random.default_rng(2)
    for shape in ((17,), (), (2, 3)):
        fast, reference = RunningMeanStd(shape), RunningMeanStd(shape)
        for step in range(300):
            row = rng.normal(rng.uniform(-50, 50), rng.uniform(0.01, 100), size=(1, *shape))
            row = torch.from_numpy(row.astype(np.float32) if step % 2 else row)
            fast.update(row)
            batched_update(reference, row)
        for name in ("mean", "var", "count"):
            assert torch.equal(getattr(fast, name), getattr(reference, name)), (shape, name)
    control = RunningMeanStd((3,))  # the comparison can fail: a row folded in twice differs
    batched_update(control, torch.ones(1, 3))
    batched_update(control, torch.ones(1, 3))
    assert not torch.equal(control.count, fast.count)


def test_the_normalization_kernel_gives_the_bits_of_the_torch_expression():
    rng = np.random.default_rng(3)
    normalizer = ObservationNormalizer((5,), clip=3.0)
    normalizer.update(torch.from_numpy(rng.normal(2.0, 4.0, size=(64, 5))))
    for dtype in (np.float64, np.float32):
        obs = torch.from_numpy(rng.normal(2.0, 8.0, size=(4, 5)).astype(dtype))
        obs[0, 0] = float("nan")
        expected = ((obs - normalizer.mean) * (normalizer.var + normalizer.epsilon).rsqrt()).clamp_(-3.0, 3.0).float()
        out = torch.empty(4, 5)
        normalizer(obs, out=out)
        assert torch.equal(out[1:], expected[1:]) and out[0, 0].isnan() and torch.equal(normalizer(obs)[1:], out[1:])
        assert out.abs().nan_to_num().max().item() == 3.0  # some clipped


def test_the_one_env_reward_kernel_gives_the_bits_of_the_numpy_lines():
    rng = np.random.default_rng(4)
    scaler, reference = RewardScaler(1, 0.99), RunningMeanStd(())
    returns = np.zeros(1)
    for step in range(400):
        rewards = (rng.normal(size=1) * 20).astype(np.float32)
        dones = rng.random(1) < 0.05
        scaled = scaler(rewards, dones)
        returns = returns * 0.99 + rewards
        batched_update(reference, torch.from_numpy(returns))
        returns[dones] = 0.0
        expected = np.clip(rewards * (1.0 / np.sqrt(reference.var.item() + 1e-8)), -10.0, 10.0).astype(np.float32)
        assert scaled.dtype == np.float32 and np.array_equal(scaled, expected), step
    assert np.array_equal(scaler.discounted_returns.numpy(), returns)
    assert torch.equal(scaler.return_stats.var, reference.var) and scaler.return_stats.count == reference.count
