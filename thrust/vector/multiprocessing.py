"""The multiprocessing backend: Gymnasium envs stepped by worker processes through shared memory.

`num_workers` processes each own a contiguous block of envs. Every array the envs read or write
(actions, observations, rewards, flags, final observations, episode statistics) lives in one shared
memory block that both sides see as numpy arrays, so the hot path pickles nothing: the main process
writes the actions, sends each worker one byte through a pipe, and the worker writes its block in
place and answers with one byte. Only the envs' own info dicts travel pickled, with the answer, at
the steps where an env reported one (an env that reports none costs nothing; one that reports two
numbers a step, e.g. a success flag and a cost, costs ~5 µs per worker and step to pickle and
unpickle); the main process writes them into the `infos` arrays (see `thrust.vector.infos`).
A blocked pipe read costs no CPU while waiting (busy-polling workers collapse once workers + main
outnumber the cores: ~17 ms per round trip measured on 2 shared cores), wakes as fast as a semaphore
(~60 µs for a round trip to 2 workers, both measured), and turns into EOF when a worker dies, so a
crashed worker is reported instead of waited for.

Async mode (`batch_size < num_envs`): `recv()` returns the first `batch_size // envs_per_worker`
workers to finish, oldest send first, copied into batch-sized buffers; `send()` takes actions for
exactly those env ids.

The shared block is an unlinked file (`multiprocessing.RawArray`) handed to workers as a file
descriptor: nothing is left in /dev/shm, even when the main process is killed. Workers end with the
main process even while an env is stuck in a step (`_watch_main_process`); then the forkserver and
the resource tracker, which stay while a worker holds their pipes, end too. `step_timeout` turns a
stuck env into a `TimeoutError` naming it.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import select
import signal
import sys
import threading
import time
import traceback
import types
import weakref
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

import cloudpickle
import gymnasium as gym
import numpy as np

from thrust.vector.base import BUFFER_NAMES, VecEnv, allocate, allocate_buffers, episode_infos
from thrust.vector.infos import InfoArrays
from thrust.vector.serial import EnvBlock
from thrust.vector.spec import EnvSpec, check_backend, gymnasium_spec

STEP = b"s"  # main → worker: step your block with the actions in shared memory
DONE = b"d"  # worker → main: the block is written
INFO = b"i"  # worker → main: the block is written, and these envs reported info (INFO + pickled reports)
ALIGNMENT = 64  # bytes; every shared array starts on its own cache line


class RemoteTraceback(Exception):
    """The traceback of an exception raised inside a worker process, chained as its cause."""


class WorkerDiedError(RuntimeError):
    """A worker process ended (killed by a signal, or exited) while the main process needed it."""


class _Carver:
    """`take(shape, dtype)` for `allocate`: consecutive aligned views of `memory` (or, without
    memory, just the running size, to size the block first)."""

    def __init__(self, memory: np.ndarray | None = None) -> None:
        self.memory = memory
        self.size = 0

    def __call__(self, shape: tuple[int, ...], dtype: Any) -> np.ndarray | None:
        dtype = np.dtype(dtype)
        start = -(-self.size // ALIGNMENT) * ALIGNMENT
        self.size = start + int(np.prod(shape)) * dtype.itemsize
        if self.memory is None:
            return None
        return np.ndarray(shape, dtype=dtype, buffer=self.memory, offset=start)


def shared_arrays(
    observation_space: gym.Space, action_space: gym.Space, num_envs: int, num_workers: int, take: Callable[..., Any]
) -> dict[str, Any]:
    """Every array the two sides share, carved in one fixed order by `take` (same on both sides): the
    `VecEnv`'s buffer set (`allocate_buffers`, as `VecEnv.__init__` carves it), then the actions, then
    each worker's current env (the one it is stepping, named if it hangs)."""
    arrays = allocate_buffers(observation_space, num_envs, take)
    arrays["actions"] = allocate(action_space, num_envs, take)
    arrays["current_env"] = take((num_workers,), np.int64)
    return arrays


def _watch_main_process(main_pid: int) -> None:
    """End this worker as soon as the main process ends, even while an env is stuck in a step (the
    pipe's EOF is only seen between steps). Runs in a daemon thread: it waits on a pidfd of the main
    process (Linux >= 5.3), or else checks every half second that the process exists."""
    try:
        pidfd = os.pidfd_open(main_pid)
    except (AttributeError, OSError):  # no pidfd here; or the main process is already gone (ESRCH)
        pidfd = None
    if pidfd is not None:
        select.select([pidfd], [], [])  # readable once the process has exited
    else:
        while True:
            try:
                os.kill(main_pid, 0)
            except ProcessLookupError:
                break
            except PermissionError:  # it exists
                pass
            time.sleep(0.5)
    os._exit(1)  # from any thread: the whole worker, at once


def leaves(tree: Any) -> list[np.ndarray]:
    """The arrays of an array, or of a dict/tuple of arrays, in a fixed order."""
    if isinstance(tree, dict):
        return [leaf for value in tree.values() for leaf in leaves(value)]
    if isinstance(tree, tuple):
        return [leaf for value in tree for leaf in leaves(value)]
    return [tree]


def _worker(
    worker_index: int, first_env: int, num_envs: int, num_workers: int, main_pid: int, memory: Any, payload: bytes,
    conn: Connection,
) -> None:
    """Owns envs `first_env .. first_env + len(env_fns)`; serves step/reset/close until told to stop
    or until the main process goes away (EOF on the pipe, or its end seen by `_watch_main_process`).
    `payload` is the cloudpickled `(env_fns, observation_space, action_space)`."""
    # Ctrl-C reaches the whole process group; the main process decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_main_process, args=(main_pid,), name="thrust-main-watch", daemon=True).start()
    envs: list[gym.Env] = []
    block = None
    constructing = first_env  # the env named if construction fails
    try:
        env_fns, observation_space, action_space = pickle.loads(payload)
        for constructing, fn in enumerate(env_fns, start=first_env):
            env = fn()
            envs.append(env)
            if (env.observation_space, env.action_space) != (observation_space, action_space):
                raise ValueError(
                    f"env {constructing} has spaces {env.observation_space}, {env.action_space}; "
                    f"env 0 has {observation_space}, {action_space}: all must match"
                )
        arrays = shared_arrays(
            observation_space, action_space, num_envs, num_workers, _Carver(np.frombuffer(memory, dtype=np.uint8))
        )
        block = EnvBlock(envs, first_env, arrays, current=arrays["current_env"][worker_index : worker_index + 1])
        actions = arrays["actions"]
        conn.send_bytes(DONE)
        while True:
            message = conn.recv_bytes()
            if message == STEP:
                block.step(actions)
            else:
                command, seed, options = pickle.loads(message)
                if command == "close":
                    break
                block.reset(seed, options)
            conn.send_bytes(_answer(block.reported) if block.reported else DONE)
    except (EOFError, BrokenPipeError):
        pass  # the main process is gone
    except BaseException as exc:  # every failure is reported to the main process
        env_index = block.current if block is not None else constructing
        try:
            exception_bytes = pickle.dumps(exc)
        except Exception:
            exception_bytes = b""
        report = (env_index, worker_index, traceback.format_exc(), exception_bytes, type(exc).__name__, str(exc))
        with contextlib.suppress(OSError):
            conn.send_bytes(pickle.dumps(report))
    finally:
        for env in envs:
            env.close()


def _answer(reported: list[Any]) -> bytes:
    """INFO and the envs' info dicts, pickled (only the steps where an env reported info pay this)."""
    try:
        return INFO + pickle.dumps(reported)
    except Exception as error:
        envs = sorted({index for index, _, _ in reported})
        message = f"the info dicts of envs {envs} cannot be pickled to reach the main process: {error}"
        raise TypeError(message) from error


@contextlib.contextmanager
def _main_module_hidden():
    """While starting a worker, hide the user's `__main__` from multiprocessing, which would
    otherwise re-run the user's script in the worker (and fail on a script without an
    `if __name__ == "__main__":` guard). Workers need nothing from it: the env constructors and
    spaces travel by value (cloudpickle), and `thrust.make` sends env specs rather than ids."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _shutdown(processes: list[Any], connections: list[Connection]) -> None:
    """Stop every worker: ask politely, then terminate, then kill; never wait more than ~2 s in all."""
    for conn in connections:
        with contextlib.suppress(OSError):
            conn.send_bytes(pickle.dumps(("close", None, None)))
    polite_end = time.monotonic() + 1.0  # one second for all of them, not one each
    for process in processes:
        process.join(timeout=max(0.0, polite_end - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.terminate()
            process.join(timeout=0.5)
        if process.is_alive():
            process.kill()
            process.join(timeout=0.5)
    for conn in connections:
        conn.close()


def _check_options(
    num_envs: int, num_workers: int | None, batch_size: int | None, start_method: str | None,
    step_timeout: float | None,
) -> tuple[int, int, str]:
    """The worker count, batch size and start method, defaults filled in; `ValueError` for ones that do not fit."""
    if num_envs < 1:
        raise ValueError("env_fns must hold at least one env constructor")
    num_workers = min(os.cpu_count() or 1, num_envs) if num_workers is None else num_workers
    if not 1 <= num_workers <= num_envs or num_envs % num_workers:
        raise ValueError(f"num_workers must divide num_envs={num_envs} and be >= 1, got {num_workers}")
    batch_size = num_envs if batch_size is None else batch_size
    if batch_size % (num_envs // num_workers):
        raise ValueError(
            f"batch_size must be a multiple of num_envs // num_workers = {num_envs // num_workers} "
            f"(whole workers are returned), got {batch_size}"
        )
    if start_method is None:
        start_method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    if start_method not in ("forkserver", "spawn"):
        raise ValueError(f"start_method must be 'forkserver' or 'spawn', got {start_method!r}")
    if step_timeout is not None and (
        isinstance(step_timeout, bool) or not isinstance(step_timeout, (int, float)) or not step_timeout > 0
    ):
        raise ValueError(f"step_timeout must be a positive number of seconds or None, got {step_timeout!r}")
    return num_workers, batch_size, start_method


class MultiprocessingVecEnv(VecEnv):
    """Steps `len(env_fns)` Gymnasium envs in `num_workers` processes through shared memory.

    Args:
        env_fns: one constructor per env; anything cloudpickle can carry (env ids wrapped in
            `functools.partial(gym.make, ...)`, top-level functions, lambdas).
        num_workers: worker processes (default: the number of CPU cores, at most `num_envs`);
            must divide `num_envs`.
        batch_size: envs returned per `recv()` (default `num_envs`: sync mode); a multiple of
            `num_envs // num_workers` in async mode.
        start_method: "forkserver" (the default where the platform has it: the first start costs
            ~1 s, later ones ~10 ms a worker) or "spawn" (~2 s every time). Both start workers from
            a clean process, so a main process with torch threads running cannot deadlock them.
            ("fork" is refused: forked workers would inherit each other's pipes and hide a
            worker's death.)
        env_spec: the `EnvSpec` `thrust.make` passes (default: the id of env 0's Gymnasium spec,
            backend "multiprocessing", these `num_workers`).
        step_timeout: seconds a worker may take to step (or reset) its block of envs; past them the
            vector env is closed and a `TimeoutError` names the env it is stuck in (default None:
            wait as long as it takes).

    Workers end with the main process, even while an env is stuck in a step: each watches it from a
    thread (an env holding the GIL in C code forever is the one case this cannot interrupt).
    """

    own_episode_mask = True  # the workers' EnvBlocks write it (see thrust.vector.serial)

    def __init__(
        self,
        env_fns: Sequence[Callable[[], gym.Env]],
        num_workers: int | None = None,
        batch_size: int | None = None,
        start_method: str | None = None,
        env_spec: EnvSpec | None = None,
        step_timeout: float | None = None,
    ) -> None:
        num_envs = len(env_fns)
        num_workers, batch_size, start_method = _check_options(num_envs, num_workers, batch_size, start_method,
                                                               step_timeout)
        self.envs_per_worker = num_envs // num_workers
        self.num_workers = num_workers
        self.step_timeout = step_timeout

        probe = env_fns[0]()  # the spaces size the shared block before any worker starts
        observation_space, action_space = probe.observation_space, probe.action_space
        self.render_mode = probe.render_mode
        if env_spec is None:
            env_spec = gymnasium_spec(probe, "multiprocessing", num_workers)
        elif check_backend(env_spec, "multiprocessing").num_workers not in (None, num_workers):
            raise ValueError(f"env_spec.num_workers is {env_spec.num_workers}, but num_workers is {num_workers}")
        probe.close()
        sizer = _Carver()
        shared_arrays(observation_space, action_space, num_envs, num_workers, sizer)
        context = mp.get_context(start_method)
        if start_method == "forkserver":
            # The server imports this module (and so thrust's dependencies) once; each worker forked
            # from it starts with them loaded instead of importing them again.
            context.set_forkserver_preload([__name__])
        self._memory = context.RawArray("B", max(sizer.size, 1))
        carver = _Carver(np.frombuffer(self._memory, dtype=np.uint8))
        # The buffers are carved out of the shared block by the base class, then the actions after
        # them: the order `shared_arrays` gives the workers.
        super().__init__(observation_space, action_space, num_envs, batch_size, env_spec=env_spec, take=carver)
        self.actions = allocate(action_space, num_envs, carver)
        self._current_env = carver((num_workers,), np.int64)
        assert carver.size == sizer.size, "the shared layout differs from the workers'"

        # Async mode hands out copies of the finished workers' rows, gathered into buffers of the same set.
        self._batch = allocate_buffers(observation_space, batch_size)
        self._batch_infos = episode_infos(self._batch)
        self._env_infos = InfoArrays(self.infos, self.final_mask)  # the envs' own info keys, sync mode and reset
        self._batch_env_infos = InfoArrays(self._batch_infos, self._batch["final_mask"])
        self._batch_env_ids = np.zeros(batch_size, np.int64)
        self._gather_pairs = [  # (shared array, batch array) per buffer, leaves flattened
            (shared, batched)
            for name in BUFFER_NAMES
            for shared, batched in zip(leaves(self.buffers[name]), leaves(self._batch[name]), strict=True)
        ]
        self._action_leaves = leaves(self.actions)
        self._all_env_ids = np.arange(num_envs)
        self._running: list[int] = []  # workers stepping, oldest send first
        self._idle = set(range(num_workers))
        self._sent_at: list[float | None] = [None] * num_workers  # when each worker was last sent work
        self._sent_step = [True] * num_workers  # whether that work was a step (else a reset)

        self._processes: list[Any] = []
        self._connections: list[Connection] = []
        # Cleanup runs on close(), garbage collection and interpreter exit (after Ctrl-C too).
        self._finalizer = weakref.finalize(self, _shutdown, self._processes, self._connections)
        per = self.envs_per_worker
        try:
            payloads = [
                cloudpickle.dumps((list(env_fns[w * per : (w + 1) * per]), observation_space, action_space))
                for w in range(num_workers)
            ]
        except Exception as error:
            raise ValueError(f"env constructors must be picklable (cloudpickle) to reach workers: {error}") from error
        for w, payload in enumerate(payloads):
            first = w * per
            parent_end, child_end = context.Pipe()
            process = context.Process(
                target=_worker,
                name=f"thrust-vector-worker-{w}",
                args=(w, first, num_envs, num_workers, os.getpid(), self._memory, payload, child_end),
                daemon=True,
            )
            with _main_module_hidden():
                process.start()
            child_end.close()  # only the worker holds it now, so its death reads as EOF here
            self._processes.append(process)
            self._connections.append(parent_end)
        for w in range(num_workers):
            self._receive(w)

    # -- talking to workers ------------------------------------------------------------------------

    def _receive(self, worker: int) -> list[Any] | None:
        """Read worker `worker`'s answer: the info reports of its envs, if any; re-raise its exception,
        or report its death."""
        connection, sent_at = self._connections[worker], self._sent_at[worker]
        timed = self.step_timeout is not None and sent_at is not None
        if timed and not connection.poll(max(0.0, sent_at + self.step_timeout - time.monotonic())):
            self._time_out(worker)
        try:
            answer = connection.recv_bytes()
            self._sent_at[worker] = None
        except (EOFError, OSError):
            process = self._processes[worker]
            process.join(timeout=1.0)
            code = process.exitcode
            how = f"was killed by signal {signal.Signals(-code).name}" if code and code < 0 else f"exited ({code})"
            first = worker * self.envs_per_worker
            self.close()
            raise WorkerDiedError(
                f"worker {worker} (pid {process.pid}, envs {first}..{first + self.envs_per_worker - 1}) {how}; "
                "the vector env is closed"
            ) from None
        if answer == DONE:
            return None
        if answer[:1] == INFO:
            return pickle.loads(answer[1:])
        env_index, worker_index, remote_traceback, exception_bytes, type_name, message = pickle.loads(answer)
        try:
            exception = pickle.loads(exception_bytes)
        except Exception:  # an exception that cannot travel is described instead
            exception = None
        if not isinstance(exception, Exception):  # nor may an env's SystemExit end this process
            exception = RuntimeError(f"{type_name}: {message}")
        self.close()
        raise exception from RemoteTraceback(
            f"env {env_index} (worker {worker_index}) raised {type(exception).__name__}: {exception}\n"
            f"{remote_traceback}"
        )

    def _time_out(self, worker: int) -> None:
        """Worker `worker` is past `step_timeout`: kill it, close the vector env, say which env hangs."""
        process, env = self._processes[worker], int(self._current_env[worker])
        work = "step" if self._sent_step[worker] else "reset"
        process.kill()
        self.close()
        raise TimeoutError(
            f"env {env} (worker {worker}, pid {process.pid}) did not finish its {work} within "
            f"step_timeout={self.step_timeout} s; the vector env is closed"
        )

    def _post(self, worker: int, message: bytes) -> None:
        """Send `message` to worker `worker`; a dead worker's broken pipe is reported as its death."""
        self._sent_at[worker], self._sent_step[worker] = time.monotonic(), message == STEP
        try:
            self._connections[worker].send_bytes(message)
        except OSError:  # BrokenPipeError: the worker is gone; _receive reads its EOF and says how it died
            self._receive(worker)
            raise

    def _time_left(self, workers: list[int]) -> float | None:
        """Seconds until the first of `workers` is past `step_timeout` (None: no timeout); raises once one is."""
        if self.step_timeout is None:
            return None
        self._check_overdue(workers)
        return max(0.0, min(self._sent_at[w] for w in workers) + self.step_timeout - time.monotonic())

    def _check_overdue(self, workers: list[int] | None = None) -> None:
        """`TimeoutError` if a running worker (of `workers`) has been stepping longer than `step_timeout`."""
        if self.step_timeout is None:
            return
        now = time.monotonic()
        for w in self._running if workers is None else workers:
            if now - self._sent_at[w] > self.step_timeout and not self._connections[w].poll():
                self._time_out(w)

    def _receive_running(self, env_infos: InfoArrays | None = None) -> None:
        """Wait for every stepping worker; one at a time, so a Ctrl-C in between loses no answer.
        The envs' info reports go to `env_infos` (dropped without)."""
        while self._running:
            reports = self._receive(self._running[0])
            if reports and env_infos is not None:
                env_infos.write(reports)
            self._idle.add(self._running.pop(0))

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError("this vector env is closed")

    # -- the backend interface ---------------------------------------------------------------------

    def _reset(self, seed: int | None, options: dict[str, Any] | None) -> None:
        self._check_open()
        self._receive_running()  # async mode (or after Ctrl-C): finish what is in flight, then reset
        message = pickle.dumps(("reset", seed, options))
        for w in range(self.num_workers):
            self._post(w, message)
        self._running, self._idle = list(range(self.num_workers)), set()
        self._env_infos.clear()
        self._receive_running(self._env_infos)

    def _send(self, actions: Any, env_ids: np.ndarray | None) -> None:
        self._check_open()
        if env_ids is None:
            workers = list(range(self.num_workers))
        else:
            env_ids = np.asarray(env_ids)
            per = self.envs_per_worker
            blocks = env_ids.reshape(-1, per) if env_ids.size % per == 0 else None
            if blocks is None or (blocks[:, 0] % per).any() or (blocks != blocks[:, :1] + np.arange(per)).any():
                raise ValueError(
                    f"env_ids must be whole worker blocks of {per} consecutive envs, as returned by recv(); "
                    f"got {env_ids}"
                )
            workers = (blocks[:, 0] // per).tolist()
            if len(set(workers)) != len(workers):
                raise ValueError(f"env_ids name some envs twice: {env_ids}")
        busy = [w for w in workers if w not in self._idle]
        if busy:
            raise RuntimeError(f"send() for envs of workers {busy} that are still stepping; recv() them first")
        per = self.envs_per_worker
        user_leaves = leaves(actions)
        if len(workers) == self.num_workers and env_ids is None:
            for shared, given in zip(self._action_leaves, user_leaves, strict=True):
                shared[:] = given
        else:
            for k, w in enumerate(workers):
                for shared, given in zip(self._action_leaves, user_leaves, strict=True):
                    shared[w * per : (w + 1) * per] = given[k * per : (k + 1) * per]
        for w in workers:
            self._post(w, STEP)
            self._idle.discard(w)
            self._running.append(w)

    def _recv(self):
        if self.batch_size == self.num_envs:
            self._env_infos.clear()
            self._receive_running(self._env_infos)
            return (
                self.observations, self.rewards, self.terminations, self.truncations, self.infos,
                self._all_env_ids,
            )
        needed = self.batch_size // self.envs_per_worker
        if len(self._running) < needed:
            raise RuntimeError(
                f"recv() needs {self.batch_size} envs stepping but only "
                f"{len(self._running) * self.envs_per_worker} are; send() actions for the env_ids of the last recv()"
            )
        ready: set[Any] = set()
        while len(ready) < needed:  # wait only on those not yet ready, so the loop never spins
            waiting = [w for w in self._running if self._connections[w] not in ready]
            ready.update(wait([self._connections[w] for w in waiting], timeout=self._time_left(waiting)))
        self._check_overdue()
        finished = [w for w in self._running if self._connections[w] in ready]
        per = self.envs_per_worker
        self._batch_env_infos.clear()
        for k, w in enumerate(finished[:needed]):
            reports = self._receive(w)
            if reports:  # env i of worker w is row k * per + (i - w * per) of the batch
                self._batch_env_infos.write(reports, offset=(k - w) * per)
            self._running.remove(w)
            self._idle.add(w)
            self._batch_env_ids[k * per : (k + 1) * per] = self._all_env_ids[w * per : (w + 1) * per]
            for shared, batched in self._gather_pairs:
                batched[k * per : (k + 1) * per] = shared[w * per : (w + 1) * per]
        batch = self._batch
        return (
            batch["observations"], batch["rewards"], batch["terminations"], batch["truncations"],
            self._batch_infos, self._batch_env_ids,
        )

    def close_extras(self, **kwargs: Any) -> None:
        self._finalizer()
