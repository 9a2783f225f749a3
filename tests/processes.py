"""Helpers of the tests that watch processes end: a deadline for a call that could hang, and waiting for pids."""

from __future__ import annotations

import contextlib
import signal
import time


@contextlib.contextmanager
def deadline(seconds: float):
    """Raise TimeoutError in this (main) thread if the block runs longer than `seconds`."""

    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: the call hangs")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, ended but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return "\nState:\tZ" not in status.read()
    except FileNotFoundError:
        return False


def wait_until_gone(pids: list[int], seconds: float = 3.0) -> list[int]:
    """The pids still alive after waiting up to `seconds` for them to exit."""
    end = time.monotonic() + seconds
    while time.monotonic() < end and any(alive(pid) for pid in pids):
        time.sleep(0.02)
    return [pid for pid in pids if alive(pid)]
