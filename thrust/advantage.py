"""Generalized advantage estimation, GAE(λ) (Schulman et al. 2016), with time limits handled correctly.

Inputs are `[T, N]` rollouts: `rewards[t]`, `terminations[t]` and `truncations[t]` are what `env.step`
returned at step `t`, `values[t]` is V(obs before step t). Three kinds of step:

- the episode goes on: δ_t = r_t + γ·V(obs_{t+1}) − V_t, and the trace continues with weight γλ;
- the episode terminated (a true end state): δ_t = r_t − V_t, the trace is cut;
- the episode was truncated (a time limit): δ_t = r_t + γ·V(final_obs_t) − V_t, the trace is cut.

`final_values[t]` holds V(final_obs_t) and is read only where `truncations[t]` is true (and not
`terminations[t]`: terminated wins). `next_values` is V of the observation after the last step.

`gae` picks the implementation: a compiled numba loop for numpy arrays and CPU tensors (zero-copy),
a torch loop over `T` for tensors on an accelerator.
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
