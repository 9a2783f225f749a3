"""What a training run leaves behind and what it shows while it runs.

`RunLogger` writes one run folder's metrics, whatever the algorithm: TensorBoard event files and
`progress.csv` (one row per iteration, CleanRL's metric names, plus `time/elapsed`, the training seconds
since the run began, summed over resumed sessions). `ProgressDisplay` shows the run: a rich progress bar
and live panel on a terminal, plain lines otherwise (pipes, CI), so logs never hold control characters.
`write_json` writes the config and the final summary atomically.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

STANDARD_COLUMNS = (
    "global_step",
    "time/elapsed",
    "charts/episodic_return",
    "charts/episodic_length",
    "charts/learning_rate",
    "charts/SPS",
)
"""The first columns of `progress.csv`, what every algorithm logs; its own metrics (`losses/...`,
`time/...`) follow in the order they first appear."""


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write `data` as indented JSON atomically: a reader sees the old file or the new one, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def read_progress(run_dir: Path) -> list[dict[str, float]]:
    """The rows of `run_dir/progress.csv` as floats; an empty cell (no episode ended) becomes NaN."""
    path = Path(run_dir) / "progress.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: is {run_dir} a Thrust run folder?")
    with path.open(newline="") as f:
        return [{key: float(value) if value else math.nan for key, value in row.items()} for row in csv.DictReader(f)]


class RunLogger:
    """Appends one row of metrics per iteration to TensorBoard and `progress.csv` in `run_dir`.

    `resume_step` continues a run from a checkpoint taken at that global step: rows logged after it
    (by a session that died before its next checkpoint) are dropped from the CSV and purged from
    TensorBoard, so the logs match the training that the resumed run actually continues.
    """

    def __init__(self, run_dir: Path, hyperparameters: dict[str, Any] | None = None, resume_step: int | None = None):
        from torch.utils.tensorboard import SummaryWriter  # imports tensorflow-free tensorboard; slow, so lazy

        self.run_dir = Path(run_dir)
        self.csv_path = self.run_dir / "progress.csv"
        self.columns = list(STANDARD_COLUMNS)
        self.elapsed_before = 0.0  # training seconds of earlier sessions of this run
        rows: list[dict[str, float]] = []
        if resume_step is not None and self.csv_path.is_file():
            rows = [row for row in read_progress(self.run_dir) if row["global_step"] <= resume_step]
            self.columns += [key for key in rows[0] if key not in self.columns] if rows else []
            self.elapsed_before = rows[-1]["time/elapsed"] if rows else 0.0
        self._rewrite_csv(rows)
        self.session_start = time.perf_counter()
        self.writer = SummaryWriter(str(self.run_dir), purge_step=None if resume_step is None else resume_step + 1)
        if hyperparameters is not None and resume_step is None:
            table = "\n".join(f"|{key}|{value}|" for key, value in hyperparameters.items())
            self.writer.add_text("hyperparameters", f"|param|value|\n|-|-|\n{table}")

    @property
    def elapsed(self) -> float:
        """Training seconds of this run so far, all sessions together."""
        return self.elapsed_before + time.perf_counter() - self.session_start

    def log(self, metrics: dict[str, float]) -> None:
        """Record one iteration's metrics (which must hold `global_step`)."""
        step = int(metrics["global_step"])
        row = {**metrics, "time/elapsed": round(self.elapsed, 3)}
        for key, value in metrics.items():
            if key != "global_step":
                self.writer.add_scalar(key, value, step)
        new_columns = [key for key in row if key not in self.columns]
        if new_columns:  # a metric this run has not logged before: widen the file, keep earlier rows
            rows = read_progress(self.run_dir)
            self.columns += new_columns
            self._rewrite_csv(rows)
        with self.csv_path.open("a", newline="") as f:
            csv.DictWriter(f, self.columns).writerow(row)

    def flush(self) -> None:
        """Push buffered TensorBoard events to disk (the CSV is written row by row)."""
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def _rewrite_csv(self, rows: list[dict[str, float]]) -> None:
        tmp = self.csv_path.with_name(".progress.csv.tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, self.columns)
            writer.writeheader()
            writer.writerows({key: "" if math.isnan(value) else value for key, value in row.items()} for row in rows)
        os.replace(tmp, self.csv_path)


@contextlib.contextmanager
def _python_random_kept() -> Iterator[None]:
    """Leave Python's global random state as it was: rich draws from it (a random id base when its
    style module is imported), and a run's numbers and checkpoints must not depend on the display."""
    state = random.getstate()
    try:
        yield
    finally:
        random.setstate(state)


def _format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class ProgressDisplay:
    """Shows a run's progress: a rich live panel on a terminal, plain lines when `live` is false.

    Plain mode prints at most one line every `interval` seconds (and always the last one), with no
    control characters, so it is fit for CI logs and pipes; its line holds the `plain_losses` metrics
    that the run logs. The live panel shows every `losses/...` metric (and curiosity's mean intrinsic
    reward). The ETA is measured from the first update on, so that the first iteration's compile time
    does not inflate it. Python's global random state is left untouched.
    """

    def __init__(
        self,
        title: str,
        total_steps: int,
        start_step: int = 0,
        live: bool | None = None,
        interval: float = 5.0,
        plain_losses: tuple[str, ...] = (),
    ):
        self.title = title
        self.total_steps = total_steps
        self.start_step = start_step
        self.live = sys.stdout.isatty() if live is None else live
        self.interval = interval
        self.session_start = time.perf_counter()
        self.first_update: tuple[int, float] | None = None  # (step, time) of the first update
        self.last_print = -math.inf
        self.latest: dict[str, float] = {}  # the latest value of every metric, kept while episodes are absent
        self.plain_losses = plain_losses
        self._live = None
        if self.live:
            with _python_random_kept():
                self._start_live(title, total_steps, start_step)

    def _start_live(self, title: str, total_steps: int, start_step: int) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("steps •"),
            TimeElapsedColumn(),
            TextColumn("• ETA {task.fields[eta]}"),
        )
        self._task = self._progress.add_task(title, total=total_steps, completed=start_step, eta="?")
        self._console = Console()
        self._live = Live(self._render(), console=self._console, refresh_per_second=4, transient=False)
        self._live.start()

    def eta(self, step: int) -> float:
        """Seconds left at the speed since the first update (inf until a second one)."""
        if self.first_update is None or step <= self.first_update[0]:
            return math.inf
        first_step, first_time = self.first_update
        return (self.total_steps - step) * (time.perf_counter() - first_time) / (step - first_step)

    def update(self, metrics: dict[str, float]) -> None:
        """Show one iteration's metrics."""
        self.latest.update(metrics)
        step = int(metrics["global_step"])
        if self.first_update is None:
            self.first_update = (step, time.perf_counter())
        if self._live is not None:
            with _python_random_kept():
                self._progress.update(self._task, completed=step, eta=_format_seconds(self.eta(step)))
                self._live.update(self._render())
        elif time.perf_counter() - self.last_print >= self.interval or step >= self.total_steps:
            self.last_print = time.perf_counter()
            print(self.plain_line(), flush=True)

    def plain_line(self) -> str:
        """One line of text with the latest metrics."""
        m = self.latest
        step = int(m.get("global_step", self.start_step))
        def fmt(key: str, spec: str) -> str:
            value = m.get(key, math.nan)
            return "–" if math.isnan(value) else format(value, spec)  # "–": no episode has ended yet

        parts = [
            f"step {step}/{self.total_steps}",
            f"SPS {fmt('charts/SPS', '.0f')}",
            f"return {fmt('charts/episodic_return', '.2f')}",
            f"length {fmt('charts/episodic_length', '.1f')}",
            *(f"{key.removeprefix('losses/')} {fmt(key, '.4g')}" for key in self.plain_losses if key in m),
            f"ETA {_format_seconds(self.eta(step))}",
        ]
        return " | ".join(parts)

    def print(self, text: str) -> None:
        """Print a message above the live panel (or as a plain line)."""
        if self._live is not None:
            with _python_random_kept():
                self._live.console.print(text, markup=False, highlight=False)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self._live is not None:
            with _python_random_kept():
                self._live.update(self._render())
                self._live.stop()
            self._live = None

    def _render(self) -> Any:
        from rich.console import Group
        from rich.table import Table

        m = self.latest

        def fmt(key: str, spec: str) -> str:
            value = m.get(key, math.nan)
            return "–" if math.isnan(value) else format(value, spec)

        pairs = [
            ("step", fmt("global_step", ",.0f")),
            ("SPS", fmt("charts/SPS", ",.0f")),
            ("return", fmt("charts/episodic_return", ".2f")),
            ("length", fmt("charts/episodic_length", ".1f")),
            *((("intrinsic reward", fmt("charts/intrinsic_reward", ".4g")),) if "charts/intrinsic_reward" in m else ()),
            # every algorithm's own losses, as it names them (CleanRL's names: policy_loss, approx_kl, ...)
            *((key.removeprefix("losses/").replace("_", " "), fmt(key, ".4g")) for key in m
              if key.startswith("losses/")),
            ("lr", fmt("charts/learning_rate", ".2e")),
        ]
        per_row = max(1, min(4, self._console.width // 25))  # a pair takes 23 columns and 2 of padding
        table = Table.grid(padding=(0, 1))
        for _ in range(per_row):
            table.add_column(justify="left", min_width=11, style="dim")
            table.add_column(justify="right", min_width=12)
        for start in range(0, len(pairs), per_row):
            row = pairs[start : start + per_row]
            table.add_row(*[cell for pair in row for cell in pair])
        spent = {part: m.get(f"time/{part}", math.nan) for part in ("env", "inference", "learning")}
        total = sum(spent.values())
        split = (
            " · ".join(f"{part} {100 * seconds / total:.0f}%" for part, seconds in spent.items()) if total > 0 else "–"
        )
        return Group(self._progress, table, f"time: {split}")
