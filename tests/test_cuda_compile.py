"""The CUDA kernels of every native env, the example env and GAE/V-trace compile to PTX for an H100/H200
(sm_90) with NVIDIA's numba-cuda and a CUDA toolkit: no GPU needed, so this runs wherever those are
installed (it skips where numba's CUDA target is numba's built-in one, or no toolkit is found)."""

import importlib.util
import sys
import types
from pathlib import Path

import gymnasium as gym
import numba
import pytest
from numba import cuda

if numba.config.ENABLE_CUDASIM or getattr(cuda, "implementation", "Built-in") != "NVIDIA":
    pytest.skip("needs NVIDIA's numba-cuda as numba.cuda (pip install 'thrust-rl[gpu]'), not the simulator",
                allow_module_level=True)

from thrust.advantage_cuda import _gae_kernel, _vtrace_kernel  # noqa: E402
from thrust.envs import registry  # noqa: E402
from thrust.envs.native_cuda import cuda_kernels  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "native_gridworld.py"
SM_90 = (9, 0)
t = numba.types


@pytest.fixture(autouse=True)
def a_device_of_sm_90(monkeypatch):
    """Device functions compile for the current device: without a GPU, say it is an sm_90 one."""
    if not cuda.is_available():
        monkeypatch.setattr(numba.cuda.dispatcher, "get_current_device",
                            lambda: types.SimpleNamespace(compute_capability=SM_90))


def compile_ptx(kernel, signature) -> str:
    try:
        return cuda.compile_ptx(kernel.py_func, signature, cc=SM_90)[0]
    except Exception as error:  # the toolkit: NVRTC / NVVM not found
        if "libnvrtc" in str(error) or "NVVM" in str(error) or "libnvvm" in str(error):
            pytest.skip(f"no CUDA toolkit found to compile with: {str(error)[:200]}")
        raise


def env_classes():
    spec = importlib.util.spec_from_file_location("native_gridworld", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["native_gridworld"] = module
    spec.loader.exec_module(module)
    return dict(registry)


@pytest.mark.parametrize("env_id", [*sorted(registry), "GridWorld-v0"])
def test_env_kernels_compile_for_sm_90(env_id):
    cls = env_classes()[env_id]
    kernels = cuda_kernels(cls)
    discrete = isinstance(cls.single_action_space, gym.spaces.Discrete)
    actions = t.int64[::1] if discrete else getattr(t, str(cls.single_action_space.dtype))[:, ::1]
    obs = getattr(t, str(cls.single_observation_space.dtype))[:, ::1]
    states, streams = t.float64[:, ::1], t.uint64[:, ::1]
    step = (states, streams, actions, obs, t.float32[::1], t.boolean[::1], t.boolean[::1], obs, t.boolean[::1],
            t.float64[::1], t.int64[::1], t.float64[::1], t.int64[::1], t.int64, t.int64[::1])
    assert ".entry" in compile_ptx(kernels["step"], step)
    assert ".entry" in compile_ptx(kernels["reset_all"], (states, streams, obs))


@pytest.mark.parametrize("dtype", [t.float32, t.float64])
def test_advantage_kernels_compile_for_sm_90(dtype):
    values, flags, scalar = dtype[:, ::1], t.boolean[:, ::1], t.float64
    gae = (values, values, flags, flags, values, dtype[::1], scalar, scalar, values)
    assert ".entry" in compile_ptx(_gae_kernel, gae)
    vtrace = (values, values, values, values, flags, flags, values, dtype[::1], scalar, scalar, scalar, scalar, values,
              values)
    assert ".entry" in compile_ptx(_vtrace_kernel, vtrace)
