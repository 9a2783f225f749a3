"""Advantage estimation with time limits handled correctly: GAE(λ) (Schulman et al. 2016) and the
off-policy V-trace targets of IMPALA (Espeholt et al. 2018).

Inputs are `[T, N]` rollouts: `rewards[t]`, `terminations[t]` and `truncations[t]` are what `env.step`
returned at step `t`, `values[t]` is V(obs before step t). Three kinds of step:

- the episode goes on: δ_t = r_t + γ·V(obs_{t+1}) − V_t, and the trace continues with weight γλ;
- the episode terminated (a true end state): δ_t = r_t − V_t, the trace is cut;
- the episode was truncated (a time limit): δ_t = r_t + γ·V(final_obs_t) − V_t, the trace is cut.

`final_values[t]` holds V(final_obs_t) and is read only where `truncations[t]` is true (and not
`terminations[t]`: terminated wins). `next_values` is V of the observation after the last step.

`gae` and `vtrace` pick the implementation: a compiled numba loop for numpy arrays and CPU tensors
(zero-copy), a numba CUDA kernel for CUDA tensors (one thread per env, computing each step as the CPU
loop does: `thrust.advantage_cuda`), a torch loop over `T` for tensors on another accelerator.
"""

from __future__ import annotations

import numba
import numpy as np
import torch


@numba.njit(cache=True, fastmath=False)
def _gae_kernel(
    rewards: np.ndarray,
    values: np.ndarray,
    terminations: np.ndarray,
    truncations: np.ndarray,
    final_values: np.ndarray,
    next_values: np.ndarray,
    gamma: float,
    gae_lambda: float,
    advantages: np.ndarray,
) -> None:
    # Steps outside, envs inside: the inner loop runs along a row of the row-major [T, N] arrays. The
    # running advantage of each env is kept in float64 (one small array per call, not per step), so
    # the float32 results do not depend on the loop order.
    num_steps, num_envs = rewards.shape
    running = np.zeros(num_envs)
    for t in range(num_steps - 1, -1, -1):
        for n in range(num_envs):
            if terminations[t, n]:
                running[n] = rewards[t, n] - values[t, n]
            elif truncations[t, n]:
                running[n] = rewards[t, n] + gamma * final_values[t, n] - values[t, n]
            else:
                next_value = next_values[n] if t == num_steps - 1 else values[t + 1, n]
                running[n] = rewards[t, n] + gamma * next_value - values[t, n] + gamma * gae_lambda * running[n]
            advantages[t, n] = running[n]


def _gae_torch(
    rewards: torch.Tensor,
    values: torch.Tensor,
    terminations: torch.Tensor,
    truncations: torch.Tensor,
    final_values: torch.Tensor,
    next_values: torch.Tensor,
    gamma: float,
    gae_lambda: float,
    advantages: torch.Tensor,
) -> None:
    """The same recursion, vectorized over envs: one small kernel group per step, no host sync."""
    continues = ~(terminations | truncations)
    # What a step bootstraps from: V(next obs) if the episode goes on, V(final obs) if truncated, 0 if terminated.
    bootstrap = torch.where(truncations & ~terminations, final_values, torch.zeros_like(final_values))
    last_advantage = torch.zeros_like(next_values)
    next_value = next_values
    for t in range(rewards.shape[0] - 1, -1, -1):
        bootstrap_t = torch.where(continues[t], next_value, bootstrap[t])
        delta = rewards[t] + gamma * bootstrap_t - values[t]
        last_advantage = delta + gamma * gae_lambda * continues[t] * last_advantage
        advantages[t] = last_advantage
        next_value = values[t]


def gae(
    rewards: np.ndarray | torch.Tensor,
    values: np.ndarray | torch.Tensor,
    terminations: np.ndarray | torch.Tensor,
    truncations: np.ndarray | torch.Tensor,
    final_values: np.ndarray | torch.Tensor,
    next_values: np.ndarray | torch.Tensor,
    gamma: float,
    gae_lambda: float,
    out: np.ndarray | torch.Tensor | None = None,
) -> np.ndarray | torch.Tensor:
    """GAE(λ) advantages `[T, N]` (returns are `advantages + values`), written into `out` if given.

    All arrays are `[T, N]` except `next_values` `[N]`; flags are booleans. Works on numpy arrays
    and torch tensors alike (all of one kind); the result has the type and dtype of `values`.
    """
    if not 0.0 <= gamma <= 1.0 or not 0.0 <= gae_lambda <= 1.0:
        raise ValueError(f"gamma and gae_lambda must lie in [0, 1], got {gamma} and {gae_lambda}")
    shape = tuple(values.shape)
    if len(shape) != 2:
        raise ValueError(f"values must have shape [T, N], got {shape}")
    for name, array in (("rewards", rewards), ("terminations", terminations), ("truncations", truncations),
                        ("final_values", final_values)):
        if tuple(array.shape) != shape:
            raise ValueError(f"{name} must have shape {shape} like values, got {tuple(array.shape)}")
    if tuple(next_values.shape) != shape[1:]:
        raise ValueError(f"next_values must have shape {shape[1:]}, got {tuple(next_values.shape)}")

    if isinstance(values, torch.Tensor):
        if out is None:
            out = torch.empty_like(values)
        if values.device.type == "cuda":
            from thrust.advantage_cuda import gae_cuda  # numba's CUDA target: imported only when asked for

            gae_cuda(rewards, values, terminations.bool(), truncations.bool(), final_values, next_values,
                     gamma, gae_lambda, out)
            return out
        if values.device.type != "cpu":
            _gae_torch(rewards, values, terminations.bool(), truncations.bool(), final_values, next_values,
                       float(gamma), float(gae_lambda), out)
            return out
        arrays = [x.numpy() for x in (rewards, values, terminations, truncations, final_values, next_values, out)]
    else:
        if out is None:
            out = np.empty_like(values)
        arrays = [rewards, values, terminations, truncations, final_values, next_values, out]
    rewards_a, values_a, terminations_a, truncations_a, final_values_a, next_values_a, out_a = arrays
    _gae_kernel(rewards_a, values_a, terminations_a, truncations_a, final_values_a, next_values_a,
                float(gamma), float(gae_lambda), out_a)
    return out


@numba.njit(cache=True, fastmath=False)
def _vtrace_kernel(
    behaviour_logprobs: np.ndarray,
    target_logprobs: np.ndarray,
    rewards: np.ndarray,
    values: np.ndarray,
    terminations: np.ndarray,
    truncations: np.ndarray,
    final_values: np.ndarray,
    next_values: np.ndarray,
    gamma: float,
    rho_bar: float,
    c_bar: float,
    gae_lambda: float,
    vs: np.ndarray,
    pg_advantages: np.ndarray,
) -> None:
    # Laid out like _gae_kernel: steps outside, envs inside, and the running vs_t − V(x_t) of each env
    # in float64 (one N-array per call); every step's arithmetic is done in float64.
    num_steps, num_envs = rewards.shape
    running = np.zeros(num_envs)
    for t in range(num_steps - 1, -1, -1):
        for n in range(num_envs):
            ratio = np.exp(np.float64(target_logprobs[t, n]) - np.float64(behaviour_logprobs[t, n]))
            rho = min(rho_bar, ratio)
            reward = np.float64(rewards[t, n])
            value = np.float64(values[t, n])
            if terminations[t, n]:
                next_value = 0.0
                next_vs = 0.0
                trace = 0.0
            elif truncations[t, n]:
                next_value = np.float64(final_values[t, n])
                next_vs = next_value
                trace = 0.0
            else:
                next_value = np.float64(next_values[n] if t == num_steps - 1 else values[t + 1, n])
                # running[n] still holds vs_{t+1} − V(x_{t+1}); it is 0 after the last step (vs_T = V(x_T)).
                next_vs = next_value + running[n]
                trace = gamma * gae_lambda * min(c_bar, ratio) * running[n]
            pg_advantages[t, n] = rho * (reward + gamma * next_vs - value)
            running[n] = rho * (reward + gamma * next_value - value) + trace
            vs[t, n] = value + running[n]


def _vtrace_torch(
    behaviour_logprobs: torch.Tensor,
    target_logprobs: torch.Tensor,
    rewards: torch.Tensor,
    values: torch.Tensor,
    terminations: torch.Tensor,
    truncations: torch.Tensor,
    final_values: torch.Tensor,
    next_values: torch.Tensor,
    gamma: float,
    rho_bar: float,
    c_bar: float,
    gae_lambda: float,
    vs: torch.Tensor,
    pg_advantages: torch.Tensor,
) -> None:
    """The same recursion, vectorized over envs: one small kernel group per step, no host sync."""
    with torch.no_grad():
        ratios = torch.exp(target_logprobs - behaviour_logprobs)
        rhos = torch.clamp(ratios, max=rho_bar)
        cs = gae_lambda * torch.clamp(ratios, max=c_bar)
        continues = ~(terminations | truncations)
        # What a step bootstraps from at an episode end: V(final obs) if truncated, 0 if terminated.
        bootstrap = torch.where(truncations & ~terminations, final_values, torch.zeros_like(final_values))
        running = torch.zeros_like(next_values)  # vs_{t+1} − V(x_{t+1})
        next_value = next_values
        for t in range(rewards.shape[0] - 1, -1, -1):
            next_value_t = torch.where(continues[t], next_value, bootstrap[t])
            next_vs_t = torch.where(continues[t], next_value + running, bootstrap[t])
            pg_advantages[t] = rhos[t] * (rewards[t] + gamma * next_vs_t - values[t])
            running = rhos[t] * (rewards[t] + gamma * next_value_t - values[t]) + gamma * cs[t] * continues[t] * running
            vs[t] = values[t] + running
            next_value = values[t]


def _check_values(values) -> tuple:
    """`values`' kind (numpy or torch), its [T, N] shape and float dtype; ValueError otherwise."""
    is_tensor = isinstance(values, torch.Tensor)
    if not is_tensor and not isinstance(values, np.ndarray):
        raise ValueError(f"values must be a numpy array or a torch tensor, got {type(values).__name__}")
    if values.ndim != 2:
        raise ValueError(f"values must have shape [T, N], got {tuple(values.shape)}")
    on_accelerator = is_tensor and values.device.type != "cpu"
    if on_accelerator:
        floating = values.dtype.is_floating_point
    else:
        floating = values.dtype in ((torch.float32, torch.float64) if is_tensor else (np.float32, np.float64))
    if not floating:
        kinds = "a floating-point dtype" if on_accelerator else "float32 or float64"
        raise ValueError(f"values must have {kinds}, got {values.dtype}")
    return (torch.Tensor, "torch tensor", torch.bool) if is_tensor else (np.ndarray, "numpy array", np.bool_)


def _check_vtrace_inputs(arrays: dict, out) -> tuple:
    """ValueError naming the argument for a wrong kind, shape, dtype or device; returns the two outputs."""
    values = arrays["values"]
    kind, kind_name, bool_dtype = _check_values(values)
    shape, dtype = tuple(values.shape), values.dtype

    def check(name, array, expected_shape, expected_dtype):
        if not isinstance(array, kind):
            raise ValueError(f"{name} must be a {kind_name} like values, got {type(array).__name__}")
        if tuple(array.shape) != expected_shape:
            raise ValueError(f"{name} must have shape {expected_shape}, got {tuple(array.shape)}")
        if array.dtype != expected_dtype:
            like = "" if expected_dtype == bool_dtype else " like values"
            raise ValueError(f"{name} must have dtype {expected_dtype}{like}, got {array.dtype}")
        if kind is torch.Tensor and array.device != values.device:
            raise ValueError(f"{name} must be on {values.device} like values, got {array.device}")

    for name, array in arrays.items():
        if name in ("terminations", "truncations"):
            check(name, array, shape, bool_dtype)
        else:
            check(name, array, shape[1:] if name == "next_values" else shape, dtype)
    if out is None:
        empty = torch.empty_like if kind is torch.Tensor else np.empty_like
        return empty(values), empty(values)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise ValueError(f"out must be a pair (vs, pg_advantages) of [T, N] arrays, got {type(out).__name__}")
    if out[0] is out[1]:
        raise ValueError("out must hold two distinct arrays for vs and pg_advantages, got the same one twice")
    check("out[0] (vs)", out[0], shape, dtype)
    check("out[1] (pg_advantages)", out[1], shape, dtype)
    return out[0], out[1]


def vtrace(
    behaviour_logprobs: np.ndarray | torch.Tensor,
    target_logprobs: np.ndarray | torch.Tensor,
    rewards: np.ndarray | torch.Tensor,
    values: np.ndarray | torch.Tensor,
    terminations: np.ndarray | torch.Tensor,
    truncations: np.ndarray | torch.Tensor,
    final_values: np.ndarray | torch.Tensor,
    next_values: np.ndarray | torch.Tensor,
    gamma: float,
    rho_bar: float = 1.0,
    c_bar: float = 1.0,
    gae_lambda: float = 1.0,
    out: tuple | None = None,
) -> tuple:
    """V-trace targets and policy-gradient advantages (Espeholt et al. 2018), `(vs, pg_advantages)`, both `[T, N]`.

    `behaviour_logprobs[t]` is log μ(a_t | x_t) under the policy that acted, `target_logprobs[t]` is
    log π(a_t | x_t) under the policy being learned; the other arguments are those of `gae`.
    With ρ_t = min(ρ̄, π/μ), c_t = λ·min(c̄, π/μ) and δ_t = ρ_t (r_t + γ V(x_{t+1}) − V(x_t)):

        vs_t − V(x_t) = δ_t + γ c_t (vs_{t+1} − V(x_{t+1})),
        pg_advantages_t = ρ_t (r_t + γ vs_{t+1} − V(x_t)).

    Episode ends as in `gae`: at a termination V(x_{t+1}) and vs_{t+1} are 0; at a truncation both are
    `final_values[t]` (terminated wins where both flags are set); the trace is cut at either. After the
    last step V(x_T) = vs_T = `next_values`. With π = μ and ρ̄, c̄ ≥ 1, vs − V is `gae(..., gae_lambda)`.

    All inputs are numpy arrays or torch tensors alike, floats of one dtype (float32 or float64 on the
    CPU) on one device, flags bool. `out`, if given, is a pair `(vs, pg_advantages)` of distinct `[T, N]`
    arrays of that kind, dtype and device, not aliasing an input; the results are written there and
    the same pair is returned. The outputs are targets: no gradient flows through them.
    """
    if not 0.0 <= gamma <= 1.0 or not 0.0 <= gae_lambda <= 1.0:
        raise ValueError(f"gamma and gae_lambda must lie in [0, 1], got {gamma} and {gae_lambda}")
    if not rho_bar > 0.0 or not c_bar > 0.0:
        raise ValueError(f"rho_bar and c_bar must be positive (inf: no clipping), got {rho_bar} and {c_bar}")
    inputs = dict(behaviour_logprobs=behaviour_logprobs, target_logprobs=target_logprobs, rewards=rewards,
                  values=values, terminations=terminations, truncations=truncations, final_values=final_values,
                  next_values=next_values)
    vs, pg_advantages = _check_vtrace_inputs(inputs, out)
    scalars = (float(gamma), float(rho_bar), float(c_bar), float(gae_lambda))
    if isinstance(values, torch.Tensor):
        if values.device.type == "cuda":
            from thrust.advantage_cuda import vtrace_cuda  # numba's CUDA target: imported only when asked for

            vtrace_cuda(*inputs.values(), *scalars, vs, pg_advantages)
            return vs, pg_advantages
        if values.device.type != "cpu":
            _vtrace_torch(*inputs.values(), *scalars, vs, pg_advantages)
            return vs, pg_advantages
        # Views of the same memory (detached: the kernel reads numbers, not graphs), no copies.
        arrays = [x.detach().numpy() for x in (*inputs.values(), vs, pg_advantages)]
    else:
        arrays = [*inputs.values(), vs, pg_advantages]
    _vtrace_kernel(*arrays[:8], *scalars, *arrays[8:])
    return vs, pg_advantages
