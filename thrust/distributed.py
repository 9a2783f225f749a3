"""Data-parallel training over `torch.distributed`, as `torchrun` launches it.

`torchrun --nproc-per-node K -m thrust train ...` starts K copies of the program, the ranks. Each rank
owns its envs and collects its own rollout; this module is what keeps them one run:

- `init`: the world from torchrun's environment (`RANK`, `WORLD_SIZE`, `LOCAL_RANK`, the rendezvous
  in `MASTER_ADDR`/`MASTER_PORT`), the process group (NCCL on CUDA devices, gloo on the CPU) with a
  timeout, so that a rank that hangs makes the others fail instead of waiting for ever;
- `average_gradients`: one flattened all-reduce of the gradients per gradient step (the ring makes
  the sums bit-identical on every rank, so the weights stay so), carrying the loss with them;
- `SharedStatistics`: running observation and return statistics merged across ranks after every
  rollout (Chan et al.'s parallel formula), so every rank normalizes alike;
- `any_rank`, `broadcast`, `gather_objects`: agreement on stopping, the run folder, checkpoints;
- a heartbeat per rank in the rendezvous store, so that when a collective fails the error names the
  rank that stopped answering.

A single process (no `WORLD_SIZE`, or 1) needs none of it: every function here is then a no-op.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from thrust.normalize import RunningMeanStd

TIMEOUT_VARIABLE = "THRUST_DISTRIBUTED_TIMEOUT"
DEFAULT_TIMEOUT = 300.0
HEARTBEAT_SECONDS = 1.0


class DistributedError(RuntimeError):
    """A collective operation that failed: another rank died, hung past the timeout, or cannot be reached."""


@dataclass(frozen=True)
class World:
    """Where this process stands among the ranks of one run."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0, the one that logs, checkpoints and evaluates."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def world() -> World:
    """This process's rank, world size and local rank, from torchrun's environment variables."""
    try:
        size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError as error:
        raise DistributedError(f"torchrun's RANK / WORLD_SIZE / LOCAL_RANK must be whole numbers: {error}") from None
    if size < 1 or not 0 <= rank < size:
        raise DistributedError(f"RANK={rank} must be in [0, WORLD_SIZE={size})")
    return World(rank, size, local_rank)


def timeout() -> datetime.timedelta:
    """How long a collective waits for the other ranks: `THRUST_DISTRIBUTED_TIMEOUT` seconds (default 300)."""
    text = os.environ.get(TIMEOUT_VARIABLE, str(DEFAULT_TIMEOUT))
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise DistributedError(f"{TIMEOUT_VARIABLE} must be a positive number of seconds, got {text!r}")
    return datetime.timedelta(seconds=seconds)


def device_for(device: str | torch.device, here: World) -> torch.device:
    """The device this rank trains on: a CUDA device without an index becomes `cuda:LOCAL_RANK`."""
    device = torch.device(device)
    if here.distributed and device.type == "cuda" and device.index is None:
        return torch.device("cuda", here.local_rank)
    return device


_heartbeat: dict[str, Any] = {}


def init(device: str | torch.device = "cpu") -> World:
    """Join the run's process group (once per process) when torchrun started several ranks; returns the world.

    The backend follows the device: NCCL for CUDA, gloo otherwise. Collectives time out after `timeout()`.
    """
    here = world()
    if not here.distributed or dist.is_initialized():
        return here
    device = device_for(device, here)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl":
        if not device.index < torch.cuda.device_count():
            raise DistributedError(
                f"rank {here.rank} (local rank {here.local_rank}) would train on {device}, but this machine has "
                f"{torch.cuda.device_count()} GPU(s): NCCL takes one GPU per rank, so start at most that many "
                f"ranks per machine (--nproc-per-node), or train on the CPU (gloo)"
            )
        torch.cuda.set_device(device)
    try:
        dist.init_process_group(backend, timeout=timeout(), **({"device_id": device} if backend == "nccl" else {}))
    except (RuntimeError, ValueError) as error:
        raise DistributedError(f"rank {here.rank} could not join the process group of {here.size} ranks "
                               f"({backend}, rendezvous {_endpoint()}): {error}") from error
    _start_heartbeat(here)
    return here


def shutdown(finished: bool = True) -> None:
    """Leave the process group at the end of a run.

    A rank that `finished` (no error) first waits at a barrier for the others, so that the ranks leave
    together: none while another still calls on it or on the rendezvous store (which rank 0 hosts when
    torchrun did not start the ranks; a store call after it left logs a C++ stack trace). Without the
    barrier, a rank that left while rank 0 was still evaluating aborted at exit (SIGABRT, "terminate
    called without an active exception") in about one two-rank run of 30 on a loaded 2-core machine.
    A rank that failed leaves at once; the others' barrier then fails at once too (a warning, not an
    error: their own work is done).
    """
    stop, thread = _heartbeat.pop("stop", None), _heartbeat.pop("thread", None)
    if stop is not None:
        stop.set()
        thread.join(timeout=2 * HEARTBEAT_SECONDS)  # not inside a store call when the group goes
    if not dist.is_initialized():
        return
    if finished:
        try:
            dist.barrier()
        except RuntimeError as error:
            warnings.warn(f"rank {world().rank}: another rank left the run before the end ({_first_line(error)})",
                          stacklevel=2)
    dist.destroy_process_group()


def _endpoint() -> str:
    return f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"


# -- knowing who stopped ---------------------------------------------------------------------------


def _store() -> Any:
    # The rendezvous store of the default group (torchrun's agent hosts it): reachable while any rank is alive.
    return dist.distributed_c10d._get_default_store()


def _start_heartbeat(here: World) -> None:
    """A daemon thread that counts up `thrust/heartbeat/RANK` in the store every second."""
    store, stop = _store(), threading.Event()

    def beat() -> None:
        with contextlib.suppress(Exception):  # the store gone: the run is ending anyway
            while not stop.wait(HEARTBEAT_SECONDS):
                store.add(f"thrust/heartbeat/{here.rank}", 1)

    _heartbeat["stop"], _heartbeat["thread"] = stop, threading.Thread(target=beat, name="thrust-heartbeat", daemon=True)
    _heartbeat["thread"].start()


def silent_ranks(wait: float = 3 * HEARTBEAT_SECONDS) -> list[int] | None:
    """The ranks whose heartbeat did not advance within `wait` seconds (None: the store cannot tell)."""
    here = world()
    try:
        store = _store()
        keys = [f"thrust/heartbeat/{rank}" for rank in range(here.size)]
        before = [store.add(key, 0) for key in keys]
        time.sleep(wait)
        after = [store.add(key, 0) for key in keys]
    except Exception:  # noqa: BLE001 (any failure of the store means it cannot tell)
        return None
    return [rank for rank in range(here.size) if rank != here.rank and after[rank] == before[rank]]


@contextlib.contextmanager
def collective(what: str) -> Iterator[None]:
    """Turn a failed collective into a `DistributedError` that names the ranks that stopped answering."""
    started = time.monotonic()
    try:
        yield
    except RuntimeError as error:  # torch's DistBackendError and gloo's errors are RuntimeErrors
        if isinstance(error, DistributedError):
            raise
        here, waited = world(), time.monotonic() - started
        silent = silent_ranks()
        if silent:
            culprit = f"rank {', '.join(map(str, silent))} stopped answering (died or hung)"
        elif silent is None:
            culprit = "another rank died or hung (the rendezvous store is gone too)"
        else:
            culprit = "another rank failed or left the run"
        raise DistributedError(
            f"rank {here.rank} of {here.size}: {what} failed after {waited:.1f} s: {culprit}; every rank stops. "
            f"({_first_line(error)})"
        ) from error


def _first_line(error: BaseException) -> str:
    """The first line of `error`'s message (torch's gloo errors run to many), or its type when it has none."""
    message = str(error).strip()
    return message.splitlines()[0] if message else type(error).__name__


# -- collectives -----------------------------------------------------------------------------------


def average_gradients(parameters: list[torch.Tensor], loss: torch.Tensor) -> torch.Tensor:
    """Replace every parameter's gradient by its mean over the ranks, in one flattened all-reduce;
    returns the mean of `loss` over the ranks (non-finite when any rank's is), identical on every rank.

    A parameter without a gradient counts as a zero one (on every rank alike, so the weights stay equal).
    """
    size = dist.get_world_size()
    grads = [torch.zeros_like(p) if p.grad is None else p.grad for p in parameters]
    flat = torch.cat([loss.detach().reshape(1).to(grads[0].dtype), *(g.reshape(-1) for g in grads)])
    with collective("the all-reduce of the gradients"):
        dist.all_reduce(flat)
    flat /= size
    offset = 1
    for parameter, grad in zip(parameters, grads, strict=True):
        parameter.grad = flat[offset:offset + grad.numel()].view_as(grad)
        offset += grad.numel()
    return flat[0]


def mean(value: torch.Tensor) -> torch.Tensor:
    """The mean of a tensor over the ranks (e.g. a KL that decides an early stop, alike on every rank)."""
    if not dist.is_initialized():
        return value
    total = value.detach().clone()
    with collective("an all-reduce of a metric"):
        dist.all_reduce(total)
    return total / dist.get_world_size()


def any_rank(flag: bool, device: torch.device | None = None) -> bool:
    """True on every rank when `flag` is true on any (stopping together: Ctrl-C, --stop-after)."""
    if not dist.is_initialized():
        return flag
    value = torch.tensor([int(flag)], device=device or _collective_device())
    with collective("the agreement on stopping"):
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def broadcast_tensors(tensors: list[torch.Tensor]) -> None:
    """Overwrite `tensors` (e.g. initial weights) with rank 0's, in place."""
    if not dist.is_initialized():
        return
    with collective("the broadcast of the initial weights"):
        for tensor in tensors:
            dist.broadcast(tensor.data, src=0)


def broadcast(value: Any) -> Any:
    """Rank 0's `value` (any picklable object) on every rank."""
    if not dist.is_initialized():
        return value
    box = [value]
    with collective("a broadcast from rank 0"):
        dist.broadcast_object_list(box, src=0, device=_collective_device())
    return box[0]


def gather_objects(value: Any) -> list[Any] | None:
    """Every rank's `value` (picklable), in rank order, on rank 0; None on the others."""
    if not dist.is_initialized():
        return [value]
    gathered = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    with collective("the gathering of the checkpoint's per-rank state"):
        dist.gather_object(value, gathered, dst=0)
    return gathered


def identical_across_ranks(tensors: list[torch.Tensor]) -> bool:
    """Whether `tensors` hold bit-identical values on every rank (the check of data-parallel training)."""
    if not dist.is_initialized():
        return True
    flat = torch.cat([t.detach().reshape(-1).double() for t in tensors])
    reference = flat.clone()
    with collective("the comparison of the weights"):
        dist.broadcast(reference, src=0)
    return any_rank(not torch.equal(flat, reference), flat.device) is False


def _collective_device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


# -- running statistics shared by the ranks ---------------------------------------------------------


def _moments(stats: RunningMeanStd) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return stats.count.clone(), stats.mean.clone(), stats.var.clone()


def combine(
    a: tuple[torch.Tensor, torch.Tensor, torch.Tensor], b: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Count, mean and (population) variance of two sets of samples from each's: Chan et al.'s formula."""
    (n_a, mean_a, var_a), (n_b, mean_b, var_b) = a, b
    total = n_a + n_b
    delta = mean_b - mean_a
    mean = mean_a + delta * n_b / total
    m2 = var_a * n_a + var_b * n_b + delta.square() * n_a * n_b / total
    return total, mean, m2 / total


def increment(
    base: tuple[torch.Tensor, torch.Tensor, torch.Tensor], now: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The moments of the samples folded into `base` to give `now`: `combine`, solved for its second argument."""
    (n0, mean0, var0), (n1, mean1, var1) = base, now
    count = n1 - n0
    if count <= 0:
        return count, torch.zeros_like(mean0), torch.zeros_like(var0)
    mean = mean0 + (mean1 - mean0) * n1 / count
    m2 = var1 * n1 - var0 * n0 - (mean - mean0).square() * n0 * count / n1
    return count, mean, (m2 / count).clamp_(min=0.0)


class SharedStatistics:
    """Running statistics (`RunningMeanStd` modules) that every rank folds its own samples into between
    syncs; `sync()` then gives every rank the statistics of all ranks' samples, bit-identically.

    Each rank's samples since the last sync are recovered from its statistics and the ones at that sync
    (`increment`), gathered, and folded into the synced ones in rank order, on every rank alike.
    """

    def __init__(self, modules: list[RunningMeanStd]) -> None:
        self.modules = modules
        self.rebase()

    def rebase(self) -> None:
        """Take the modules' current statistics (identical on every rank, e.g. just loaded) as the synced ones."""
        self.base = [_moments(module) for module in self.modules]

    def sync(self) -> None:
        if not dist.is_initialized() or not self.modules:
            return
        increments = [increment(base, _moments(module)) for base, module in zip(self.base, self.modules, strict=True)]
        flat = torch.cat([torch.cat([n.reshape(1), m.reshape(-1), v.reshape(-1)]) for n, m, v in increments])
        gathered = [torch.empty_like(flat) for _ in range(dist.get_world_size())]
        with collective("the merge of the normalization statistics"):
            dist.all_gather(gathered, flat)
        for index, (module, base) in enumerate(zip(self.modules, self.base, strict=True)):
            size = base[1].numel()
            start = sum(1 + 2 * b[1].numel() for b in self.base[:index])
            merged = base
            for rank_flat in gathered:
                part = rank_flat[start:start + 1 + 2 * size]
                merged = combine(merged, (part[0], part[1:1 + size].view_as(base[1]), part[1 + size:].view_as(base[2])))
            module.count.copy_(merged[0])
            module.mean.copy_(merged[1])
            module.var.copy_(merged[2])
        self.rebase()
