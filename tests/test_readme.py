"""Every Python snippet of README.md runs as written, each in a fresh interpreter and an empty folder."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
SNIPPETS = re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.DOTALL | re.MULTILINE)


def test_the_readme_has_python_snippets():
    assert len(SNIPPETS) >= 4


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_readme_snippet_runs(index, tmp_path):
    code = SNIPPETS[index]
    if "ALE/" in code and importlib.util.find_spec("ale_py") is None:
        pytest.skip("the snippet needs ale-py (the atari extra)")
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # this checkout's thrust, whatever is installed
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, f"README snippet {index + 1} failed:\n{code}\n{result.stderr[-3000:]}"
