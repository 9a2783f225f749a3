"""The benchmark runner: runs `benchmarks/NAME.py` and puts the table it prints into BENCHMARKS.md.

Each section of BENCHMARKS.md sits between `<!-- begin NAME -->` and `<!-- end NAME -->`; the runner
replaces the text between the markers with the script's standard output, unchanged. Sections are
written one by one as their scripts finish, so an interrupted run keeps the sections already done.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

MARKER = re.compile(r"<!-- begin (?P<name>[\w.-]+) -->\n(?P<body>.*?)<!-- end (?P=name) -->", re.DOTALL)


def section_names(markdown: str) -> list[str]:
    """The names of the marked sections, in the file's order."""
    return [match["name"] for match in MARKER.finditer(markdown)]


def replace_section(markdown: str, name: str, body: str) -> str:
    """`markdown` with the text between `name`'s markers replaced by `body`."""
    matches = [match for match in MARKER.finditer(markdown) if match["name"] == name]
    if len(matches) != 1:
        found = "no" if not matches else f"{len(matches)}"
        raise ValueError(f"expected one section marked <!-- begin {name} --> … <!-- end {name} -->, found {found}")
    start, end = matches[0].span("body")
    return markdown[:start] + body.rstrip("\n") + "\n" + markdown[end:]


def run_script(script: Path, quick: bool = False, timeout: float | None = None) -> str:
    """Run one benchmark script with this Python and return its standard output (its table).

    Its standard error passes through to ours, so progress shows while it runs.
    """
    command = [sys.executable, str(script), *(["--quick"] if quick else [])]
    result = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=timeout, cwd=script.parent.parent)
    if result.returncode != 0:
        raise RuntimeError(f"{script} failed with exit status {result.returncode}; BENCHMARKS.md left unchanged for it")
    if not result.stdout.strip():
        raise RuntimeError(f"{script} printed nothing; expected a markdown table on its standard output")
    return result.stdout


def run_benchmarks(
    names: list[str] | None = None, root: Path = Path("."), quick: bool = False, write: bool = True
) -> dict[str, str]:
    """Run the benchmarks `names` (default: every marked section of `root/BENCHMARKS.md`).

    Returns each name's table. With `write`, each table replaces its section of BENCHMARKS.md as soon
    as its script has finished. Raises `RuntimeError` listing the benchmarks that failed, after running all.
    """
    markdown_path = Path(root) / "BENCHMARKS.md"
    if not markdown_path.is_file():
        raise FileNotFoundError(f"{markdown_path} not found: run `thrust bench` from the repository root")
    known = section_names(markdown_path.read_text())
    names = names or known
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"no section in {markdown_path} for {unknown}; sections: {known}")
    missing = [name for name in names if not (Path(root) / "benchmarks" / f"{name}.py").is_file()]
    if missing:
        raise FileNotFoundError(f"no script benchmarks/<name>.py for {missing}")

    tables: dict[str, str] = {}
    failures: list[str] = []
    for name in names:
        print(f"running benchmarks/{name}.py{' --quick' if quick else ''}", file=sys.stderr, flush=True)
        try:
            tables[name] = run_script(Path(root) / "benchmarks" / f"{name}.py", quick=quick)
        except RuntimeError as error:
            failures.append(str(error))
            continue
        print(tables[name], flush=True)
        if write:  # re-read: other sections may have been edited by hand meanwhile
            updated = replace_section(markdown_path.read_text(), name, tables[name])
            tmp = markdown_path.with_name(f".{markdown_path.name}.tmp")
            tmp.write_text(updated)
            os.replace(tmp, markdown_path)
    if failures:
        raise RuntimeError("some benchmarks failed:\n" + "\n".join(failures))
    return tables
