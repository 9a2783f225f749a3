"""GAE(λ): the compiled kernel and the torch path against a plain-Python loop and analytic cases."""

import numpy as np
import pytest
import torch

from thrust.advantage import gae


def gae_reference(rewards, values, terminations, truncations, final_values, next_values, gamma, gae_lambda):
    """GAE written the obvious way, one env and one step at a time, in Python floats."""
    num_steps, num_envs = rewards.shape
    advantages = np.zeros((num_steps, num_envs))
    for n in range(num_envs):
        running = 0.0
        for t in reversed(range(num_steps)):
            next_value = float(next_values[n]) if t == num_steps - 1 else float(values[t + 1, n])
            if terminations[t, n]:
                target, trace = float(rewards[t, n]), 0.0
            elif truncations[t, n]:
                target, trace = float(rewards[t, n]) + gamma * float(final_values[t, n]), 0.0
            else:
                target, trace = float(rewards[t, n]) + gamma * next_value, gamma * gae_lambda * running
            running = target - float(values[t, n]) + trace
            advantages[t, n] = running
    return advantages


def random_rollout(num_steps=64, num_envs=7, seed=0):
    rng = np.random.default_rng(seed)
    return dict(
        rewards=rng.normal(size=(num_steps, num_envs)).astype(np.float32),
        values=rng.normal(size=(num_steps, num_envs)).astype(np.float32),
        terminations=rng.random((num_steps, num_envs)) < 0.08,
        truncations=rng.random((num_steps, num_envs)) < 0.08,
        final_values=rng.normal(size=(num_steps, num_envs)).astype(np.float32),
        next_values=rng.normal(size=num_envs).astype(np.float32),
    )


@pytest.mark.parametrize("gamma,gae_lambda", [(0.99, 0.95), (0.9, 1.0), (0.98, 0.0), (1.0, 0.8)])
def test_numba_matches_reference(gamma, gae_lambda):
    rollout = random_rollout()
    # Both kinds of end, and both at once, really occur in the data.
    assert rollout["terminations"].any() and rollout["truncations"].any()
    assert (rollout["terminations"] & rollout["truncations"]).any()
    advantages = gae(**rollout, gamma=gamma, gae_lambda=gae_lambda)
    assert advantages.dtype == np.float32
    expected = gae_reference(**rollout, gamma=gamma, gae_lambda=gae_lambda)
    np.testing.assert_allclose(advantages, expected, rtol=1e-5, atol=1e-5)


def test_truncation_bootstraps_and_termination_does_not():
    rollout = random_rollout(num_steps=1, num_envs=3)
    rollout["terminations"][:] = [[True, False, False]]
    rollout["truncations"][:] = [[False, True, False]]
    r, v, fv, nv = rollout["rewards"][0], rollout["values"][0], rollout["final_values"][0], rollout["next_values"]
    advantages = gae(**rollout, gamma=0.9, gae_lambda=0.95)[0]
    np.testing.assert_allclose(advantages, [r[0] - v[0], r[1] + 0.9 * fv[1] - v[1], r[2] + 0.9 * nv[2] - v[2]],
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_path_matches_numba_path(dtype):
    from thrust import advantage

    rollout = random_rollout(seed=3)
    expected = gae(**rollout, gamma=0.99, gae_lambda=0.95)
    tensors = {k: torch.from_numpy(v).to(dtype) if v.dtype != bool else torch.from_numpy(v) for k, v in rollout.items()}
    # The CPU tensor path goes through the numba kernel without copying ...
    out = torch.empty(64, 7, dtype=dtype)
    result = gae(**tensors, gamma=0.99, gae_lambda=0.95, out=out)
    assert result is out
    np.testing.assert_allclose(result.numpy(), expected, rtol=1e-5, atol=1e-5)
    # ... and the accelerator path (run here on CPU tensors) computes the same numbers.
    torch_out = torch.empty(64, 7, dtype=dtype)
    advantage._gae_torch(tensors["rewards"], tensors["values"], tensors["terminations"], tensors["truncations"],
                         tensors["final_values"], tensors["next_values"], 0.99, 0.95, torch_out)
    np.testing.assert_allclose(torch_out.numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_path_matches_numba_path():
    rollout = random_rollout(seed=4)
    expected = gae(**rollout, gamma=0.99, gae_lambda=0.95)
    tensors = {k: torch.from_numpy(v).cuda() for k, v in rollout.items()}
    result = gae(**tensors, gamma=0.99, gae_lambda=0.95)
    np.testing.assert_allclose(result.cpu().numpy(), expected, rtol=1e-5, atol=1e-5)


def test_constant_value_reward_at_episode_end():
    """V ≡ c, reward 1 only on the terminating step: the advantages in closed form, and Monte-Carlo at λ = 1."""
    num_steps, gamma, gae_lambda, c = 10, 0.9, 0.8, 0.5
    rewards = np.zeros((num_steps, 1), np.float32)
    rewards[-1] = 1.0
    terminations = np.zeros((num_steps, 1), bool)
    terminations[-1] = True
    values = np.full((num_steps, 1), c, np.float32)
    advantages = gae(rewards, values, terminations, np.zeros_like(terminations), np.zeros_like(values),
                     np.full(1, 123.0, np.float32), gamma, gae_lambda)[:, 0]
    # With λ = 1 the return is the discounted reward; with any λ, summing the δ's in closed form:
    # δ_t = γc − c for t < T−1, δ_{T−1} = 1 − c; A_t = Σ_k (γλ)^k δ_{t+k}.
    for t in range(num_steps):
        k_last = num_steps - 1 - t
        expected = sum((gamma * gae_lambda) ** k * (gamma * c - c) for k in range(k_last))
        expected += (gamma * gae_lambda) ** k_last * (1.0 - c)
        assert advantages[t] == pytest.approx(expected, rel=1e-5)
    # λ = 1: A_t + V_t is exactly the Monte-Carlo return γ^(T−1−t), whatever the value function.
    mc = gae(rewards, values, terminations, np.zeros_like(terminations), np.zeros_like(values),
             np.zeros(1, np.float32), gamma, 1.0)[:, 0] + c
    np.testing.assert_allclose(mc, gamma ** np.arange(num_steps - 1, -1, -1), rtol=1e-5)


def test_endless_task_with_truncation_converges_to_geometric_value():
    """Reward 1 forever, cut by a time limit: fitting V to GAE returns with bootstrapping gives 1/(1−γ).

    Without the bootstrap at truncation (treating the time limit as an end) V would converge to the
    mean discounted return of a 20-step episode instead, far below 1/(1−γ) = 10.
    """
    gamma, gae_lambda, episode_length, num_envs = 0.9, 0.95, 20, 4
    rewards = np.ones((episode_length, num_envs), np.float32)
    terminations = np.zeros((episode_length, num_envs), bool)
    truncations = np.zeros((episode_length, num_envs), bool)
    truncations[-1] = True
    value = 0.0  # V is a single number here: every state of the endless task is alike.
    for _ in range(300):
        values = np.full((episode_length, num_envs), value, np.float32)
        next_values = np.full(num_envs, value, np.float32)
        advantages = gae(rewards, values, terminations, truncations, values.copy(), next_values, gamma, gae_lambda)
        value = float((advantages + values).mean())
    assert value == pytest.approx(1.0 / (1.0 - gamma), rel=1e-4)


def test_bad_shapes_are_rejected():
    rollout = random_rollout()
    rollout["rewards"] = rollout["rewards"][:-1]
    with pytest.raises(ValueError, match="rewards"):
        gae(**rollout, gamma=0.99, gae_lambda=0.95)
    with pytest.raises(ValueError, match="gamma"):
        gae(**random_rollout(), gamma=1.5, gae_lambda=0.95)
