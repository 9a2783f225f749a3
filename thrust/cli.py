"""The `thrust` command: train, evaluate, plot, benchmark.

    thrust train ALGO --env ENV_ID [--option value ...]      train with a registered algorithm (listed below);
                                                              `thrust train ALGO --help` lists every option
    thrust train --resume RUN_DIR                             continue a stopped run in its own folder
    thrust eval RUN_DIR|CHECKPOINT [--episodes N] [--no-deterministic] [--video]
    thrust plot RUN_DIR... [--output FILE]
    thrust bench [NAME...] [--quick]
    thrust --version

Hyperparameters are layered: the env's preset, then `--config FILE` (TOML, YAML or JSON), then flags.
A run folder holds `config.json` (the resolved hyperparameters), `checkpoint.pt`, `progress.csv`,
TensorBoard event files, `summary.json`, and after `--video` or `--plot` the video and the plot.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import importlib.util
import itertools
import json
import os
import signal
import sys
import tempfile
import time
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import tyro

from thrust import algorithms
from thrust.config import matches_type, type_name
from thrust.logger import ProgressDisplay, RunLogger, write_json

CHECKPOINT = "checkpoint.pt"


class CLIError(ValueError):
    """A mistake in the command line or its files, reported as one line without a traceback."""


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


Config = TypeVar("Config")


@dataclass
class TrainArgs(Generic[Config]):
    hyperparameters: Config
    session: SessionOptions
    config: Path | None = None
    """a TOML, YAML or JSON file of hyperparameters, applied over the env's preset and under the flags"""
    env_kwargs: tuple[str, ...] = ()
    """the env constructor's keyword arguments: one JSON object ('{"max_episode_steps": 100}') or key=value
    pairs (values read as JSON where they parse: g=5.0 gives 5.0); kept in the checkpoint for eval and resume"""
    run_dir: Path | None = None
    """the run folder (None: RUNS_DIR/<env>__<algo>__<seed>__<date-time>)"""
    runs_dir: Path = Path("runs")
    """where new run folders go"""


@dataclass
class ResumeArgs:
    resume: Path
    """the run folder to continue; it keeps its hyperparameters, logs are appended"""
    session: SessionOptions
    total_timesteps: int | None = None
    """train on to this many env steps in all (None: the run's own total; more extends the run)"""
    learning_rate: float | None = None
    """continue with this learning rate (None: the run's own; the annealing schedule follows it)"""


@dataclass
class EvalArgs:
    path: tyro.conf.Positional[Path]
    """a run folder or a checkpoint file"""
    episodes: int = 10
    """number of evaluation episodes"""
    deterministic: bool = True
    """take the most likely action (--no-deterministic samples from the policy)"""
    seed: int = 0
    """seed of the first evaluation episode (episode i uses seed + i)"""
    video: bool = False
    """also write an mp4 of the agent into the run folder"""
    video_episodes: int = 1
    """episodes in the video"""
    device: str | None = None
    """torch device to load the model on (None: the one it was trained on), e.g. cpu for a GPU-trained run"""


@dataclass
class PlotArgs:
    run_dirs: tyro.conf.Positional[list[Path]]
    """run folders; runs of the same env and algorithm are drawn as their mean with a ± std band"""
    output: Path | None = None
    """the PNG to write (None: RUN_DIR/learning_curve.png for one run, learning_curves.png for several)"""
    metric: str = "charts/episodic_return"
    """the progress.csv column to plot"""
    smooth: int = 1
    """average each logged value with the SMOOTH - 1 before it (1: raw values)"""


@dataclass
class BenchArgs:
    names: tyro.conf.Positional[list[str]] = dataclasses.field(default_factory=list)
    """benchmarks to run (none named: every section of BENCHMARKS.md)"""
    quick: bool = False
    """short smoke runs: tables are printed, BENCHMARKS.md is left unchanged"""


def _cli(cls: Any, args: list[str], prog: str, description: str, default: Any = None) -> Any:
    return tyro.cli(tyro.conf.OmitArgPrefixes[cls], args=args, prog=prog, description=description, default=default)


# ---------------------------------------------------------------- hyperparameters: preset, file, flags


def parse_config_text(path: Path) -> Any:
    """The contents of a TOML, YAML or JSON file (by its suffix); `CLIError` naming the file if it does not parse."""
    import tomllib
    import yaml

    parsers = {".toml": ("TOML", tomllib.loads, tomllib.TOMLDecodeError),
               ".yaml": ("YAML", lambda text: yaml.safe_load(text) or {}, yaml.YAMLError),
               ".json": ("JSON", json.loads, json.JSONDecodeError)}
    parsers[".yml"] = parsers[".yaml"]
    if path.suffix not in parsers:
        raise CLIError(f"config file {path} must end in .toml, .yaml, .yml or .json")
    language, parse, error_type = parsers[path.suffix]
    try:
        return parse(path.read_text())
    except error_type as error:
        raise CLIError(f"{path} is not valid {language}: {error}") from None


def read_config_file(path: Path, config_type: type) -> dict[str, Any]:
    """Hyperparameters from a TOML, YAML or JSON file, checked against `config_type`'s fields and types."""
    path = Path(path)
    if not path.is_file():
        raise CLIError(f"config file {path} does not exist")
    values = parse_config_text(path)
    if not isinstance(values, dict):
        raise CLIError(f"{path} must hold a table of hyperparameter = value")
    hints = typing.get_type_hints(config_type)
    checked = {}
    for key, value in values.items():
        name = key.replace("-", "_")
        if name not in hints:
            close = difflib.get_close_matches(name, list(hints), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise CLIError(f"{path}: unknown hyperparameter {key!r}{hint}")
        if isinstance(value, list):  # TOML, YAML and JSON have lists where the config has tuples
            value = tuple(value)
        if not matches_type(value, hints[name]):
            raise CLIError(f"{path}: {key} must be {type_name(hints[name])}, got {value!r}")
        checked[name] = float(value) if hints[name] is float else value
    return checked


def parse_env_kwargs(items: tuple[str, ...]) -> dict[str, Any]:
    """`--env-kwargs` as a dict: one JSON object, or `key=value` items whose values are JSON or plain strings."""
    if len(items) == 1 and items[0].lstrip().startswith("{"):
        try:
            kwargs = json.loads(items[0])
        except json.JSONDecodeError as error:
            raise CLIError(f"--env-kwargs is not a valid JSON object: {error}") from None
        if not isinstance(kwargs, dict):
            raise CLIError(f"--env-kwargs must be a JSON object, got {items[0]!r}")
        return kwargs
    kwargs = {}
    for item in items:
        key, equals, text = item.partition("=")
        if not equals or not key.isidentifier():
            raise CLIError(f"--env-kwargs takes key=value pairs or one JSON object, got {item!r}")
        try:
            kwargs[key] = json.loads(text)
        except json.JSONDecodeError:
            kwargs[key] = text  # a plain string, e.g. render_mode=rgb_array
    return kwargs


def _flag_value(args: list[str], names: tuple[str, ...]) -> str | None:
    """The value of the last of `--name value` / `--name=value` in `args`, for any of `names`."""
    found = None
    for i, arg in enumerate(args):
        flag, eq, value = arg.partition("=")
        if flag in names:
            found = value if eq else (args[i + 1] if i + 1 < len(args) else None)
    return found


def resolve_hyperparameters(algorithm: str, args: list[str]) -> tuple[Any, list[str]]:
    """The defaults that `thrust train ALGO` shows and starts from: the preset, then the config file.

    Returns them as the algorithm's config object, and `args` with `--env` spelled `--env-id` for tyro.
    """
    from thrust.presets import preset

    config_class = algorithms.get(algorithm).Config
    args = ["--env-id" + arg[5:] if arg == "--env" or arg.startswith("--env=") else arg for arg in args]
    config_path = _flag_value(args, ("--config",))
    from_file = read_config_file(Path(config_path), config_class) if config_path else {}
    env_id = _flag_value(args, ("--env-id", "--env_id")) or from_file.get("env_id") or config_class().env_id
    return config_class(**{**preset(algorithm, env_id), **from_file, "env_id": env_id}), args


# ---------------------------------------------------------------- train


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
    """`CLIError` unless files can be created in `folder`, checked before anything is built; folders
    made for the check are removed again, so a run that fails later has written nothing."""
    missing = [parent for parent in (folder, *folder.parents) if not parent.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise CLIError(f"cannot write in {folder}: {error.strerror or error}") from None
    finally:
        for parent in missing:  # deepest first
            with contextlib.suppress(OSError):
                parent.rmdir()


def holds_run_error(run_dir: Path) -> CLIError:
    """The error for a folder that already holds a run, saying whether it can be resumed."""
    if (run_dir / CHECKPOINT).exists():
        return CLIError(f"{run_dir} already holds a run: continue it with --resume {run_dir}, or pick another folder")
    return CLIError(
        f"{run_dir} already holds the logs of a run that stopped before its first checkpoint (nothing to resume): "
        f"delete the folder to start again there, or pick another folder"
    )


def train_command(args: list[str]) -> int:
    if any(arg == "--resume" or arg.startswith("--resume=") for arg in args):
        if args and args[0] in algorithms.names():
            args = args[1:]
        run_dir = Path(_flag_value(args, ("--resume",)) or "")
        saved = run_dir / "session.json"
        names = {field.name for field in dataclasses.fields(SessionOptions)}
        last = json.loads(saved.read_text()) if saved.is_file() else {}
        session = SessionOptions(**{key: value for key, value in last.items() if key in names})
        resume = _cli(
            ResumeArgs,
            args,
            "thrust train --resume",
            "Continue a stopped training run. Session options default to the ones the run last used.",
            default=ResumeArgs(resume=run_dir, session=session),
        )
        check_session(resume.session)
        overrides = {key: value for key, value in (("total_timesteps", resume.total_timesteps),
                                                   ("learning_rate", resume.learning_rate)) if value is not None}
        return resume_run(resume.resume, resume.session, overrides)
    names = algorithms.names()
    if not args or args[0] not in names:
        raise CLIError(f"choose an algorithm: thrust train {{{','.join(names)}}} [options] (or --resume RUN_DIR)")
    name, algorithm = args[0], algorithms.get(args[0])

    command = ["train", *args]
    defaults, args = resolve_hyperparameters(name, args[1:])
    parsed = _cli(
        TrainArgs[algorithm.Config],
        args,
        f"thrust train {name}",
        f"Train {name.upper()}. Defaults shown are the env's preset (and --config's values); flags override them. "
        "--env is short for --env-id.",
        default=TrainArgs(hyperparameters=defaults, session=SessionOptions()),
    )
    check_session(parsed.session)
    config = parsed.hyperparameters
    if parsed.run_dir is not None and ((parsed.run_dir / CHECKPOINT).exists()
                                       or (parsed.run_dir / "progress.csv").exists()):
        raise holds_run_error(parsed.run_dir)
    env_kwargs = parse_env_kwargs(parsed.env_kwargs)
    check_writable(parsed.run_dir or parsed.runs_dir)
    model = algorithm(config.env_id, config=config, env_kwargs=env_kwargs)
    run_dir = parsed.run_dir or new_run_dir(parsed.runs_dir, name, config.env_id, config.seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    with writing(run_dir / "config.json"):
        write_json(run_dir / "config.json", dataclasses.asdict(model.config))
    return run_session(model, run_dir, parsed.session, resume_step=None, argv=command)


def resume_run(run_dir: Path, session: SessionOptions, overrides: dict[str, Any] | None = None) -> int:
    """Continue the run in `run_dir` from its checkpoint; `overrides` (total_timesteps, learning_rate) change it."""
    if not run_dir.is_dir():
        raise CLIError(f"{run_dir} is not a folder; --resume takes a run folder made by `thrust train`")
    if not (run_dir / CHECKPOINT).is_file():
        raise CLIError(
            f"{run_dir} has no {CHECKPOINT}: nothing to resume (the run stopped before its first checkpoint); "
            f"delete the folder to start again there"
        )
    check_writable(run_dir)
    model = algorithms.load(run_dir / CHECKPOINT, **(overrides or {}))
    check_checkpoint_fits_folder(run_dir, model, overrides or {})
    if overrides:
        with writing(run_dir / "config.json"):
            write_json(run_dir / "config.json", dataclasses.asdict(model.config))
    if model.global_step >= planned_steps(model.config):
        print(f"{run_dir} already finished ({model.global_step} steps)")
        return 0
    return run_session(
        model, run_dir, session, resume_step=model.global_step, argv=["train", "--resume", str(run_dir)]
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
        raise CLIError(
            f"{run_dir / CHECKPOINT} is not this folder's run: it holds a {model.name} run on "
            f"{model.config.env_id!r}, but the folder's config.json/summary.json describe "
            f"{summary.get('algo', model.name)} on {(saved or {}).get('env_id', '?')!r}"
            + (f" (differing: {', '.join(differing)})" if differing else "")
            + "; nothing was changed"
        )


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Turn a failed write of `path` (disk full, read-only, …) into a one-line `CLIError` naming it."""
    try:
        yield
    except OSError as error:
        raise CLIError(f"writing {path} failed: {error.strerror or error}") from error


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
        raise CLIError(f"--checkpoint-every must be at least 1, got {session.checkpoint_every}")
    if session.stop_after is not None and session.stop_after < 1:
        raise CLIError(f"--stop-after must be at least 1, got {session.stop_after}")
    if session.eval_episodes < 0:
        raise CLIError(f"--eval-episodes must be >= 0, got {session.eval_episodes}")
    if session.track and importlib.util.find_spec("wandb") is None:
        raise CLIError("--track needs Weights & Biases: pip install wandb")


def run_session(
    model: Any, run_dir: Path, session: SessionOptions, resume_step: int | None, argv: list[str]
) -> int:
    """Train `model` in `run_dir` until done, stopped, Ctrl-C or SIGTERM; checkpoint, evaluate, summarize."""
    config = model.config
    hyperparameters = dataclasses.asdict(config)
    # what a resumed session starts from; --stop-after is this session's alone
    with writing(run_dir / "session.json"):
        write_json(run_dir / "session.json", {**dataclasses.asdict(session), "stop_after": None})
    wandb_run = start_wandb(run_dir, hyperparameters, session) if session.track else None
    logger = RunLogger(run_dir, hyperparameters, resume_step=resume_step)
    display = ProgressDisplay(
        f"{model.name.upper()} {config.env_id}", planned_steps(config), model.global_step,
        live=False if session.quiet else None, plain_losses=model.progress_metrics,
    )
    display.print(f"{'resuming' if resume_step is not None else 'run folder'}: {run_dir}")
    checkpoint = run_dir / CHECKPOINT
    state = {"signal": 0, "iterations": 0, "saved_at": -1}

    def on_signal(signum: int, frame: Any) -> None:
        """Ctrl-C (SIGINT) or a scheduler's SIGTERM: finish the iteration, save, exit; a second one aborts."""
        if state["signal"]:
            raise KeyboardInterrupt
        state["signal"] = signum
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        display.print(f"{name}: stopping after this iteration and saving a checkpoint (Ctrl-C again aborts)")

    def save() -> None:
        with writing(checkpoint):
            model.save(checkpoint)
            logger.flush()
        state["saved_at"] = model.global_step

    def callback(model: Any, metrics: dict[str, float]) -> bool:
        with writing(logger.csv_path):
            logger.log(metrics)
        display.update(metrics)
        state["iterations"] += 1
        if model.iteration % session.checkpoint_every == 0:
            save()
        return not (state["signal"] or state["iterations"] == session.stop_after)

    previous_handlers = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        model.learn(callback=callback)
        if state["saved_at"] != model.global_step:
            save()
    except BaseException:  # a second Ctrl-C, a failed write, a crashed env: say what the folder can still do
        saved_at = state["saved_at"] if state["saved_at"] >= 0 else resume_step
        if saved_at is not None:
            hint = f"the last checkpoint (step {saved_at}) is intact: resume with thrust train --resume {run_dir}"
        else:
            hint = f"no checkpoint was written, so there is nothing to resume: delete {run_dir} to start again there"
        print(f"training stopped: {hint}", file=sys.stderr)
        raise
    finally:  # also on errors (a NaN loss, a crashed env): restore the handlers, keep the logs readable
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)
        display.close()
        logger.close()
        model.close()  # the training envs (worker processes for Gymnasium ids); evaluation makes its own

    summarize(model, run_dir, session, argv, logger.elapsed, display.latest, wandb_run)
    return 128 + state["signal"] if state["signal"] else 0  # the shell's convention: 130 after Ctrl-C




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
            f"length {result['mean_length']:.1f} over {session.eval_episodes} episodes (deterministic)"
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
              f"resume: thrust train --resume {run_dir}")


# ---------------------------------------------------------------- eval, plot, bench


def eval_command(args: list[str]) -> int:
    parsed = _cli(EvalArgs, args, "thrust eval", "Evaluate a trained agent, optionally recording a video.")
    from thrust.evaluation import evaluate

    path = parsed.path
    checkpoint = path / CHECKPOINT if path.is_dir() else path
    if not checkpoint.exists():
        raise CLIError(f"{checkpoint} does not exist; eval takes a run folder or a checkpoint file")
    if parsed.episodes < 1:
        raise CLIError(f"--episodes must be at least 1, got {parsed.episodes}")
    model = algorithms.load(checkpoint, **({} if parsed.device is None else {"device": parsed.device}))
    model.close()  # restored training envs are not needed to evaluate
    result = evaluate(model, num_episodes=parsed.episodes, deterministic=parsed.deterministic, seed=parsed.seed)
    mode = "deterministic" if parsed.deterministic else "sampled actions"
    print(
        f"{model.config.env_id}: return {result['mean_return']:.2f} ± {result['std_return']:.2f}, "
        f"length {result['mean_length']:.1f} ± {result['std_length']:.1f} over {parsed.episodes} episodes ({mode})"
    )
    if parsed.video:
        from thrust.video import record_video

        video = checkpoint.parent / "videos" / f"{checkpoint.stem}-step{model.global_step}.mp4"
        frames = record_video(
            model.config.env_id,
            lambda obs: model.predict(obs, deterministic=parsed.deterministic),
            video,
            episodes=parsed.video_episodes,
            seed=parsed.seed,
        )
        print(f"video: {video} ({frames} frames)")
    return 0


def plot_command(args: list[str]) -> int:
    from thrust.plot import plot_runs

    parsed = _cli(PlotArgs, args, "thrust plot", "Plot learning curves of one or more runs.")
    output = parsed.output or (
        parsed.run_dirs[0] / "learning_curve.png" if len(parsed.run_dirs) == 1 else Path("learning_curves.png")
    )
    print(f"learning curves: {plot_runs(parsed.run_dirs, output, parsed.metric, parsed.smooth)}")
    return 0


def bench_command(args: list[str]) -> int:
    from thrust.bench import run_benchmarks

    parsed = _cli(BenchArgs, args, "thrust bench", "Run benchmarks/*.py and refresh their tables in BENCHMARKS.md.")
    run_benchmarks(parsed.names, quick=parsed.quick, write=not parsed.quick)
    return 0


COMMANDS = {"train": train_command, "eval": eval_command, "plot": plot_command, "bench": bench_command}


def main(argv: list[str] | None = None) -> int:
    """Run `thrust` with `argv` (default: the process's arguments); return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if os.getcwd() not in sys.path:  # `--env my_module:MyEnv-v0` finds the module here, as `python -m thrust` does
        sys.path.append(os.getcwd())
    if argv[:1] in (["--version"], ["-V"]):
        from importlib.metadata import version

        print(f"thrust {version('thrust-rl')}")
        return 0
    if not argv or argv[0] not in COMMANDS:
        print(__doc__.strip() + f"\n\nalgorithms: {', '.join(algorithms.names())}")
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    try:
        return COMMANDS[argv[0]](argv[1:])
    # bad input, bad files, failed benchmarks, a diverged loss (FloatingPointError), a missing extra (ImportError)
    except (ValueError, FileNotFoundError, RuntimeError, FloatingPointError, ImportError) as error:
        if os.environ.get("THRUST_TRACEBACK"):
            raise
        print(f"thrust {argv[0]}: error: {error} (THRUST_TRACEBACK=1 shows where)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a second Ctrl-C during training, or Ctrl-C elsewhere
        print(f"thrust {argv[0]}: aborted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `thrust train ppo --help | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 141
