"""What the CUDA tests run on: a GPU, or numba's CUDA simulator (tests/test_cuda_simulator.py runs this folder
in a subprocess with NUMBA_ENABLE_CUDASIM=1); without either, the tests here skip."""

import pytest

from thrust.cuda import cuda_available, simulated

SIMULATED = simulated()

requires_cuda_target = pytest.mark.skipif(
    not cuda_available(), reason="no CUDA GPU here (tests/test_cuda_simulator.py runs these under the simulator)"
)
