"""GAE(λ) and V-trace: the compiled kernels and the torch paths against plain-Python definitions and analytic cases."""

import math

import numpy as np
import pytest
import torch

from thrust.advantage import gae, vtrace


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


# --- V-trace ---------------------------------------------------------------------------------------------------


def vtrace_reference(behaviour_logprobs, target_logprobs, rewards, values, terminations, truncations, final_values,
                     next_values, gamma, rho_bar, c_bar, gae_lambda):
    """V-trace from the paper's definition (Espeholt et al. 2018, eq. 1), one env at a time, in Python floats:

    vs_s = V(x_s) + Σ_{t=s}^{e} γ^(t−s) (Π_{i=s}^{t−1} c_i) δ_t, the sum stopping at the episode's end e
    (its first terminated or truncated step from s on, else the last step), with
    δ_t = ρ_t (r_t + γ V(x_{t+1}) − V(x_t)) where V(x_{t+1}) is 0 after a termination, V(final obs)
    after a truncation and next_values after the last step; pg_s = ρ_s (r_s + γ vs_{s+1} − V(x_s)) with
    vs_{s+1} bootstrapped the same way.
    """
    num_steps, num_envs = rewards.shape
    vs = np.zeros((num_steps, num_envs))
    pg_advantages = np.zeros((num_steps, num_envs))
    for n in range(num_envs):
        ratios = [math.exp(float(target_logprobs[t, n]) - float(behaviour_logprobs[t, n])) for t in range(num_steps)]
        rhos = [min(rho_bar, ratio) for ratio in ratios]
        cs = [gae_lambda * min(c_bar, ratio) for ratio in ratios]
        ended = [bool(terminations[t, n] or truncations[t, n]) for t in range(num_steps)]
        value = [float(values[t, n]) for t in range(num_steps)]

        def after(t, per_step, n=n):
            """What step t bootstraps from: 0, V(final obs), next_values, or per_step[t + 1]."""
            if terminations[t, n]:
                return 0.0
            if truncations[t, n]:
                return float(final_values[t, n])
            return float(next_values[n]) if t == num_steps - 1 else per_step[t + 1]

        deltas = [rhos[t] * (float(rewards[t, n]) + gamma * after(t, value) - value[t]) for t in range(num_steps)]
        for s in range(num_steps):
            end = next((t for t in range(s, num_steps) if ended[t]), num_steps - 1)
            vs[s, n] = value[s] + sum(gamma ** (t - s) * math.prod(cs[s:t]) * deltas[t] for t in range(s, end + 1))
        column = list(vs[:, n])
        for s in range(num_steps):
            pg_advantages[s, n] = rhos[s] * (float(rewards[s, n]) + gamma * after(s, column) - value[s])
    return vs, pg_advantages


def vtrace_rollout(num_steps=64, num_envs=7, seed=0, dtype=np.float32, end_rate=0.08):
    rng = np.random.default_rng(seed)
    rollout = random_rollout(num_steps, num_envs, seed)
    rollout["terminations"] = rng.random((num_steps, num_envs)) < end_rate
    rollout["truncations"] = rng.random((num_steps, num_envs)) < end_rate
    behaviour = rng.normal(-1.0, 0.5, size=(num_steps, num_envs))
    # log(π/μ) ~ N(0, 0.7): ratios from about 0.1 to 10, on both sides of every ρ̄ and c̄ tested.
    target = behaviour + rng.normal(0.0, 0.7, size=(num_steps, num_envs))
    rollout = {k: v.astype(dtype) if v.dtype != bool else v for k, v in rollout.items()}
    return dict(behaviour_logprobs=behaviour.astype(dtype), target_logprobs=target.astype(dtype), **rollout)


def on_policy(rollout):
    return {**rollout, "target_logprobs": rollout["behaviour_logprobs"].copy()}


def without_logprobs(rollout):
    return {k: v for k, v in rollout.items() if not k.endswith("logprobs")}


VTRACE_SETTINGS = [  # (gamma, rho_bar, c_bar, gae_lambda)
    (0.99, 1.0, 1.0, 1.0),
    (0.9, 1.0, 1.0, 0.95),
    (0.99, 0.5, 0.3, 0.9),  # both clips below most ratios
    (0.98, 2.0, 0.8, 1.0),  # ρ̄ above, c̄ below 1
    (0.95, 5.0, 3.0, 0.7),  # both above most ratios
    (1.0, math.inf, math.inf, 0.0),  # no clipping, one-step traces
]


@pytest.mark.parametrize("shape", [(64, 7), (1, 5), (23, 1), (40, 3)])
@pytest.mark.parametrize("gamma,rho_bar,c_bar,gae_lambda", VTRACE_SETTINGS)
def test_vtrace_numba_matches_definition(shape, gamma, rho_bar, c_bar, gae_lambda):
    rollout = vtrace_rollout(*shape, seed=shape[0] + shape[1])
    vs, pg_advantages = vtrace(**rollout, gamma=gamma, rho_bar=rho_bar, c_bar=c_bar, gae_lambda=gae_lambda)
    assert vs.dtype == pg_advantages.dtype == np.float32 and vs.shape == pg_advantages.shape == shape
    expected_vs, expected_pg = vtrace_reference(**rollout, gamma=gamma, rho_bar=rho_bar, c_bar=c_bar,
                                                gae_lambda=gae_lambda)
    np.testing.assert_allclose(vs, expected_vs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(pg_advantages, expected_pg, rtol=1e-5, atol=1e-5)


def test_vtrace_test_data_exercises_every_case():
    """The random rollouts above hold both kinds of end (and both at once), and ratios on both sides of the clips."""
    rollout = vtrace_rollout()
    assert rollout["terminations"].any() and rollout["truncations"].any()
    assert (rollout["terminations"] & rollout["truncations"]).any()
    assert (rollout["truncations"] & ~rollout["terminations"]).any()
    ratios = np.exp(rollout["target_logprobs"] - rollout["behaviour_logprobs"])
    for bar in (0.3, 0.5, 0.8, 1.0, 2.0, 3.0):
        assert (ratios < bar).mean() > 0.05 and (ratios > bar).mean() > 0.05
    # Long traces too: some env runs 20 steps without an episode end.
    ended = rollout["terminations"] | rollout["truncations"]
    assert any(not ended[t:t + 20, n].any() for t in range(44) for n in range(7))


def test_vtrace_numba_matches_definition_float64_without_episode_ends():
    rollout = vtrace_rollout(48, 3, seed=5, dtype=np.float64, end_rate=0.0)
    vs, pg_advantages = vtrace(**rollout, gamma=0.99, rho_bar=1.2, c_bar=0.9, gae_lambda=0.95)
    assert vs.dtype == np.float64
    expected_vs, expected_pg = vtrace_reference(**rollout, gamma=0.99, rho_bar=1.2, c_bar=0.9, gae_lambda=0.95)
    np.testing.assert_allclose(vs, expected_vs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pg_advantages, expected_pg, rtol=1e-12, atol=1e-12)


def test_vtrace_episode_ends_by_hand():
    """Two steps, three envs: terminated, truncated, going on at step 0; pg uses vs_{t+1}, δ uses V(x_{t+1})."""
    gamma = 0.9
    rollout = vtrace_rollout(num_steps=2, num_envs=3, seed=1)
    rollout["terminations"][:] = [[True, False, False], [False, False, False]]
    rollout["truncations"][:] = [[False, True, False], [False, False, False]]
    vs, pg = vtrace(**rollout, gamma=gamma, rho_bar=1.0, c_bar=1.0, gae_lambda=1.0)
    r, v, fv, nv = rollout["rewards"], rollout["values"], rollout["final_values"], rollout["next_values"]
    ratio = np.exp(rollout["target_logprobs"].astype(np.float64) - rollout["behaviour_logprobs"])
    rho, c = np.minimum(1.0, ratio), np.minimum(1.0, ratio)
    # The last step bootstraps from next_values.
    vs_1 = v[1] + rho[1] * (r[1] + gamma * nv - v[1])
    np.testing.assert_allclose(vs[1], vs_1, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pg[1], rho[1] * (r[1] + gamma * nv - v[1]), rtol=1e-5, atol=1e-6)
    # Step 0: nothing bootstrapped at the termination, V(final obs) at the truncation; the trace only goes on
    # in the third env, and there pg bootstraps from vs_1, not from V(x_1).
    delta_0 = rho[0] * (r[0] + gamma * np.array([0.0, fv[0, 1], v[1, 2]]) - v[0])
    expected_vs_0 = v[0] + delta_0 + np.array([0.0, 0.0, gamma * c[0, 2] * (vs_1[2] - v[1, 2])])
    np.testing.assert_allclose(vs[0], expected_vs_0, rtol=1e-5, atol=1e-6)
    expected_pg_0 = rho[0] * (r[0] + gamma * np.array([0.0, fv[0, 1], vs_1[2]]) - v[0])
    np.testing.assert_allclose(pg[0], expected_pg_0, rtol=1e-5, atol=1e-6)


def discounted_returns(rewards, terminations, truncations, final_values, next_values, gamma, **_):
    """Σ_k γ^k r_{t+k} to the episode's end, plus γ^(k+1) V(final obs) after a truncation or next_values at the end."""
    returns = np.zeros(rewards.shape)
    following = next_values.astype(np.float64)
    for t in reversed(range(rewards.shape[0])):
        following = np.where(terminations[t], 0.0, np.where(truncations[t], final_values[t], following))
        following = rewards[t] + gamma * following
        returns[t] = following
    return returns


@pytest.mark.parametrize("rho_bar,c_bar", [(1.0, 1.0), (2.0, 1.5), (math.inf, math.inf)])
def test_vtrace_on_policy_is_discounted_return_and_gae(rho_bar, c_bar):
    rollout = on_policy(vtrace_rollout(seed=7))
    gamma = 0.97
    vs, pg_advantages = vtrace(**rollout, gamma=gamma, rho_bar=rho_bar, c_bar=c_bar, gae_lambda=1.0)
    np.testing.assert_allclose(vs, discounted_returns(**rollout, gamma=gamma), rtol=1e-5, atol=1e-5)
    advantages = gae(**without_logprobs(rollout), gamma=gamma, gae_lambda=1.0)
    np.testing.assert_allclose(vs - rollout["values"], advantages, rtol=1e-5, atol=1e-5)
    # On-policy with λ = 1, r_t + γ vs_{t+1} − V(x_t) is vs_t − V(x_t) itself.
    np.testing.assert_allclose(pg_advantages, advantages, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("gae_lambda", [0.95, 0.5, 0.0])
def test_vtrace_on_policy_is_gae_for_any_lambda(gae_lambda):
    rollout = on_policy(vtrace_rollout(seed=8))
    vs, _ = vtrace(**rollout, gamma=0.99, rho_bar=1.0, c_bar=1.0, gae_lambda=gae_lambda)
    advantages = gae(**without_logprobs(rollout), gamma=0.99, gae_lambda=gae_lambda)
    np.testing.assert_allclose(vs - rollout["values"], advantages, rtol=1e-5, atol=1e-5)
    # With c̄ < 1 on-policy, c_t = λ c̄: GAE with λ c̄.
    vs, _ = vtrace(**rollout, gamma=0.99, rho_bar=1.0, c_bar=0.5, gae_lambda=gae_lambda)
    advantages = gae(**without_logprobs(rollout), gamma=0.99, gae_lambda=0.5 * gae_lambda)
    np.testing.assert_allclose(vs - rollout["values"], advantages, rtol=1e-5, atol=1e-5)


def to_tensors(rollout, dtype):
    return {k: torch.from_numpy(v).to(dtype) if v.dtype != bool else torch.from_numpy(v) for k, v in rollout.items()}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("gamma,rho_bar,c_bar,gae_lambda", VTRACE_SETTINGS)
def test_vtrace_torch_path_matches_numba_path(dtype, gamma, rho_bar, c_bar, gae_lambda):
    from thrust import advantage

    settings = dict(gamma=gamma, rho_bar=rho_bar, c_bar=c_bar, gae_lambda=gae_lambda)
    rollout = vtrace_rollout(seed=3)
    expected_vs, expected_pg = vtrace(**rollout, **settings)
    tensors = to_tensors(rollout, dtype)
    # The CPU tensor path goes through the numba kernel, writing straight into the given tensors ...
    out = (torch.empty(64, 7, dtype=dtype), torch.empty(64, 7, dtype=dtype))
    pointers = [x.data_ptr() for x in out]
    vs, pg_advantages = vtrace(**tensors, **settings, out=out)
    assert vs is out[0] and pg_advantages is out[1] and [x.data_ptr() for x in out] == pointers
    np.testing.assert_allclose(vs.numpy(), expected_vs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(pg_advantages.numpy(), expected_pg, rtol=1e-5, atol=1e-5)
    # ... and the accelerator path (run here on CPU tensors) computes the same numbers.
    torch_out = (torch.empty(64, 7, dtype=dtype), torch.empty(64, 7, dtype=dtype))
    advantage._vtrace_torch(*tensors.values(), gamma, rho_bar, c_bar, gae_lambda, *torch_out)
    np.testing.assert_allclose(torch_out[0].numpy(), expected_vs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(torch_out[1].numpy(), expected_pg, rtol=1e-5, atol=1e-5)


def test_vtrace_numpy_out_and_inputs_that_require_grad():
    rollout = vtrace_rollout(seed=9)
    expected_vs, expected_pg = vtrace(**rollout, gamma=0.99)
    out = (np.empty((64, 7), np.float32), np.empty((64, 7), np.float32))
    vs, pg_advantages = vtrace(**rollout, gamma=0.99, out=out)
    assert vs is out[0] and pg_advantages is out[1]
    np.testing.assert_array_equal(vs, expected_vs)
    np.testing.assert_array_equal(pg_advantages, expected_pg)
    # Values and log-probs fresh from the networks: the targets carry no gradient, on either path.
    tensors = to_tensors(rollout, torch.float32)
    for name in ("values", "target_logprobs", "next_values"):
        tensors[name].requires_grad_(True)
    vs, pg_advantages = vtrace(**tensors, gamma=0.99)
    assert not vs.requires_grad and not pg_advantages.requires_grad
    np.testing.assert_array_equal(vs.numpy(), expected_vs)
    from thrust import advantage

    torch_out = (torch.empty(64, 7), torch.empty(64, 7))
    advantage._vtrace_torch(*tensors.values(), 0.99, 1.0, 1.0, 1.0, *torch_out)
    assert not torch_out[0].requires_grad and not torch_out[1].requires_grad
    np.testing.assert_allclose(torch_out[0].numpy(), expected_vs, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_vtrace_cuda_path_matches_numba_path():
    rollout = vtrace_rollout(seed=4)
    expected_vs, expected_pg = vtrace(**rollout, gamma=0.99, rho_bar=1.0, c_bar=0.9, gae_lambda=0.95)
    tensors = {k: torch.from_numpy(v).cuda() for k, v in rollout.items()}
    vs, pg_advantages = vtrace(**tensors, gamma=0.99, rho_bar=1.0, c_bar=0.9, gae_lambda=0.95)
    assert vs.is_cuda and pg_advantages.is_cuda
    np.testing.assert_allclose(vs.cpu().numpy(), expected_vs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(pg_advantages.cpu().numpy(), expected_pg, rtol=1e-5, atol=1e-5)


ROLLOUT_NAMES = ["behaviour_logprobs", "target_logprobs", "rewards", "values", "terminations", "truncations",
                 "final_values", "next_values"]


@pytest.mark.parametrize("name", ROLLOUT_NAMES)
def test_vtrace_bad_shapes_are_rejected(name):
    rollout = vtrace_rollout()
    rollout[name] = rollout[name][:-1]
    with pytest.raises(ValueError, match=name if name != "values" else "must have shape"):
        vtrace(**rollout, gamma=0.99)
    tensors = to_tensors(rollout, torch.float32)
    with pytest.raises(ValueError, match=name if name != "values" else "must have shape"):
        vtrace(**tensors, gamma=0.99)


@pytest.mark.parametrize("name", ROLLOUT_NAMES)
def test_vtrace_bad_dtypes_and_kinds_are_rejected(name):
    # The floats must all have values' dtype (a float64 values names the first float32 argument), flags bool.
    match = "behaviour_logprobs must have dtype float64 like values" if name == "values" else f"{name} must have dtype"
    rollout = vtrace_rollout()
    wrong = np.float64 if rollout[name].dtype != bool else np.float32
    with pytest.raises(ValueError, match=match):
        vtrace(**{**rollout, name: rollout[name].astype(wrong)}, gamma=0.99)
    tensors = to_tensors(rollout, torch.float32)
    wrong = torch.float64 if tensors[name].dtype != torch.bool else torch.uint8
    with pytest.raises(ValueError, match=match.replace("float64", "torch.float64")):
        vtrace(**{**tensors, name: tensors[name].to(wrong)}, gamma=0.99)
    if name != "values":  # numpy and torch mixed
        with pytest.raises(ValueError, match=f"{name} must be a numpy array"):
            vtrace(**{**rollout, name: tensors[name]}, gamma=0.99)


def test_vtrace_bad_values_out_and_settings_are_rejected():
    rollout = vtrace_rollout()
    with pytest.raises(ValueError, match="values must have shape"):
        vtrace(**{**rollout, "values": rollout["values"][0]}, gamma=0.99)
    with pytest.raises(ValueError, match="values must have float32 or float64"):
        vtrace(**{**rollout, "values": rollout["values"].astype(np.int64)}, gamma=0.99)
    with pytest.raises(ValueError, match="values must be a numpy array or a torch tensor"):
        vtrace(**{**rollout, "values": rollout["values"].tolist()}, gamma=0.99)
    vs = np.empty((64, 7), np.float32)
    with pytest.raises(ValueError, match="out must be a pair"):
        vtrace(**rollout, gamma=0.99, out=vs)
    with pytest.raises(ValueError, match="two distinct"):
        vtrace(**rollout, gamma=0.99, out=(vs, vs))
    with pytest.raises(ValueError, match=r"out\[1\] \(pg_advantages\) must have shape"):
        vtrace(**rollout, gamma=0.99, out=(vs, np.empty((64, 6), np.float32)))
    with pytest.raises(ValueError, match=r"out\[0\] \(vs\) must have dtype"):
        vtrace(**rollout, gamma=0.99, out=(np.empty((64, 7)), vs))
    with pytest.raises(ValueError, match=r"out\[1\] \(pg_advantages\) must be a numpy array"):
        vtrace(**rollout, gamma=0.99, out=(vs, torch.empty(64, 7)))
    for settings, match in [(dict(gamma=1.5), "gamma"), (dict(gamma=0.99, gae_lambda=-0.1), "gae_lambda"),
                            (dict(gamma=0.99, rho_bar=0.0), "rho_bar"), (dict(gamma=0.99, c_bar=math.nan), "c_bar")]:
        with pytest.raises(ValueError, match=match):
            vtrace(**rollout, **settings)
