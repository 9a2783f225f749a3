"""The multiprocessing backend under failure: env exceptions, killed workers, close/GC/Ctrl-C cleanup.

Every risky call runs under `deadline`, which fails the test instead of letting it hang.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import time
from functools import partial

import gymnasium as gym
import numpy as np
import pytest
from processes import alive, deadline, wait_until_gone

import thrust
from thrust.vector.multiprocessing import MultiprocessingVecEnv, RemoteTraceback, WorkerDiedError


class CustomError(Exception):
    """An exception whose constructor takes two arguments, so it cannot be unpickled as usual."""

    def __init__(self, what: str, code: int) -> None:
        super().__init__(f"{what} (code {code})")


class FailingEnv(gym.Env):
    """CartPole-like spaces; raises `error` on its 3rd step (or in its constructor) when `fail` is set."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, fail: str = "", delay: float = 0.0) -> None:
        if fail == "init":
            raise OSError("cannot open the simulator")
        self.fail, self.delay, self.steps = fail, delay, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        time.sleep(self.delay)
        self.steps += 1
        if self.steps == 3 and self.fail == "step":
            raise ValueError("the simulator diverged")
        if self.steps == 3 and self.fail == "custom":
            raise CustomError("the simulator diverged", 7)
        if self.steps == 3 and self.fail == "exit":
            raise SystemExit(3)
        return np.zeros(2, np.float32), 1.0, False, False, {}


def failing_envs(fail: str, failing_index: int = 5, **kwargs) -> MultiprocessingVecEnv:
    fns = [partial(FailingEnv, fail=fail if i == failing_index else "") for i in range(8)]
    return MultiprocessingVecEnv(fns, **kwargs)


@pytest.mark.parametrize(
    "fail, error, message",
    [
        ("step", ValueError, "diverged"),
        ("custom", RuntimeError, "CustomError: the sim"),  # cannot be unpickled: described instead
        ("exit", RuntimeError, "SystemExit: 3"),  # must not end the main process
    ],
)
def test_env_exception_reraised_with_index_and_traceback(fail, error, message):
    envs = failing_envs(fail, num_workers=2)
    pids = [process.pid for process in envs._processes]
    envs.reset(seed=0)
    actions = np.zeros(8, dtype=np.int64)
    envs.step(actions)
    envs.step(actions)
    start = time.perf_counter()
    with deadline(5), pytest.raises(error, match=message) as info:
        envs.step(actions)
    assert time.perf_counter() - start < 1.0
    cause = info.value.__cause__
    assert isinstance(cause, RemoteTraceback)
    assert "env 5 (worker 1)" in str(cause) and "Traceback" in str(cause) and "in step" in str(cause)
    assert envs.closed and wait_until_gone(pids) == []
    with pytest.raises(RuntimeError, match="closed"):
        envs.reset()


def test_env_constructor_exception_reraised():
    with deadline(10), pytest.raises(OSError, match="cannot open") as info:
        failing_envs("init", failing_index=6, num_workers=4)
    assert "env 6 (worker 3)" in str(info.value.__cause__)


def test_envs_with_different_spaces_are_refused():
    fns = [FailingEnv] * 3 + [lambda: gym.make("CartPole-v1")]
    with deadline(10), pytest.raises(ValueError, match="env 3 has spaces .*all must match") as info:
        MultiprocessingVecEnv(fns, num_workers=2)
    assert "env 3 (worker 1)" in str(info.value.__cause__)


@pytest.mark.parametrize("when", ["idle", "idle-exited", "mid-step"])
def test_killed_worker_is_reported_not_waited_for(when):
    """Killed between steps (its pipe may or may not be broken yet when the next step is sent: "idle-exited"
    waits until it is, so the send meets a broken pipe) or while stepping: always a WorkerDiedError."""
    envs = MultiprocessingVecEnv([partial(FailingEnv, delay=0.05)] * 4, num_workers=2)
    pids = [process.pid for process in envs._processes]
    envs.reset(seed=0)
    actions = np.zeros(4, dtype=np.int64)
    with deadline(5), pytest.raises(WorkerDiedError, match="worker 1 .*killed by signal SIGKILL"):
        if when == "mid-step":
            envs.send(actions)
            os.kill(pids[1], signal.SIGKILL)
            envs.recv()
        else:
            os.kill(pids[1], signal.SIGKILL)
            if when == "idle-exited":
                envs._processes[1].join(timeout=3)
            envs.step(actions)
    assert envs.closed and wait_until_gone(pids) == []


def test_async_recv_reports_a_killed_worker():
    envs = MultiprocessingVecEnv([partial(FailingEnv, delay=0.05)] * 4, num_workers=4, batch_size=2)
    pids = [process.pid for process in envs._processes]
    envs.reset(seed=0)
    envs.send(np.zeros(4, dtype=np.int64))
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    with deadline(5), pytest.raises(WorkerDiedError, match="SIGKILL"):
        envs.recv()
    assert wait_until_gone(pids) == []


def test_close_and_garbage_collection_reap_workers_and_memory(shared_memory_left):
    envs = thrust.make("CartPole-v1", num_envs=4, backend="multiprocessing", num_workers=2)
    pids = [process.pid for process in envs._processes]
    assert all(alive(pid) for pid in pids)
    envs.reset(seed=0)
    envs.step(np.zeros(4, dtype=np.int64))
    with deadline(5):
        envs.close()
    assert wait_until_gone(pids) == []
    with pytest.raises(RuntimeError, match="closed"):
        envs.step(np.zeros(4, dtype=np.int64))
    envs.close()  # a second close does nothing

    envs = thrust.make("CartPole-v1", num_envs=4, backend="multiprocessing", num_workers=2, batch_size=2)
    pids = [process.pid for process in envs._processes]
    envs.reset(seed=0)
    envs.send(np.zeros(4, dtype=np.int64))  # dropped with a step in flight
    del envs
    with deadline(5):
        gc.collect()
    assert wait_until_gone(pids) == []
    assert shared_memory_left() == set()


CTRL_C_SCRIPT = textwrap.dedent(
    """
    import signal
    # As a terminal's shell starts it: SIGINT delivered, whatever the test runner's process left ignored or
    # blocked (both are inherited across exec).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    import numpy as np
    import thrust
    envs = thrust.make("CartPole-v1", num_envs=4, backend="multiprocessing", num_workers=2)
    print(*[process.pid for process in envs._processes], flush=True)
    envs.reset(seed=0)
    while True:
        envs.step(np.zeros(4, dtype=np.int64))
    """
)


def signal_state(pid: int) -> str:
    """A process's state and its blocked, ignored and caught signal masks, from /proc."""
    try:
        with open(f"/proc/{pid}/status") as status:
            lines = [line.strip() for line in status if line.startswith(("State", "SigBlk", "SigIgn", "SigCgt"))]
    except FileNotFoundError:
        return f"{pid} gone"
    return f"{pid} " + ", ".join(lines)


@pytest.mark.parametrize("how", ["ctrl-c", "sigkill"])
def test_main_process_interrupted_or_killed_leaves_no_workers(how):
    """Ctrl-C: SIGINT to the whole process group, as a terminal sends it. SIGKILL: the main process
    dies without cleaning up; its workers see their pipes close and exit."""
    script = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    try:
        with deadline(30):
            pids = [int(pid) for pid in script.stdout.readline().split()]
        assert len(pids) == 2, script.stderr.read()
        time.sleep(0.2)
        if how == "ctrl-c":
            os.killpg(script.pid, signal.SIGINT)
        else:
            script.kill()
        try:
            with deadline(30):  # a hang, not a slow exit
                _, stderr = script.communicate()
        except TimeoutError as error:  # which process still holds on, and with what signal state
            raise AssertionError(f"{error}: " + "; ".join(signal_state(pid) for pid in (script.pid, *pids))) from None
        assert how == "sigkill" or "KeyboardInterrupt" in stderr
        assert wait_until_gone(pids) == []
    finally:
        if script.poll() is None:
            script.kill()


def test_ctrl_c_during_recv_leaves_a_usable_env():
    """A KeyboardInterrupt while workers step (a notebook's interrupt): the next reset waits for them, no hang."""
    envs = MultiprocessingVecEnv([partial(FailingEnv, delay=0.2)] * 4, num_workers=2)
    try:
        envs.reset(seed=0)
        actions = np.zeros(4, dtype=np.int64)
        envs.send(actions)

        def interrupt(signum, frame):
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGALRM, interrupt)
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        try:
            with pytest.raises(KeyboardInterrupt):
                envs.recv()
        finally:
            signal.signal(signal.SIGALRM, previous)
        with deadline(5):
            envs.reset(seed=0)
            obs, rewards, *_ = envs.step(actions)
        np.testing.assert_array_equal(rewards, 1.0)
    finally:
        envs.close()


def test_unpicklable_env_constructor_is_refused_before_any_worker_starts(tmp_path):
    # an open file cannot travel to another process
    with open(tmp_path / "log.txt", "w") as log, deadline(10), pytest.raises(ValueError, match="picklable"):
        MultiprocessingVecEnv([lambda: FailingEnv() if log else None] * 2, num_workers=2)


class HangingEnv(FailingEnv):
    """Hangs in its `hang_at`-th step: asleep (the GIL free) or busy in Python code (holding it in turns)."""

    def __init__(self, hang_at: int = 0, busy: bool = False) -> None:
        super().__init__()
        self.hang_at, self.busy = hang_at, busy

    def step(self, action):
        if self.steps + 1 == self.hang_at:
            end = time.monotonic() + 3600
            while time.monotonic() < end:
                if not self.busy:
                    time.sleep(3600)
        return super().step(action)


def test_step_timeout_names_the_env_that_hangs():
    fns = [partial(HangingEnv, hang_at=2 if i == 3 else 0) for i in range(4)]
    envs = MultiprocessingVecEnv(fns, num_workers=2, step_timeout=0.5)
    pids = [process.pid for process in envs._processes]
    envs.reset(seed=0)
    actions = np.zeros(4, dtype=np.int64)
    envs.step(actions)
    start = time.monotonic()
    with deadline(10), pytest.raises(TimeoutError, match=r"env 3 \(worker 1, pid \d+\) did not finish its step "
                                                         r"within step_timeout=0.5 s; the vector env is closed"):
        envs.step(actions)
    assert 0.5 <= time.monotonic() - start < 3.0
    assert envs.closed and wait_until_gone(pids) == []


def test_step_timeout_in_async_mode_while_the_other_workers_go_on():
    fns = [partial(HangingEnv, hang_at=3 if i == 2 else 0) for i in range(4)]
    envs = MultiprocessingVecEnv(fns, num_workers=4, batch_size=2, step_timeout=0.5)
    pids = [process.pid for process in envs._processes]
    envs.reset(seed=0)
    envs.send(np.zeros(4, dtype=np.int64))
    received = 0
    with deadline(10), pytest.raises(TimeoutError, match=r"env 2 \(worker 2, pid \d+\)"):
        while True:
            *_, env_ids = envs.recv()
            received += 1
            envs.send(np.zeros(2, dtype=np.int64), env_ids)
    assert received >= 3  # the others kept stepping until env 2 was past its timeout
    assert envs.closed and wait_until_gone(pids) == []


def test_a_fast_env_never_times_out_and_make_checks_the_option():
    envs = thrust.make("CartPole-v1", num_envs=4, backend="multiprocessing", num_workers=2, step_timeout=5)
    try:
        assert envs.step_timeout == 5
        envs.reset(seed=0)
        for _ in range(50):
            envs.step(np.zeros(4, dtype=np.int64))
    finally:
        envs.close()
    with pytest.raises(ValueError, match="step_timeout needs backend='multiprocessing'"):
        thrust.make("CartPole-v1", num_envs=2, backend="serial", step_timeout=1.0)
    for bad in (0, -1.0, "1", True):
        with pytest.raises(ValueError, match="step_timeout must be a positive number"):
            MultiprocessingVecEnv([FailingEnv] * 2, num_workers=2, step_timeout=bad)


STUCK_SCRIPT = textwrap.dedent(
    """
    import multiprocessing.forkserver as forkserver, multiprocessing.resource_tracker as resource_tracker
    import sys, time
    from functools import partial
    import numpy as np
    sys.path.insert(0, "tests")
    from test_vector_failures import HangingEnv
    from thrust.vector.multiprocessing import MultiprocessingVecEnv

    envs = MultiprocessingVecEnv([partial(HangingEnv, hang_at=1, busy={busy})] * 2, num_workers=2)
    envs.reset(seed=0)
    envs.send(np.zeros(2, dtype=np.int64))
    helpers = [forkserver._forkserver._forkserver_pid, resource_tracker._resource_tracker._pid]
    print(*[process.pid for process in envs._processes], *helpers, flush=True)
    envs.recv()  # hangs: both envs are stuck in their first step
    """
)


@pytest.mark.parametrize("busy", [False, True], ids=["asleep", "busy"])
def test_killed_main_process_leaves_nothing_while_an_env_hangs(busy, shared_memory_left):
    """kill -9 of the main process while its envs are stuck in a step: the workers, the forkserver and
    the resource tracker all end, and nothing is left in /dev/shm."""
    script = subprocess.Popen(
        [sys.executable, "-c", STUCK_SCRIPT.format(busy=busy)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    try:
        with deadline(30):
            pids = [int(pid) for pid in script.stdout.readline().split()]
        assert len(pids) == 4, script.stderr.read()
        time.sleep(0.3)  # well inside the stuck step
        assert all(alive(pid) for pid in pids)
        script.kill()
        script.wait(timeout=10)
        assert wait_until_gone(pids, seconds=10) == []
        assert shared_memory_left() == set()
    finally:
        if script.poll() is None:
            script.kill()


class HangingResetEnv(FailingEnv):
    def reset(self, *, seed=None, options=None):
        if seed == 1:
            time.sleep(3600)
        return super().reset(seed=seed)


def test_step_timeout_covers_resets_too():
    envs = MultiprocessingVecEnv([FailingEnv, HangingResetEnv], num_workers=2, step_timeout=0.3)
    envs.reset(seed=10)
    with deadline(10), pytest.raises(TimeoutError, match=r"env 1 \(worker 1, .* finish its reset within"):
        envs.reset(seed=0)  # env 1 gets seed 0 + 1
