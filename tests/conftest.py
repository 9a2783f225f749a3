"""Fixtures shared by the test files."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest


def _shared_memory_entries() -> set[str]:
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


def _held_by_other_processes() -> set[str]:
    """The /dev/shm entries that a live process other than this one has mapped (named semaphores are mapped
    by every process that opened them)."""
    held = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/maps") as maps:
                held.update(line.rsplit("/dev/shm/", 1)[1].split()[0] for line in maps if "/dev/shm/" in line)
        except OSError:  # gone meanwhile, or another user's
            continue
    return held


@pytest.fixture
def shared_memory_left() -> Callable[[], set[str]]:
    """A function returning the /dev/shm entries that appeared since the test began and are still there.

    Other test processes (`pytest -n`) make entries of their own meanwhile: short-lived blocks, and the
    semaphores of their queues and locks, which live as long as those do. So new entries get a few seconds to
    go, and one that another live process holds does not count: this test's own children must be gone before
    it asks (its other checks), so a holder is a process of another test.
    """
    before = _shared_memory_entries()

    def left(seconds: float = 5.0) -> set[str]:
        give_up = time.monotonic() + seconds
        while (new := _shared_memory_entries() - before) and time.monotonic() < give_up:
            time.sleep(0.1)
        return new - _held_by_other_processes() if new else new

    return left
