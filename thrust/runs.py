"""A training run in its folder: the folder's life (made atomically, checked, refused when it holds
another run) and one session of training in it (checkpoints, logs, progress, Ctrl-C, evaluation,
summary). The CLI parses the command line and hands the rest to `run_session`.

A run folder holds `config.json` (the resolved hyperparameters), `checkpoint.pt`, `progress.csv`,
TensorBoard event files, `session.json` (the options a resumed session starts from), `summary.json`,
and after `--plot` or `thrust eval --video` the learning curve and videos.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import itertools
import json
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from thrust.logger import ProgressDisplay, RunLogger, write_json

CHECKPOINT = "checkpoint.pt"


class RunError(ValueError):
    """A run folder or session option that does not fit, reported as one line without a traceback."""


@dataclass
class SessionOptions:
    """Options of one training session; they may change when a run is resumed."""

    checkpoint_every: int = 10
    """write a checkpoint every this many iterations (one is always written at the end, on Ctrl-C and SIGTERM)"""
    stop_after: int | None = None
    """stop after this many iterations of this session, with a checkpoint (continue with --resume)"""
    eval_episodes: int = 10
    """episodes of the evaluation at the end of training (0 skips it)"""
    plot: bool = True
    """write the learning curve to RUN_DIR/learning_curve.png at the end"""
    quiet: bool = False
    """print plain progress lines instead of the live panel (automatic when stdout is not a terminal)"""
    track: bool = False
    """also log to Weights & Biases (needs `pip install wandb`)"""
    wandb_project: str = "thrust"
    """the Weights & Biases project, with --track"""
    wandb_entity: str | None = None
    """the Weights & Biases team or user, with --track"""


def split_session_options(options: dict[str, Any], base: SessionOptions) -> tuple[SessionOptions, dict[str, Any]]:
    """Keyword arguments of a Python call sorted into `base` with the session options among them
    (`quiet=True`, `eval_episodes=0`, ...) replaced, and the rest (hyperparameters)."""
    names = {field.name for field in dataclasses.fields(SessionOptions)}
    session = dataclasses.replace(base, **{key: value for key, value in options.items() if key in names})
    return session, {key: value for key, value in options.items() if key not in names}


def new_run_dir(runs_dir: Path, algorithm: str, env_id: str, seed: int) -> Path:
    """Create `runs_dir/<env>__<algorithm>__<seed>__<date-time>` and return it; the folder is made
    atomically (`mkdir` fails if it exists), so runs started in the same second get `-2`, `-3`, …"""
    stem = f"{env_id.replace('/', '-')}__{algorithm}__{seed}__{time.strftime('%Y%m%d-%H%M%S')}"
    runs_dir.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        run_dir = runs_dir / (stem if n == 1 else f"{stem}-{n}")
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        return run_dir
    raise AssertionError("unreachable")


def check_writable(folder: Path) -> None:
    """`RunError` unless files can be created in `folder`, checked before anything is built; folders
    made for the check are removed again, so a run that fails later has written nothing."""
    missing = [parent for parent in (folder, *folder.parents) if not parent.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise RunError(f"cannot write in {folder}: {error.strerror or error}") from None
    finally:
        for parent in missing:  # deepest first
            with contextlib.suppress(OSError):
                parent.rmdir()


def holds_run_error(run_dir: Path) -> RunError:
    """The error for a folder that already holds a run, saying whether it can be resumed."""
    if (run_dir / CHECKPOINT).exists():
        return RunError(f"{run_dir} already holds a run: continue it with --resume {run_dir}, or pick another folder")
    return RunError(
        f"{run_dir} already holds the logs of a run that stopped before its first checkpoint (nothing to resume): "
        f"delete the folder to start again there, or pick another folder"
    )


def check_checkpoint_fits_folder(run_dir: Path, model: Any, overrides: dict[str, Any]) -> None:
    """Refuse, before any file is touched, a checkpoint that is not this folder's run (its algorithm,
    env or hyperparameters differ from the folder's summary.json and config.json)."""
    saved = json.loads((run_dir / "config.json").read_text()) if (run_dir / "config.json").is_file() else None
    summary = json.loads((run_dir / "summary.json").read_text()) if (run_dir / "summary.json").is_file() else {}
    ours = json.loads(json.dumps(dataclasses.asdict(model.config)))  # tuples as lists, like the file
    if saved is not None:
        saved = {**saved, **{key: ours[key] for key in overrides}}
    if summary.get("algo", model.name) != model.name or (saved is not None and saved != ours):
        differing = sorted(key for key in ours if saved is not None and saved.get(key) != ours[key])
        raise RunError(
            f"{run_dir / CHECKPOINT} is not this folder's run: it holds a {model.name} run on "
            f"{model.config.env_id!r}, but the folder's config.json/summary.json describe "
            f"{summary.get('algo', model.name)} on {(saved or {}).get('env_id', '?')!r}"
            + (f" (differing: {', '.join(differing)})" if differing else "")
            + "; nothing was changed"
        )


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn a failed write of `path` (disk full, read-only, …) into a one-line `RunError` naming it."""
    try:
        yield
    except OSError as error:
        raise RunError(f"writing {path} failed: {error.strerror or error}") from error


def planned_steps(config: Any) -> int:
    """The env steps a run takes: whole iterations of num_envs × num_steps, up to total_timesteps."""
    batch = config.num_envs * config.num_steps
    return config.total_timesteps // batch * batch


def start_wandb(run_dir: Path, config: dict[str, Any], session: SessionOptions) -> Any:
    """Start (or continue) the run's Weights & Biases run, mirroring its TensorBoard logs."""
    import wandb

    return wandb.init(
        project=session.wandb_project,
        entity=session.wandb_entity,
        name=run_dir.name,
        id=run_dir.name.replace(".", "-"),
        resume="allow",
        config=config,
        dir=str(run_dir),
        sync_tensorboard=True,  # must start before the SummaryWriter, which it patches
    )


def check_session(session: SessionOptions) -> None:
    """Reject bad session options before anything is built or written."""
    if session.checkpoint_every < 1:
        raise RunError(f"--checkpoint-every must be at least 1, got {session.checkpoint_every}")
    if session.stop_after is not None and session.stop_after < 1:
        raise RunError(f"--stop-after must be at least 1, got {session.stop_after}")
    if session.eval_episodes < 0:
        raise RunError(f"--eval-episodes must be >= 0, got {session.eval_episodes}")
    if session.track and importlib.util.find_spec("wandb") is None:
        raise RunError("--track needs Weights & Biases: pip install wandb")


class Silent:
    """The logger and the display of the ranks other than 0 of a distributed run: writes and shows nothing."""

    csv_path = Path(os.devnull)

    def log(self, metrics: dict[str, float]) -> None: ...
    def update(self, metrics: dict[str, float]) -> None: ...
    def print(self, text: str) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


def signal_handler(state: dict[str, Any], display: Any, repeated_by_launcher: bool) -> Callable[[int, Any], None]:
    """The handler of Ctrl-C (SIGINT) and a scheduler's SIGTERM: note it in `state["signal"]`, so that training
    stops after this iteration and saves; a second one aborts (KeyboardInterrupt).

    Ranks under torchrun get a terminal's Ctrl-C twice, from the terminal and from torchrun
    (`repeated_by_launcher`): there a second signal within 2 s counts as the same one."""

    def on_signal(signum: int, frame: Any) -> None:
        if state["signal"]:
            if repeated_by_launcher and time.monotonic() - state["signal_time"] < 2.0:
                return
            raise KeyboardInterrupt
        state["signal"], state["signal_time"] = signum, time.monotonic()
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        display.print(f"{name}: stopping after this iteration and saving a checkpoint (Ctrl-C again aborts)")

    return on_signal


def run_session(
    model: Any, run_dir: Path, session: SessionOptions, resume_step: int | None, argv: list[str],
    on_iteration: Callable[[Any, dict[str, float]], bool | None] | None = None,
) -> int:
    """Train `model` in `run_dir` until done, stopped, Ctrl-C or SIGTERM; checkpoint, evaluate, summarize.

    `on_iteration(model, metrics)`, when given, runs after each iteration is logged; returning False
    stops the session there, with a checkpoint (a sweep's pruner does this).
    """
    from thrust import distributed  # torch: imported once a model exists

    config = model.config
    hyperparameters = dataclasses.asdict(config)
    main = model.world.is_main  # of a distributed run's ranks, rank 0 alone logs, checkpoints and evaluates
    if main:  # what a resumed session starts from; --stop-after is this session's alone
        with writing(run_dir / "session.json"):
            write_json(run_dir / "session.json", {**dataclasses.asdict(session), "stop_after": None})
    wandb_run = start_wandb(run_dir, hyperparameters, session) if session.track and main else None
    logger = RunLogger(run_dir, hyperparameters, resume_step=resume_step) if main else Silent()
    display = ProgressDisplay(
        f"{model.name.upper()} {config.env_id}", planned_steps(config), model.global_step,
        live=False if session.quiet else None, plain_losses=model.progress_metrics,
    ) if main else Silent()
    display.print(f"{'resuming' if resume_step is not None else 'run folder'}: {run_dir}"
        + (f" ({model.world.size} ranks)" if model.world.distributed else ""))
    checkpoint = run_dir / CHECKPOINT
    state = {"signal": 0, "signal_time": 0.0, "iterations": 0, "saved_at": -1}

    on_signal = signal_handler(state, display, repeated_by_launcher=model.world.distributed)

    def save() -> None:
        with writing(checkpoint):
            model.save(checkpoint)  # every rank takes part; rank 0 writes
            logger.flush()
        state["saved_at"] = model.global_step

    def callback(model: Any, metrics: dict[str, float]) -> bool:
        with writing(logger.csv_path):
            logger.log(metrics)
        display.update(metrics)
        state["iterations"] += 1
        if model.iteration % session.checkpoint_every == 0:
            save()
        stop = on_iteration is not None and on_iteration(model, metrics) is False
        stop = stop or bool(state["signal"]) or state["iterations"] == session.stop_after
        return not distributed.any_rank(stop)  # the ranks stop together, at the same iteration

    previous_handlers = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        model.learn(callback=callback)
        if state["saved_at"] != model.global_step:
            save()
    except BaseException:  # a second Ctrl-C, a failed write, a crashed env: say what the folder can still do
        saved_at = state["saved_at"] if state["saved_at"] >= 0 else resume_step
        if saved_at is not None:
            hint = f"the last checkpoint (step {saved_at}) is intact: resume with {resume_command(model, run_dir)}"
        else:
            hint = f"no checkpoint was written, so there is nothing to resume: delete {run_dir} to start again there"
        if main:
            print(f"training stopped: {hint}", file=sys.stderr)
        raise
    finally:  # also on errors (a NaN loss, a crashed env): restore the handlers, keep the logs readable
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)
        display.close()
        logger.close()
        model.close()  # the training envs (worker processes for Gymnasium ids); evaluation makes its own

    if main:
        summarize(model, run_dir, session, argv, logger.elapsed, display.latest, wandb_run)
    return 128 + state["signal"] if state["signal"] else 0  # the shell's convention: 130 after Ctrl-C


def resume_command(model: Any, run_dir: Path) -> str:
    """The command that continues the run in `run_dir`: under torchrun at its world size."""
    if not model.world.distributed:
        return f"thrust train --resume {run_dir}"
    one_machine = os.environ.get("LOCAL_WORLD_SIZE") == str(model.world.size)
    launch = f"--nproc-per-node {model.world.size}" if one_machine else \
        f"(with this run's options: {model.world.size} ranks in all)"
    return f"torchrun {launch} -m thrust train --resume {run_dir}"


def summarize(
    model: Any, run_dir: Path, session: SessionOptions, argv: list[str], elapsed: float, latest: dict[str, float],
    wandb_run: Any,
) -> None:
    """The end of a session: evaluation and learning curve once the run is finished, summary.json, what to do next."""
    config, checkpoint = model.config, run_dir / CHECKPOINT
    finished = model.global_step >= planned_steps(config)
    summary: dict[str, Any] = {
        "env_id": config.env_id,
        "env_kwargs": model.env_kwargs,
        "algo": model.name,
        "seed": config.seed,
        "global_step": model.global_step,
        "total_timesteps": config.total_timesteps,
        "world_size": model.world.size,
        "iteration": model.iteration,
        "finished": finished,
        "training_seconds": round(elapsed, 3),
        "last_metrics": latest,
        "checkpoint": str(checkpoint),
        "command": "thrust " + " ".join(argv),
    }
    if finished and session.eval_episodes > 0:
        from thrust.evaluation import evaluate

        result = evaluate(model, num_episodes=session.eval_episodes)
        summary["evaluation"] = {key: value for key, value in result.items() if key != "episodes"}
        print(
            f"evaluation: return {result['mean_return']:.2f} ± {result['std_return']:.2f}, "
            f"length {result['mean_length']:.1f} over {session.eval_episodes} episodes (deterministic); "
            f"sampled actions: {result['sampled']['mean_return']:.2f} ± {result['sampled']['std_return']:.2f}"
        )
    with writing(run_dir / "summary.json"):
        write_json(run_dir / "summary.json", summary)
    if wandb_run is not None:
        wandb_run.summary.update({k: v for k, v in summary.items() if isinstance(v, (int, float))})
        wandb_run.finish()
    if finished and session.plot:
        from thrust.plot import plot_runs

        try:
            print(f"learning curve: {plot_runs([run_dir], run_dir / 'learning_curve.png')}")
        except ValueError as error:  # e.g. a run too short for any episode to end
            print(f"no learning curve: {error}")
    print(f"run folder: {run_dir}")
    if not finished:
        print(f"stopped at step {model.global_step} of {planned_steps(config)}; "
              f"resume: {resume_command(model, run_dir)}")
