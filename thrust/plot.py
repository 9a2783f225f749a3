"""Learning curves from run folders: episode return against env steps and against training time.

Runs of the same env and algorithm (folders named `<env>__<algo>__<seed>__<time>`, as `thrust train`
names them) form one group, drawn as the mean over its runs with a band of ± one standard deviation;
a group of one run is drawn as its line.
"""

from __future__ import annotations

import difflib
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from thrust.logger import read_progress


def run_label(run_dir: Path) -> str:
    """`<env> <algo>` for a run folder: from its `summary.json` (written at the end of each session),
    else from its `config.json` and the folder's name as `thrust train` makes it, else the folder's name."""
    run_dir = Path(run_dir)
    summary = _read_json(run_dir / "summary.json")
    parts = run_dir.resolve().name.split("__")
    named = len(parts) >= 4
    env_id = summary.get("env_id") or _read_json(run_dir / "config.json").get("env_id") or (named and parts[0])
    algo = summary.get("algo") or (named and parts[1])
    return f"{env_id} {algo}" if env_id and algo else str(env_id or run_dir.name)


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def load_curve(run_dir: Path, metric: str = "charts/episodic_return") -> dict[str, np.ndarray]:
    """`steps`, `seconds` and `values` of `metric` in a run's `progress.csv`, rows without a value dropped."""
    all_rows = read_progress(run_dir)
    columns = list(all_rows[0]) if all_rows else []
    if all_rows and metric not in columns:
        close = difflib.get_close_matches(metric, columns, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else f"; columns: {', '.join(columns)}"
        raise ValueError(f"{run_dir}/progress.csv has no column {metric!r}{hint}")
    rows = [row for row in all_rows if not math.isnan(row.get(metric, math.nan))]
    if not rows:
        raise ValueError(f"{run_dir} has no values of {metric!r} yet (no episode has ended)")
    return {
        "steps": np.array([row["global_step"] for row in rows]),
        "seconds": np.array([row["time/elapsed"] for row in rows]),
        "values": np.array([row[metric] for row in rows]),
    }


def trailing_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Each value averaged with up to `window - 1` values before it (fewer at the start)."""
    if window < 1:
        raise ValueError(f"the smoothing window must be at least 1, got {window}")
    total = np.cumsum(values, dtype=np.float64)
    out = total / np.arange(1, len(values) + 1)
    out[window:] = (total[window:] - total[:-window]) / window
    return out


def mean_and_std(curves: list[tuple[np.ndarray, np.ndarray]], points: int = 200) -> tuple[np.ndarray, ...]:
    """Mean and standard deviation of curves `(x, y)` on a common grid over the x range all of them cover."""
    low = max(x[0] for x, _ in curves)
    high = min(x[-1] for x, _ in curves)
    grid = np.linspace(low, high, points) if high > low else np.array([low])
    ys = np.stack([np.interp(grid, x, y) for x, y in curves])
    return grid, ys.mean(axis=0), ys.std(axis=0)


def band(mean: np.ndarray, std: np.ndarray, values: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """mean ± std, kept within the values the runs reached (a band past CartPole's 500 would mislead)."""
    low, high = min(v.min() for v in values), max(v.max() for v in values)
    return np.clip(mean - std, low, high), np.clip(mean + std, low, high)


def plot_runs(
    run_dirs: list[Path], output: Path, metric: str = "charts/episodic_return", smooth: int = 1,
    labels: list[str] | None = None,
) -> Path:
    """Write a PNG of `metric` against env steps and against training seconds for `run_dirs`; return its path.

    `smooth` > 1 averages each logged value with the `smooth - 1` before it, run by run. `labels`, one
    per run, name the lines instead of the env and algorithm (runs with the same label are averaged).
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed, works over ssh and in CI
    import matplotlib.pyplot as plt

    if not run_dirs:
        raise ValueError("plot needs at least one run folder")
    if labels is not None and len(labels) != len(run_dirs):
        raise ValueError(f"plot got {len(labels)} labels for {len(run_dirs)} run folders")
    groups: dict[str, list[dict[str, np.ndarray]]] = defaultdict(list)
    for index, run_dir in enumerate(run_dirs):
        curve = load_curve(run_dir, metric)
        curve["values"] = trailing_mean(curve["values"], smooth)
        groups[run_label(run_dir) if labels is None else labels[index]].append(curve)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    ylabel = metric.split("/")[-1].replace("_", " ") + (f" (trailing mean of {smooth})" if smooth > 1 else "")
    draw_curves(axes, groups, ylabel)
    save_figure(fig, output)
    return Path(output)


def draw_curves(axes, groups: dict[str, list[dict[str, np.ndarray]]], ylabel: str) -> None:
    """Draw each group of curves (`steps`, `seconds`, `values`) on a pair of axes, against env steps and
    against seconds: the mean over the group with a ± std band, or the line of a group of one."""
    for label, curves in groups.items():
        for ax, x_key in zip(axes, ("steps", "seconds"), strict=True):
            if len(curves) == 1:
                ax.plot(curves[0][x_key], curves[0]["values"], label=label)
                continue
            grid, mean, std = mean_and_std([(c[x_key], c["values"]) for c in curves])
            (line,) = ax.plot(grid, mean, label=f"{label} (mean ± std of {len(curves)} runs)")
            ax.fill_between(grid, *band(mean, std, [c["values"] for c in curves]), color=line.get_color(), alpha=0.25)
    axes[0].set_xlabel("environment steps")
    axes[1].set_xlabel("training time (s)")
    for ax in axes:
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")


def save_figure(fig, output: Path, dpi: int = 120) -> None:
    """Write `fig` to `output` (its folder made if needed) and close it."""
    import matplotlib.pyplot as plt

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    # the format named explicitly: a name without a suffix is written as PNG under that very name
    fig.savefig(output, dpi=dpi, format=output.suffix.lstrip(".").lower() or "png")
    plt.close(fig)
