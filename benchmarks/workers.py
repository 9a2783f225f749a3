"""What the benchmark scripts share: runs in fresh processes, the line that names the machine, seed ranges.

A benchmark times each run in a process of its own (`python SCRIPT --worker ARGS...`), so that no run
inherits another's threads, caches or allocator state; the worker prints `RESULT {json}` as its last word.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_worker(command: list[str], what: str, **environment: str) -> dict:
    """Run `command` from the repository root (with it and benchmarks/ importable) and return the JSON of
    its `RESULT ` line, or raise RuntimeError with `what` and the end of its output."""
    path = os.pathsep.join([str(ROOT), str(ROOT / "benchmarks"), os.environ.get("PYTHONPATH", "")])
    output = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": path, **environment})
    for line in output.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{what} failed:\n{output.stdout}\n{output.stderr[-3000:]}")


def spawn(script: str, *args: str, **environment: str) -> dict:
    """`python script --worker args...` in a fresh process (`environment` added to its variables): its result."""
    return run_worker([sys.executable, script, "--worker", *args], f"worker {args}", **environment)


def machine_info(*optional: str) -> str:
    """The CPU, its cores, and the versions of Python, the core libraries and of the `optional` modules
    that import (peers, MuJoCo)."""
    import gymnasium
    import numba
    import numpy
    import torch

    cpu = platform.processor() or "unknown CPU"
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = [f"Python {platform.python_version()}", f"torch {torch.__version__}", f"numpy {numpy.__version__}",
                f"numba {numba.__version__}", f"gymnasium {gymnasium.__version__}"]
    for name in optional:
        try:
            module = __import__(name)
        except ImportError:
            continue
        versions.append(f"{name.replace('_', '-')} {module.__version__}")
    return f"{cpu}, {os.cpu_count()} cores; {', '.join(versions)}"


def seed_range(text: str) -> range:
    """A command-line seed range: "100-109" → range(100, 110); "7" → range(7, 8)."""
    first, _, last = text.partition("-")
    return range(int(first), int(last or first) + 1)
