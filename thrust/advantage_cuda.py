"""GAE and V-trace as CUDA kernels: one thread per env, walking its `T` steps backwards.

Each thread runs the CPU kernels' own per-step functions (`thrust.advantage.gae_step`, `vtrace_step`),
so the two targets compute alike (on a GPU, `exp` in V-trace may differ from the CPU's in the last bit).
`thrust.advantage.gae`/`vtrace` call these for CUDA tensors; under numba's CUDA simulator they take CPU
tensors (see `thrust.cuda`). Imported only where CUDA is asked for.

The scalars go in as NumPy float64: numba types a Python float as float64 wherever it meets a float32, where
NumPy (which runs the simulated kernels) would keep the float32; as float64 scalars both compute alike.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import cuda

from thrust.advantage import gae_step, vtrace_step
from thrust.cuda import device_array, launch

_gae_step = cuda.jit(device=True)(gae_step.py_func)  # they call no other jitted function
_vtrace_step = cuda.jit(device=True)(vtrace_step.py_func)


@cuda.jit
def _gae_kernel(rewards, values, terminations, truncations, final_values, next_values, gamma, gae_lambda,
                advantages):
    n = cuda.grid(1)
    num_steps = rewards.shape[0]
    if n < rewards.shape[1]:
        running = 0.0
        for t in range(num_steps - 1, -1, -1):
            next_value = next_values[n] if t == num_steps - 1 else values[t + 1, n]
            running = _gae_step(rewards[t, n], values[t, n], terminations[t, n], truncations[t, n],
                                final_values[t, n], next_value, gamma, gae_lambda, running)
            advantages[t, n] = running


@cuda.jit
def _vtrace_kernel(behaviour_logprobs, target_logprobs, rewards, values, terminations, truncations, final_values,
                   next_values, gamma, rho_bar, c_bar, gae_lambda, vs, pg_advantages):
    n = cuda.grid(1)
    num_steps = rewards.shape[0]
    if n < rewards.shape[1]:
        running = 0.0
        for t in range(num_steps - 1, -1, -1):
            next_value = next_values[n] if t == num_steps - 1 else values[t + 1, n]
            running, pg_advantage = _vtrace_step(
                behaviour_logprobs[t, n], target_logprobs[t, n], rewards[t, n], values[t, n], terminations[t, n],
                truncations[t, n], final_values[t, n], next_value, gamma, rho_bar, c_bar, gae_lambda, running,
            )
            pg_advantages[t, n] = pg_advantage
            vs[t, n] = values[t, n] + running


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
