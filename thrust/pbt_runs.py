"""A population-based training run in its folder: start, train, save, resume, summarize.

    RUN_DIR/
      pbt.json              the run: algorithm, env, PBT options, search space, the base config
      state.json            the last save: its checkpoint folder, the PBT random state, scores
      checkpoints/N/        member-000.pt, ...: every member's full training state, all from save N
      members/000/, ...     each member's progress.csv and TensorBoard events
      lineage.csv           who copied whom, when, with which hyperparameters (and crashes)
      progress.csv, events  per interval: the best score (charts/episodic_return), each member's score and
                            hyperparameters (TensorBoard: member_3/learning_rate, ...)
      checkpoint.pt, config.json, summary.json, learning_curve.png
                            the best member: `thrust eval RUN_DIR` and `thrust plot RUN_DIR` work

A save is committed by `state.json`, written after every member's checkpoint: a run killed while saving
resumes from the previous save. Ctrl-C (or SIGTERM) stops after the current member's iteration and saves;
`thrust pbt --resume RUN_DIR` continues exactly (native envs restore their state).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from thrust import algorithms
from thrust.config import make_config
from thrust.logger import ProgressDisplay, RunLogger, write_json
from thrust.population import (
    LineageEvent,
    PBTOptions,
    Population,
    check_mutable,
    searched_values,
)
from thrust.runs import (
    CHECKPOINT,
    RunError,
    SessionOptions,
    check_session,
    check_writable,
    new_run_dir,
    split_session_options,
    writing,
)
from thrust.search import default_space, describe, parse_space


@dataclass
class PBTResult:
    """What a PBT session leaves: its folder, the members (envs closed), their last scores, the best one."""

    run_dir: Path
    members: list[Any]
    scores: list[float]
    best: int
    evaluation: dict[str, float] | None
    exit_status: int  # 0, or 128 + the signal that stopped the session (130 after Ctrl-C)


def pbt(
    algorithm: str = "ppo",
    env: str = "CartPole-v1",
    population: int = 8,
    interval: int = 5,
    search: list[str] | dict[str, Any] | None = None,
    *,
    seed: int = 1,
    runs_dir: str | Path = "runs",
    run_dir: str | Path | None = None,
    env_kwargs: dict[str, Any] | None = None,
    fraction: float = 0.25,
    resample_probability: float = 0.25,
    start: str = "sample",
    session: SessionOptions | None = None,
    **options: Any,
) -> PBTResult:
    """Population-based training of `algorithm` on `env` in a new run folder (see `thrust pbt --help`).

    `search` is a list of specs (`["lr=loguniform(1e-4,1e-2)"]`) or a dict of field → spec; None
    searches the learning rate a decade either side of the config's. `options` are session options
    (`quiet=True`, `eval_episodes=0`, `stop_after=...`, as for `thrust train`) and hyperparameters,
    which override the env's preset for every member; member i trains with seed `seed + i`.
    """
    session, hyperparameters = split_session_options(options, session or SessionOptions())
    model_class = algorithms.get(algorithm)
    config = make_config(model_class.Config, algorithm, env, {**hyperparameters, "seed": seed})
    return start_pbt(algorithm, config, PBTOptions(population, interval, fraction, resample_probability, start),
                     search, env_kwargs or {}, Path(runs_dir), None if run_dir is None else Path(run_dir), session,
                     ["pbt", algorithm])


def start_pbt(
    algorithm: str, config: Any, options: PBTOptions, search: Any, env_kwargs: dict[str, Any], runs_dir: Path,
    run_dir: Path | None, session: SessionOptions, argv: list[str],
) -> PBTResult:
    """Check everything, make the members and the folder, and train."""
    options.check()
    check_pbt_session(session)
    space = parse_space(search, config) if search else default_space(config)
    check_mutable(space)
    if run_dir is not None and (run_dir / "pbt.json").exists():
        raise RunError(f"{run_dir} already holds a PBT run: continue it with thrust pbt --resume {run_dir}")
    check_writable(run_dir or runs_dir)
    model_class = algorithms.get(algorithm)
    rng = np.random.default_rng(config.seed)
    members = []
    for index in range(options.population):
        values = {name: d.sample(rng) for name, d in space.items()} if options.start == "sample" else {}
        member_config = dataclasses.replace(config, seed=config.seed + index, **values)
        members.append(model_class(config.env_id, config=member_config, env_kwargs=env_kwargs))
    population = Population(members, space, options, rng)
    run_dir = run_dir or new_run_dir(runs_dir, f"{algorithm}-pbt", config.env_id, config.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    with writing(run_dir / "pbt.json"):
        write_json(run_dir / "pbt.json", {
            "algorithm": algorithm, "options": dataclasses.asdict(options),
            "search": {name: str(d) for name, d in space.items()}, "config": dataclasses.asdict(config),
            "env_kwargs": env_kwargs, "command": "thrust " + " ".join(argv),
        })
    lineage = Lineage(run_dir / "lineage.csv", list(space), rows=0)
    lineage.write([LineageEvent(0, i, "start", None, float("nan"), float("nan"), searched_values(m, space))
                   for i, m in enumerate(members)])
    print(f"PBT of {len(members)} {algorithm.upper()} members on {config.env_id}, searching {describe(space)}")
    return train_population(algorithm, population, run_dir, session, lineage, generation=0, argv=argv)


def resume_pbt(run_dir: Path, session: SessionOptions | None = None) -> PBTResult:
    """Continue the PBT run in `run_dir` from its last save."""
    if not (run_dir / "pbt.json").is_file():
        raise RunError(f"{run_dir} holds no PBT run (no pbt.json); --resume takes a folder made by thrust pbt")
    if not (run_dir / "state.json").is_file():
        raise RunError(f"{run_dir} stopped before its first save: nothing to resume; delete it to start again")
    session = session or SessionOptions(**json.loads((run_dir / "session.json").read_text()))
    check_pbt_session(session)
    settings = json.loads((run_dir / "pbt.json").read_text())
    state = json.loads((run_dir / "state.json").read_text())
    model_class = algorithms.get(settings["algorithm"])
    folder = run_dir / "checkpoints" / str(state["generation"])
    members = [model_class.load(folder / f"member-{i:03d}.pt") for i in range(settings["options"]["population"])]
    space = parse_space(settings["search"], members[0].config)
    rng = np.random.default_rng()
    rng.bit_generator.state = state["rng"]
    population = Population(members, space, PBTOptions(**settings["options"]), rng)
    population.boundary, population.scores = state["boundary"], state["scores"]
    population.interval_returns = state["interval_returns"]
    lineage = Lineage(run_dir / "lineage.csv", list(space), rows=state["lineage_rows"])
    print(f"resuming the PBT run in {run_dir} at iteration {min(m.iteration for m in members)}")
    return train_population(settings["algorithm"], population, run_dir, session, lineage, state["generation"],
                            ["pbt", "--resume", str(run_dir)])


def check_pbt_session(session: SessionOptions) -> None:
    """`check_session`, and what PBT does not do yet."""
    check_session(session)
    if session.track:
        raise RunError("--track (Weights & Biases) is not supported by thrust pbt yet; TensorBoard logs are written")


class Lineage:
    """lineage.csv: one row per start, exploit or crash; on resume, cut back to the rows of the last save."""

    def __init__(self, path: Path, fields: list[str], rows: int):
        self.path, self.rows = path, rows
        self.columns = ["iteration", "global_step", "member", "event", "source", "score", "source_score",
                        *fields, "note"]
        kept = []
        if rows and path.is_file():
            with path.open(newline="") as f:
                kept = list(csv.DictReader(f))[:rows]
        with writing(path), path.open("w", newline="") as f:
            writer = csv.DictWriter(f, self.columns)
            writer.writeheader()
            writer.writerows(kept)

    def write(self, events: list[LineageEvent], batch_size: int = 0) -> None:
        with writing(self.path), self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, self.columns)
            for e in events:
                writer.writerow({"iteration": e.iteration, "global_step": e.iteration * batch_size,
                                 "member": e.member, "event": e.event, "source": "" if e.source is None else e.source,
                                 "score": e.score, "source_score": e.source_score, **e.hyperparameters,
                                 "note": e.note})
        self.rows += len(events)


def save_population(population: Population, run_dir: Path, lineage: Lineage, generation: int) -> int:
    """Write every member's checkpoint into a new folder, then commit it in state.json; returns its number."""
    generation += 1
    folder = run_dir / "checkpoints" / str(generation)
    with writing(folder):
        shutil.rmtree(folder, ignore_errors=True)  # left by a save that was killed before its commit
        folder.mkdir(parents=True)
        for index, member in enumerate(population.members):
            member.save(folder / f"member-{index:03d}.pt")
        write_json(run_dir / "state.json", {
            "generation": generation, "boundary": population.boundary, "scores": population.scores,
            "interval_returns": population.interval_returns, "rng": population.rng.bit_generator.state,
            "lineage_rows": lineage.rows,
        })
    for old in (run_dir / "checkpoints").iterdir():
        if old.name != str(generation):
            shutil.rmtree(old, ignore_errors=True)
    return generation


def save_best(population: Population, run_dir: Path) -> None:
    """The best member's checkpoint and config in the run folder itself, for `thrust eval RUN_DIR`."""
    best = population.members[population.best()]
    with writing(run_dir / CHECKPOINT):
        best.save(run_dir / CHECKPOINT)
        write_json(run_dir / "config.json", dataclasses.asdict(best.config))


def interval_row(population: Population, exploits: int, learning_rate: float) -> dict[str, float]:
    """The population at an interval's end, as one row of the run folder's progress.csv and TensorBoard."""
    scores = [s for s in population.scores if np.isfinite(s)]
    best = population.best()
    row = {
        "global_step": float(population.members[best].global_step),
        "charts/episodic_return": population.scores[best] if scores else float("nan"),
        "charts/learning_rate": learning_rate,
        "pbt/mean_score": float(np.mean(scores)) if scores else float("nan"),
        "pbt/best_member": float(best),
        "pbt/exploits": float(exploits),
    }
    for index, member in enumerate(population.members):
        row[f"member_{index}/score"] = population.scores[index]
        row.update({f"member_{index}/{name}": float(value) for name, value in
                    searched_values(member, population.space).items() if isinstance(value, (int, float))})
    return row


def train_population(
    algorithm: str, population: Population, run_dir: Path, session: SessionOptions, lineage: Lineage,
    generation: int, argv: list[str],
) -> PBTResult:
    """Train interval by interval until done, `--stop-after`, Ctrl-C or SIGTERM; save at every interval."""
    with writing(run_dir / "session.json"):
        write_json(run_dir / "session.json", {**dataclasses.asdict(session), "stop_after": None})
    run = PBTSession(algorithm, population, run_dir, session, lineage, generation)
    previous = {signum: signal.signal(signum, run.on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        run.train()
    except BaseException:
        print(f"PBT stopped: the last save is intact; resume with thrust pbt --resume {run_dir}", file=sys.stderr)
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        run.close()
    evaluation = summarize(algorithm, population, run_dir, session, argv, run.logger.elapsed)
    status = 128 + run.signum if run.signum else 0
    return PBTResult(run_dir, population.members, list(population.scores), population.best(), evaluation, status)


class PBTSession:
    """One session of a PBT run: the members' and the population's logs, the display, signals, saves."""

    def __init__(self, algorithm: str, population: Population, run_dir: Path, session: SessionOptions,
                 lineage: Lineage, generation: int):
        self.population, self.run_dir, self.session, self.lineage = population, run_dir, session, lineage
        self.generation = generation
        members = population.members
        config = members[0].config
        resumed = generation > 0
        for index in range(len(members)):
            (run_dir / "members" / f"{index:03d}").mkdir(parents=True, exist_ok=True)
        self.loggers = [RunLogger(run_dir / "members" / f"{i:03d}", dataclasses.asdict(m.config),
                                  resume_step=m.global_step if resumed else None) for i, m in enumerate(members)]
        self.logger = RunLogger(run_dir, resume_step=population.boundary * config.batch_size if resumed else None)
        self.display = ProgressDisplay(f"PBT {algorithm.upper()} {config.env_id} ×{len(members)}",
                                       config.num_iterations * config.batch_size * len(members),
                                       sum(m.global_step for m in members), live=False if session.quiet else None)
        self.signum = 0
        self.latest_lr = [float("nan")] * len(members)
        self.session_start = (time.perf_counter(), sum(m.global_step for m in members))  # for the population's SPS
        self.saved_at = min(m.iteration for m in members) if resumed else -1

    def on_signal(self, signum: int, frame: Any) -> None:
        """Ctrl-C or SIGTERM: finish the current member's iteration, save, stop; a second one aborts."""
        if self.signum:
            raise KeyboardInterrupt
        self.signum = signum
        self.display.print("stopping after this iteration and saving (Ctrl-C again aborts)")

    def on_iteration(self, index: int, model: Any, metrics: dict[str, float]) -> bool:
        self.loggers[index].log(metrics)
        self.latest_lr[index] = metrics["charts/learning_rate"]
        best = max(self.population.scores)
        steps = sum(m.global_step for m in self.population.members)
        start_time, start_steps = self.session_start
        self.display.update({"global_step": float(steps),
                             "charts/SPS": (steps - start_steps) / (time.perf_counter() - start_time),
                             "charts/episodic_return": best if np.isfinite(best) else float("nan")})
        return not self.signum

    def report(self, events: list[LineageEvent]) -> None:
        self.lineage.write(events, self.population.members[0].config.batch_size)
        for e in events:
            what = "diverged, replaced by" if e.event == "crash" else "copies"
            note = f": {e.note}" if e.note else ""
            self.display.print(f"iteration {e.iteration}: member {e.member} {what} member {e.source} (score "
                               f"{e.score:.1f} < {e.source_score:.1f}) → {describe_values(e.hyperparameters)}{note}")

    def train(self) -> None:
        population, members = self.population, self.population.members
        total = population.num_iterations
        session_start = min(m.iteration for m in members)
        while population.boundary < total and not self.signum:
            end = min(population.boundary + population.options.interval, total)
            stop_after = self.session.stop_after
            self.report(population.train_until(end if stop_after is None else min(end, session_start + stop_after),
                                               self.on_iteration))
            if min(m.iteration for m in members) < end:  # stopped: by a signal or --stop-after
                break
            population.update_scores()
            population.boundary = end
            events = population.exploit_and_explore() if end < total else []
            self.report(events)
            self.logger.log(interval_row(population, len(events), self.latest_lr[population.best()]))
            self.save()
            save_best(population, self.run_dir)
        if [m.iteration for m in members] != [self.saved_at] * len(members):  # stopped inside an interval
            self.save()

    def save(self) -> None:
        self.generation = save_population(self.population, self.run_dir, self.lineage, self.generation)
        self.saved_at = min(m.iteration for m in self.population.members)
        for logger in (*self.loggers, self.logger):
            logger.flush()

    def close(self) -> None:
        self.display.close()
        for logger in (*self.loggers, self.logger):
            logger.close()
        for member in self.population.members:
            member.close()


def summarize(
    algorithm: str, population: Population, run_dir: Path, session: SessionOptions, argv: list[str], elapsed: float,
) -> dict[str, float] | None:
    """summary.json; once finished, the best member evaluated and the learning curves drawn."""
    members, best = population.members, population.best()
    config = members[best].config
    finished = all(m.iteration >= config.num_iterations for m in members)
    summary: dict[str, Any] = {
        "env_id": config.env_id, "algo": f"{algorithm}-pbt", "seed": members[0].config.seed,
        "population": len(members), "global_step": members[best].global_step,
        "total_timesteps": config.total_timesteps, "iteration": min(m.iteration for m in members),
        "finished": finished, "training_seconds": round(elapsed, 3), "best_member": best,
        "scores": population.scores, "best_hyperparameters": searched_values(members[best], population.space),
        "checkpoint": str(run_dir / CHECKPOINT), "command": "thrust " + " ".join(argv),
    }
    evaluation = None
    if finished and session.eval_episodes > 0:
        from thrust.evaluation import evaluate

        result = evaluate(members[best], num_episodes=session.eval_episodes)
        evaluation = summary["evaluation"] = {key: value for key, value in result.items() if key != "episodes"}
        print(f"best member {best}: evaluation return {result['mean_return']:.2f} ± {result['std_return']:.2f} "
              f"over {session.eval_episodes} episodes; {describe_values(summary['best_hyperparameters'])}")
    with writing(run_dir / "summary.json"):
        write_json(run_dir / "summary.json", summary)
    if finished and session.plot:
        from thrust.plot import plot_runs

        member_dirs = sorted((run_dir / "members").iterdir())
        labels = ["population's best score", *(f"member {d.name}" for d in member_dirs)]
        try:
            path = plot_runs([run_dir, *member_dirs], run_dir / "learning_curve.png", labels=labels)
            print(f"learning curves: {path}")
        except ValueError as error:
            print(f"no learning curve: {error}")
    print(f"run folder: {run_dir} (thrust eval {run_dir}: the best member; lineage.csv: who copied whom)")
    if not finished:
        print(f"stopped at iteration {summary['iteration']} of {config.num_iterations}; "
              f"resume: thrust pbt --resume {run_dir}")
    return evaluation


def describe_values(values: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}"
                     for name, value in values.items())

