"""numba's CUDA target, shared by the GPU envs and the GPU advantage kernels: whether it can run here, the
kernels' views of torch tensors, launches on torch's stream, and what numba's CUDA simulator needs.

Without a GPU, numba's CUDA simulator (`NUMBA_ENABLE_CUDASIM=1` in the environment before numba is imported)
runs CUDA kernels in Python threads on host memory: "device" tensors are then CPU tensors. Import this module
only where CUDA is asked for: importing it imports `numba.cuda`, which fixes the simulator choice.
"""

from __future__ import annotations

import functools
import types
import warnings
from typing import Any

import numba
import numpy as np
import torch
from numba import cuda

THREADS_PER_BLOCK = 256


def simulated() -> bool:
    """Whether numba's CUDA simulator stands in for a GPU (NUMBA_ENABLE_CUDASIM=1 when numba was imported)."""
    return bool(numba.config.ENABLE_CUDASIM)


def cuda_available() -> bool:
    """Whether CUDA kernels can run here: a GPU that numba and torch both see, or the simulator."""
    return simulated() or (cuda.is_available() and torch.cuda.is_available())


def check_cuda() -> None:
    """`RuntimeError` unless `cuda_available()`, and on a GPU unless numba's CUDA target is NVIDIA's numba-cuda
    (numba's own built-in target, deprecated, types two-argument `min`/`max` wrongly in device code)."""
    if simulated():
        return
    if cuda_available() and getattr(cuda, "implementation", "Built-in") != "NVIDIA":
        raise RuntimeError(
            "native envs on the GPU need NVIDIA's numba-cuda package as numba's CUDA target (numba's built-in one "
            "miscompiles env functions that call min or max): pip install 'thrust-rl[gpu]' (or numba-cuda[cu12] / "
            "numba-cuda[cu13] for your CUDA version)"
        )
    if not cuda_available():
        raise RuntimeError(
            "device='cuda' needs a CUDA GPU that numba and torch can use (numba sees one: "
            f"{cuda.is_available()}, torch sees one: {torch.cuda.is_available()}); without one, numba's CUDA "
            "simulator runs the same kernels slowly on the CPU: set NUMBA_ENABLE_CUDASIM=1 in the environment "
            "before Python starts"
        )


def tensor_device() -> torch.device:
    """Where the envs' tensors live: the current CUDA device, or the CPU under the simulator."""
    return torch.device("cpu") if simulated() else torch.device("cuda", torch.cuda.current_device())


def device_array(tensor: torch.Tensor, dtype: np.dtype | None = None) -> Any:
    """What a kernel takes for `tensor`, without a copy (viewed as `dtype` when given).

    The one place where the GPU and the simulator differ in memory: on a GPU, numba's view of the tensor's
    device memory (`__cuda_array_interface__`); under the simulator, the numpy view of the host tensor.
    """
    array = tensor.numpy() if simulated() else cuda.as_cuda_array(tensor, sync=False)  # launches follow torch
    return array if dtype is None else array.view(dtype)


def launch(kernel: Any, num_threads: int, *args: Any) -> None:
    """Run `kernel` over `num_threads` threads, on torch's current stream (ordered with torch's work)."""
    threads = min(THREADS_PER_BLOCK, num_threads)
    blocks = -(-num_threads // threads)
    if simulated():
        with warnings.catch_warnings():  # SplitMix64 wraps around on purpose: NumPy scalars would warn
            warnings.filterwarnings("ignore", "overflow encountered in scalar", RuntimeWarning)
            kernel[blocks, threads](*args)
    else:
        kernel[blocks, threads, _stream(torch.cuda.current_stream().cuda_stream)](*args)


@functools.lru_cache(maxsize=16)
def _stream(pointer: int) -> Any:
    """numba's handle on the CUDA stream at `pointer` (torch's), made once per stream."""
    return cuda.external_stream(pointer)


def python_twin(fn: types.FunctionType) -> types.FunctionType:
    """`fn` with every numba-compiled function it calls (by global name or closure) replaced by its Python
    original, recursively: what the simulator runs (numba's CPU functions cannot take its arrays)."""

    def twin(value: Any) -> Any:
        if isinstance(value, numba.core.dispatcher.Dispatcher):
            return python_twin(value.py_func)
        return value

    names = set(fn.__code__.co_names)
    namespace = {**fn.__globals__, **{name: twin(fn.__globals__[name]) for name in names if name in fn.__globals__}}
    closure = tuple(types.CellType(twin(cell.cell_contents)) for cell in fn.__closure__ or ())
    return types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, closure or None)
