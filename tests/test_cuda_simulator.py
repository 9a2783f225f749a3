"""The CUDA kernels on the CPU: tests/cuda under numba's CUDA simulator, in a subprocess (numba reads
NUMBA_ENABLE_CUDASIM once, when it is imported, so this process's numba is left as it is); and what
`device="cuda"` says where it cannot run."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

import thrust
from thrust.cuda import cuda_available

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", reason="already under the simulator")
def test_cuda_kernels_under_the_simulator():
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(ROOT / "tests" / "cuda"), "-q", "-rs", "-o", "addopts=",
         "-p", "no:cacheprovider"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert " passed" in result.stdout, result.stdout[-2000:]
    skips = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert all("a GPU" in line for line in skips), skips  # only the tests of CUDA tensors


@pytest.mark.skipif(cuda_available(), reason="CUDA (or its simulator) is available here")
def test_device_cuda_without_cuda_says_how_to_get_it():
    with pytest.raises(RuntimeError, match="NUMBA_ENABLE_CUDASIM=1"):
        thrust.make("CartPole-v1", 4, device="cuda")


def test_device_cuda_needs_a_native_env():
    with pytest.raises(ValueError, match="runs native envs only, and 'Taxi-v4' has none"):
        thrust.make("Taxi-v4", 4, device="cuda")
    with pytest.raises(ValueError, match="backend must be 'auto', not 'serial'"):
        thrust.make("CartPole-v1", 4, device="cuda", backend="serial")
    with pytest.raises(ValueError, match="device must be 'cpu' or 'cuda'"):
        thrust.make("CartPole-v1", 4, device="tpu")


def test_algorithms_that_step_numpy_envs_refuse_gpu_envs():
    with pytest.raises(ValueError, match="IMPALA steps numpy envs"):
        thrust.IMPALA("CartPole-v1", backend="cuda", num_envs=4)
