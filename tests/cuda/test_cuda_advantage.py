"""GAE and V-trace CUDA kernels against the CPU kernels, on rollouts with terminations, truncations and both."""

import numpy as np
import pytest
import torch
from cuda_target import SIMULATED, requires_cuda_target

from thrust.advantage import gae, vtrace
from thrust.advantage_cuda import gae_cuda, vtrace_cuda
from thrust.cuda import tensor_device

pytestmark = requires_cuda_target


def rollout(dtype: np.dtype, seed: int, num_steps: int = 40, num_envs: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = (num_steps, num_envs)
    terminations = rng.random(shape) < 0.1
    truncations = rng.random(shape) < 0.1  # some steps both: terminated wins
    behaviour = rng.normal(size=shape).astype(dtype)
    return {
        "behaviour_logprobs": behaviour, "target_logprobs": (behaviour + 0.5 * rng.normal(size=shape)).astype(dtype),
        "rewards": rng.normal(size=shape).astype(dtype), "values": rng.normal(size=shape).astype(dtype),
        "terminations": terminations, "truncations": truncations,
        "final_values": rng.normal(size=shape).astype(dtype), "next_values": rng.normal(size=num_envs).astype(dtype),
    }


def on_device(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {key: torch.from_numpy(value).to(tensor_device()) for key, value in arrays.items()}


def compare(got: torch.Tensor, expected: np.ndarray) -> None:
    if SIMULATED:
        np.testing.assert_array_equal(got.cpu().numpy(), expected)
    else:  # CUDA's exp may differ from the CPU's in the last bit
        np.testing.assert_allclose(got.cpu().numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("seed", [0, 1])
def test_gae_kernel_matches_the_cpu_kernel(dtype, seed):
    arrays = rollout(dtype, seed)
    inputs = {key: arrays[key] for key in ("rewards", "values", "terminations", "truncations", "final_values",
                                             "next_values")}
    expected = gae(**inputs, gamma=0.99, gae_lambda=0.95)
    device = on_device(inputs)
    advantages = torch.full_like(device["values"], float("nan"))
    gae_cuda(**device, gamma=0.99, gae_lambda=0.95, advantages=advantages)
    compare(advantages, expected)
    assert not np.array_equal(expected, gae(**inputs, gamma=0.99, gae_lambda=0.9))  # λ matters: not a constant


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("clip", [1.0, 0.5])
def test_vtrace_kernel_matches_the_cpu_kernel(dtype, clip):
    arrays = rollout(dtype, seed=2)
    expected_vs, expected_pg = vtrace(**arrays, gamma=0.99, rho_bar=clip, c_bar=clip, gae_lambda=0.95)
    device = on_device(arrays)
    vs, pg = torch.full_like(device["values"], float("nan")), torch.full_like(device["values"], float("nan"))
    vtrace_cuda(**device, gamma=0.99, rho_bar=clip, c_bar=clip, gae_lambda=0.95, vs=vs, pg_advantages=pg)
    compare(vs, expected_vs)
    compare(pg, expected_pg)


@pytest.mark.skipif(SIMULATED, reason="CUDA tensors: a GPU")
def test_gae_and_vtrace_on_cuda_tensors_run_the_kernels():
    arrays = rollout(np.float32, seed=3)
    inputs = {key: arrays[key] for key in ("rewards", "values", "terminations", "truncations", "final_values",
                                             "next_values")}
    device = on_device(inputs)
    compare(gae(**device, gamma=0.99, gae_lambda=0.95), gae(**inputs, gamma=0.99, gae_lambda=0.95))
    vs, pg = vtrace(**on_device(arrays), gamma=0.99)
    expected_vs, expected_pg = vtrace(**arrays, gamma=0.99)
    compare(vs, expected_vs)
    compare(pg, expected_pg)
