"""GAE and V-trace as CUDA kernels: one thread per env, walking its `T` steps backwards.

Each thread computes a step exactly as the CPU kernels of `thrust.advantage` do (the same operations in the
same float types; the CPU kernels loop steps outside and envs inside, with the running value in a float64
array, and are kept as they are: calling a shared per-step function from them measured 25-40% slower, the
numba CPU loop then loading every input eagerly). The tests hold the two to the bit under numba's CUDA
simulator; on a GPU, V-trace's `exp` may differ from the CPU's in the last bit. `thrust.advantage.gae` and
`vtrace` call these for CUDA tensors; under the simulator they take CPU tensors (see `thrust.cuda`).
Imported only where CUDA is asked for.

The scalars go in as NumPy float64: numba types a Python float as float64 wherever it meets a float32, where
NumPy (which runs the simulated kernels) would keep the float32; as float64 scalars both compute alike.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import cuda

from thrust.cuda import device_array, launch


@cuda.jit
def _gae_kernel(rewards, values, terminations, truncations, final_values, next_values, gamma, gae_lambda,
                advantages):
    n = cuda.grid(1)
    num_steps = rewards.shape[0]
    if n < rewards.shape[1]:
        running = 0.0  # float64, as the CPU kernel's running advantages
        for t in range(num_steps - 1, -1, -1):
            if terminations[t, n]:
                running = rewards[t, n] - values[t, n]
            elif truncations[t, n]:
                running = rewards[t, n] + gamma * final_values[t, n] - values[t, n]
            else:
                next_value = next_values[n] if t == num_steps - 1 else values[t + 1, n]
                running = rewards[t, n] + gamma * next_value - values[t, n] + gamma * gae_lambda * running
            advantages[t, n] = running


@cuda.jit
def _vtrace_kernel(behaviour_logprobs, target_logprobs, rewards, values, terminations, truncations, final_values,
                   next_values, gamma, rho_bar, c_bar, gae_lambda, vs, pg_advantages):
    n = cuda.grid(1)
    num_steps = rewards.shape[0]
    if n < rewards.shape[1]:
        running = 0.0  # vs_{t+1} − V(x_{t+1}) in float64; 0 after the last step (vs_T = V(x_T))
        for t in range(num_steps - 1, -1, -1):
            ratio = math.exp(np.float64(target_logprobs[t, n]) - np.float64(behaviour_logprobs[t, n]))
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
                next_vs = next_value + running
                trace = gamma * gae_lambda * min(c_bar, ratio) * running
            pg_advantages[t, n] = rho * (reward + gamma * next_vs - value)
            running = rho * (reward + gamma * next_value - value) + trace
            vs[t, n] = value + running


def gae_cuda(rewards: torch.Tensor, values: torch.Tensor, terminations: torch.Tensor, truncations: torch.Tensor,
             final_values: torch.Tensor, next_values: torch.Tensor, gamma: float, gae_lambda: float,
             advantages: torch.Tensor) -> None:
    """GAE(λ) into `advantages` (arguments as `thrust.advantage.gae`'s, checked there; flags bool)."""
    arrays = [device_array(x.detach()) for x in (rewards, values, terminations, truncations, final_values,
                                                 next_values)]
    launch(_gae_kernel, values.shape[1], *arrays, np.float64(gamma), np.float64(gae_lambda), device_array(advantages))


def vtrace_cuda(behaviour_logprobs: torch.Tensor, target_logprobs: torch.Tensor, rewards: torch.Tensor,
                values: torch.Tensor, terminations: torch.Tensor, truncations: torch.Tensor,
                final_values: torch.Tensor, next_values: torch.Tensor, gamma: float, rho_bar: float, c_bar: float,
                gae_lambda: float, vs: torch.Tensor, pg_advantages: torch.Tensor) -> None:
    """V-trace into `vs` and `pg_advantages` (arguments as `thrust.advantage.vtrace`'s, checked there)."""
    arrays = [device_array(x.detach()) for x in (behaviour_logprobs, target_logprobs, rewards, values, terminations,
                                                 truncations, final_values, next_values)]
    scalars = (np.float64(gamma), np.float64(rho_bar), np.float64(c_bar), np.float64(gae_lambda))
    launch(_vtrace_kernel, values.shape[1], *arrays, *scalars, device_array(vs), device_array(pg_advantages))
