"""Hyperparameter sweeps with Optuna (`pip install 'thrust-rl[sweep]'`): each trial is a training run in
its own folder, pruned early when its learning curve falls behind the others'.

    SWEEP_DIR/
      sweep.json           the sweep: algorithm, env, search space, trials, base config
      trial-000/, ...      each trial's run folder (thrust eval / thrust plot / thrust train --resume work)
      results.csv          one row per trial: state, value, hyperparameters, steps, the evaluation of finished
                           trials, seconds, folder, why it failed (rewritten after every trial)
      best_trials.png      the learning curves of the best trials

A trial's value is its recent return: the mean over its last 100 training episodes. Optuna's pruner
(median, after a warm-up of a quarter of the iterations and two whole trials) sees that value after
every iteration. The sampler (TPE) is seeded with the sweep's seed; every trial trains with that seed.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thrust import algorithms
from thrust.config import make_config
from thrust.logger import write_json
from thrust.runs import (
    RunError,
    SessionOptions,
    check_session,
    check_writable,
    new_run_dir,
    run_session,
    split_session_options,
    writing,
)
from thrust.search import default_space, describe, parse_space

INSTALL_HINT = "sweeps need Optuna: pip install 'thrust-rl[sweep]' (or pip install optuna)"
BEST_PLOTTED = 3


def import_optuna() -> Any:
    """The optuna module, or an `ImportError` saying how to install it."""
    try:
        import optuna
    except ImportError:
        raise ImportError(INSTALL_HINT) from None
    return optuna


@dataclass
class SweepResult:
    """What a sweep leaves: its folder, the results table's rows (best first), and the exit status."""

    run_dir: Path
    rows: list[dict[str, Any]]
    exit_status: int  # 0, or 128 + the signal that stopped it (130 after Ctrl-C)

    @property
    def best(self) -> dict[str, Any] | None:
        """The best completed trial's row."""
        complete = [row for row in self.rows if row["state"] == "complete"]
        return complete[0] if complete else None


def sweep(
    algorithm: str = "ppo",
    env: str = "CartPole-v1",
    trials: int = 8,
    search: list[str] | dict[str, Any] | None = None,
    *,
    seed: int = 1,
    runs_dir: str | Path = "runs",
    run_dir: str | Path | None = None,
    prune: Any = True,
    env_kwargs: dict[str, Any] | None = None,
    session: SessionOptions | None = None,
    **options: Any,
) -> SweepResult:
    """Sweep `search` (specs as for `thrust.pbt`; None: the learning rate, a decade either side of the
    config's) over `trials` training runs of `algorithm` on `env`. `options` are session options
    (`quiet`, `eval_episodes`, ...; quiet by default here) and hyperparameters, which override the preset.
    `prune`: True (the median pruner), False, or an Optuna pruner of your own."""
    session, hyperparameters = split_session_options(options, session or SessionOptions(quiet=True))
    config = make_config(algorithms.get(algorithm).Config, algorithm, env, {**hyperparameters, "seed": seed})
    return run_sweep(algorithm, config, trials, search, env_kwargs or {}, Path(runs_dir),
                     None if run_dir is None else Path(run_dir), session, prune, ["sweep", algorithm])


def run_sweep(
    algorithm: str, config: Any, trials: int, search: Any, env_kwargs: dict[str, Any], runs_dir: Path,
    run_dir: Path | None, session: SessionOptions, prune: Any, argv: list[str],
) -> SweepResult:
    """Check everything, then run the trials one after the other in the sweep's folder."""
    optuna = import_optuna()
    if trials < 1:
        raise ValueError(f"--trials must be at least 1, got {trials}")
    check_session(session)
    space = parse_space(search, config) if search else default_space(config)
    if run_dir is not None and (run_dir / "sweep.json").exists():
        raise RunError(f"{run_dir} already holds a sweep: pick another folder")
    check_writable(run_dir or runs_dir)
    run_dir = run_dir or new_run_dir(runs_dir, f"{algorithm}-sweep", config.env_id, config.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    with writing(run_dir / "sweep.json"):
        write_json(run_dir / "sweep.json", {
            "algorithm": algorithm, "trials": trials, "prune": str(prune),
            "search": {name: str(distribution) for name, distribution in space.items()},
            "config": dataclasses.asdict(config), "env_kwargs": env_kwargs, "command": "thrust " + " ".join(argv),
        })
    print(f"sweep of {trials} {algorithm.upper()} trials on {config.env_id}, searching {describe(space)}")

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per trial is ours
    if prune is True:
        pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=max(1, config.num_iterations // 4))
    else:
        pruner = prune or optuna.pruners.NopPruner()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed),
                                pruner=pruner)
    objective = Objective(algorithm, config, space, env_kwargs, run_dir, dataclasses.replace(session, plot=False),
                          argv, study)
    def after_trial(study: Any, trial: Any) -> None:
        rows = write_results(study, space, run_dir / "results.csv")
        row = next(row for row in rows if row["trial"] == trial.number)
        value = "" if row["value"] == "" else f", recent return {row['value']:.2f}"
        print(f"trial {trial.number}: {row['state']}{value} ({describe_values(row, space)})"
              + (f": {row['note']}" if row["note"] else ""), flush=True)

    study.optimize(objective, n_trials=trials, catch=(ValueError, FloatingPointError), callbacks=[after_trial])
    rows = write_results(study, space, run_dir / "results.csv")
    plot_best(rows, run_dir, space)
    finish(rows, run_dir)
    return SweepResult(run_dir, rows, 128 + objective.signal if objective.signal else 0)


class Objective:
    """One trial: its hyperparameters from Optuna, a training run in `SWEEP_DIR/trial-NNN`, its recent return."""

    def __init__(self, algorithm: str, config: Any, space: dict[str, Any], env_kwargs: dict[str, Any],
                 run_dir: Path, session: SessionOptions, argv: list[str], study: Any):
        self.model_class = algorithms.get(algorithm)
        self.config, self.space, self.env_kwargs, self.run_dir = config, space, env_kwargs, run_dir
        self.session, self.argv, self.study = session, argv, study
        self.signal = 0  # the signal that stopped a trial (Ctrl-C): the sweep stops after it

    def __call__(self, trial: Any) -> float:
        import optuna

        values = {name: distribution.suggest(trial, name) for name, distribution in self.space.items()}
        trial_dir = self.run_dir / f"trial-{trial.number:03d}"
        trial.set_user_attr("run_dir", str(trial_dir))
        try:
            config = dataclasses.replace(self.config, **values)
            config.validate()
        except ValueError as error:  # a combination the config refuses (e.g. minibatches that do not divide)
            trial.set_user_attr("note", str(error))
            raise
        trial_dir.mkdir()
        with writing(trial_dir / "config.json"):
            write_json(trial_dir / "config.json", dataclasses.asdict(config))
        model = self.model_class(config.env_id, config=config, env_kwargs=self.env_kwargs)

        def report(model: Any, metrics: dict[str, float]) -> bool:
            """Optuna's pruner sees the recent return after every iteration; False stops a pruned trial."""
            if not model.recent_returns:
                return True
            trial.report(recent_return(model), model.iteration)
            if trial.should_prune():
                trial.set_user_attr("pruned_at", model.global_step)
                return False
            return True

        try:
            status = run_session(model, trial_dir, self.session, None, [*self.argv, f"(trial {trial.number})"],
                                 on_iteration=report)
        except FloatingPointError as error:
            trial.set_user_attr("note", str(error))
            raise
        trial.set_user_attr("global_step", model.global_step)
        summary = json.loads((trial_dir / "summary.json").read_text())
        if "evaluation" in summary:  # finished trials are evaluated (greedy, --eval-episodes) by their session
            trial.set_user_attr("evaluation", summary["evaluation"]["mean_return"])
        if status:
            self.signal = status - 128
            trial.set_user_attr("note", "interrupted")
            self.study.stop()
        elif "pruned_at" in trial.user_attrs:
            raise optuna.TrialPruned()
        if not model.recent_returns:
            trial.set_user_attr("note", "no episode ended")
            raise ValueError(f"trial {trial.number}: no episode ended, so it has no return to compare")
        return recent_return(model)


def recent_return(model: Any) -> float:
    """The mean return of the model's last 100 training episodes."""
    return float(sum(model.recent_returns) / len(model.recent_returns))


def write_results(study: Any, space: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    """results.csv: every trial so far, best value first; returns the rows."""
    rows = []
    for trial in study.trials:
        state = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}.get(trial.state.name,
                                                                                   trial.state.name.lower())
        if trial.user_attrs.get("note") == "interrupted":
            state = "interrupted"
        rows.append({
            "trial": trial.number, "state": state, "value": "" if trial.value is None else trial.value,
            **{name: trial.params.get(name, "") for name in space},
            "global_step": trial.user_attrs.get("global_step", ""),
            "evaluation": trial.user_attrs.get("evaluation", ""),
            "seconds": "" if trial.duration is None else round(trial.duration.total_seconds(), 2),
            "run_dir": trial.user_attrs.get("run_dir", ""), "note": trial.user_attrs.get("note", ""),
        })
    rows.sort(key=lambda row: (row["state"] != "complete", -row["value"] if row["value"] != "" else math.inf))
    with writing(path), path.open("w", newline="") as f:
        writer = csv.DictWriter(f, ["trial", "state", "value", *space, "global_step", "evaluation", "seconds",
                                    "run_dir", "note"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


def describe_values(row: dict[str, Any], space: dict[str, Any]) -> str:
    return ", ".join(f"{name}={row[name]:.4g}" if isinstance(row[name], float) else f"{name}={row[name]}"
                     for name in space)


def plot_best(rows: list[dict[str, Any]], run_dir: Path, space: dict[str, Any]) -> None:
    """best_trials.png: the learning curves of the best completed trials, each labelled with its values."""
    from thrust.plot import plot_runs

    best = [row for row in rows if row["state"] == "complete" and row["run_dir"]][:BEST_PLOTTED]
    if not best:
        return
    labels = [f"trial {row['trial']}: {describe_values(row, space)}" for row in best]
    try:
        print(f"learning curves of the best trials: "
              f"{plot_runs([Path(row['run_dir']) for row in best], run_dir / 'best_trials.png', labels=labels)}")
    except ValueError as error:
        print(f"no learning curves: {error}", file=sys.stderr)


def finish(rows: list[dict[str, Any]], run_dir: Path) -> None:
    counts = {state: sum(row["state"] == state for row in rows) for state in ("complete", "pruned", "failed")}
    print(f"sweep: {counts['complete']} complete, {counts['pruned']} pruned, {counts['failed']} failed; "
          f"results: {run_dir / 'results.csv'}")
    complete = [row for row in rows if row["state"] == "complete"]
    if complete:
        print(f"best: trial {complete[0]['trial']} (recent return {complete[0]['value']:.2f}); "
              f"thrust eval {complete[0]['run_dir']}")
