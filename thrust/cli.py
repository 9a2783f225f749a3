"""The `thrust` command: train, evaluate, plot, benchmark, population-based training, sweeps.

    thrust train ALGO --env ENV_ID [--option value ...]      train with a registered algorithm (listed below);
                                                              `thrust train ALGO --help` lists every option
    thrust train --resume RUN_DIR                             continue a stopped run in its own folder
    thrust eval RUN_DIR|CHECKPOINT [--episodes N] [--no-deterministic] [--video]
    thrust plot RUN_DIR... [--output FILE]
    thrust bench [NAME...] [--quick]
    thrust pbt ALGO --env ENV_ID [--population P] [--interval K] [--search 'lr=loguniform(1e-4,1e-2)' ...]
                                                              population-based training
    thrust pbt --resume RUN_DIR                               continue a stopped PBT run
    thrust sweep ALGO --env ENV_ID [--trials N] [--search SPEC ...]   an Optuna sweep (pip install 'thrust-rl[sweep]')
    thrust --version

Hyperparameters are layered: the env's preset, then `--config FILE` (TOML, YAML or JSON), then flags.
A run folder holds `config.json` (the resolved hyperparameters), `checkpoint.pt`, `progress.csv`,
TensorBoard event files, `summary.json`, and after `--video` or `--plot` the video and the plot.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import sys
import typing
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar

import tyro

from thrust import algorithms
from thrust.config import matches_type, type_name
from thrust.logger import write_json
from thrust.population import PBTOptions
from thrust.runs import (
    CHECKPOINT,
    SessionOptions,
    check_checkpoint_fits_folder,
    check_session,
    check_writable,
    holds_run_error,
    new_run_dir,
    planned_steps,
    run_session,
    writing,
)


class CLIError(ValueError):
    """A mistake in the command line or its files, reported as one line without a traceback."""


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
    """take the most likely action, and report the sampled actions' score beside it, with a warning where the
    greedy one is much lower (--no-deterministic: sampled actions only)"""
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


SEARCH_HELP = (
    "hyperparameters to search, as NAME=DISTRIBUTION specs quoted for the shell: 'lr=loguniform(1e-4,1e-2)' "
    "'ent_coef=uniform(0,0.02)' 'update_epochs=int(2,10)' 'gamma=choice(0.98,0.99)' (none: learning_rate, a decade "
    "either side of the config's)"
)


@dataclass
class PBTArgs(Generic[Config]):
    hyperparameters: Config
    session: SessionOptions
    pbt: PBTOptions
    search: Annotated[tuple[str, ...], tyro.conf.arg(help=SEARCH_HELP)] = ()
    config: Path | None = None
    """a TOML, YAML or JSON file of hyperparameters, applied over the env's preset and under the flags"""
    env_kwargs: tuple[str, ...] = ()
    """the env constructor's keyword arguments, as for thrust train"""
    run_dir: Path | None = None
    """the PBT run's folder (None: RUNS_DIR/<env>__<algo>-pbt__<seed>__<date-time>)"""
    runs_dir: Path = Path("runs")
    """where new run folders go"""


@dataclass
class PBTResumeArgs:
    resume: Path
    """the PBT run folder to continue"""
    session: SessionOptions


@dataclass
class SweepArgs(Generic[Config]):
    hyperparameters: Config
    session: SessionOptions
    trials: int = 8
    """training runs to try"""
    search: Annotated[tuple[str, ...], tyro.conf.arg(help=SEARCH_HELP)] = ()
    prune: bool = True
    """stop trials whose recent return falls below the median of earlier trials at the same iteration"""
    config: Path | None = None
    """a TOML, YAML or JSON file of hyperparameters, applied over the env's preset and under the flags"""
    env_kwargs: tuple[str, ...] = ()
    """the env constructor's keyword arguments, as for thrust train"""
    run_dir: Path | None = None
    """the sweep's folder (None: RUNS_DIR/<env>__<algo>-sweep__<seed>__<date-time>)"""
    runs_dir: Path = Path("runs")
    """where new run folders go"""


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


PYTHON_CONSTANTS = {"True": True, "False": False, "None": None}  # as Python users write them in key=value


def parse_env_kwargs(items: tuple[str, ...]) -> dict[str, Any]:
    """`--env-kwargs` as a dict: one JSON object, or `key=value` items whose values are JSON, Python's
    `True`/`False`/`None`, or plain strings."""
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
            kwargs[key] = PYTHON_CONSTANTS[text] if text in PYTHON_CONSTANTS else json.loads(text)
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
    model = algorithm(config.env_id, config=config, env_kwargs=env_kwargs)  # joins torchrun's ranks, if any
    from thrust import distributed

    run_dir = None
    if model.world.is_main:
        run_dir = parsed.run_dir or new_run_dir(parsed.runs_dir, name, config.env_id, config.seed)
        run_dir.mkdir(parents=True, exist_ok=True)
        with writing(run_dir / "config.json"):
            write_json(run_dir / "config.json", dataclasses.asdict(model.config))
    run_dir = distributed.broadcast(run_dir)  # rank 0's folder: after every rank's checks above
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
    model.check_world()
    if overrides and model.world.is_main:
        with writing(run_dir / "config.json"):
            write_json(run_dir / "config.json", dataclasses.asdict(model.config))
    if model.global_step >= planned_steps(model.config):
        print(f"{run_dir} already finished ({model.global_step} steps)")
        return 0
    return run_session(
        model, run_dir, session, resume_step=model.global_step, argv=["train", "--resume", str(run_dir)]
    )


# ---------------------------------------------------------------- eval, plot, bench


def eval_command(args: list[str]) -> int:
    parsed = _cli(EvalArgs, args, "thrust eval", "Evaluate a trained agent, optionally recording a video.")
    from thrust.evaluation import GreedyGapWarning, acting, evaluate

    path = parsed.path
    checkpoint = path / CHECKPOINT if path.is_dir() else path
    if not checkpoint.exists():
        raise CLIError(f"{checkpoint} does not exist; eval takes a run folder or a checkpoint file")
    if parsed.episodes < 1:
        raise CLIError(f"--episodes must be at least 1, got {parsed.episodes}")
    model = algorithms.load(checkpoint, **({} if parsed.device is None else {"device": parsed.device}))
    model.close()  # restored training envs are not needed to evaluate
    with warnings.catch_warnings():  # printed below as a line of its own
        warnings.simplefilter("ignore", GreedyGapWarning)
        result = evaluate(model, num_episodes=parsed.episodes, deterministic=parsed.deterministic, seed=parsed.seed)
    for mode, summary in (("deterministic" if parsed.deterministic else "sampled actions", result),
                          ("sampled actions", result.get("sampled"))):
        if summary is not None:
            print(f"{model.config.env_id}: return {summary['mean_return']:.2f} ± {summary['std_return']:.2f}, "
                  f"length {summary['mean_length']:.1f} ± {summary['std_length']:.1f} over {parsed.episodes} "
                  f"episodes ({mode})")
    if result.get("warning"):
        print(f"warning: {result['warning']}")
    if parsed.video:
        from thrust.video import record_video

        video = checkpoint.parent / "videos" / f"{checkpoint.stem}-step{model.global_step}.mp4"
        frames = record_video(
            model.config.env_id,
            acting(model, parsed.deterministic),
            video,
            episodes=parsed.video_episodes,
            seed=parsed.seed,
            env_kwargs=model.env_kwargs,
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


# ---------------------------------------------------------------- pbt, sweep


def _parse_new_run(command: str, args: list[str], args_class: Any, description: str, **defaults: Any) -> Any:
    """`thrust COMMAND ALGO ...` parsed like `thrust train ALGO ...`: preset, --config file, flags; `(name, parsed)`."""
    check_one_process(command)
    names = algorithms.names()
    if not args or args[0] not in names:
        raise CLIError(f"choose an algorithm: thrust {command} {{{','.join(names)}}} [options]")
    name, algorithm = args[0], algorithms.get(args[0])
    hyperparameters, args = resolve_hyperparameters(name, args[1:])
    parsed = _cli(
        args_class[algorithm.Config], args, f"thrust {command} {name}",
        f"{description} Defaults shown are the env's preset (and --config's values); flags override them for "
        f"every member or trial. --env is short for --env-id.",
        default=args_class(hyperparameters=hyperparameters, session=SessionOptions(), **defaults),
    )
    return name, parsed


def check_one_process(command: str) -> None:
    """PBT and sweeps decide from their own members' scores: one process, never one of torchrun's ranks."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise CLIError(f"thrust {command} runs in one process, not under torchrun (WORLD_SIZE="
                       f"{os.environ['WORLD_SIZE']}): data-parallel training is torchrun ... -m thrust train")


def pbt_command(args: list[str]) -> int:
    from thrust.pbt_runs import resume_pbt, start_pbt

    check_one_process("pbt")
    if any(arg == "--resume" or arg.startswith("--resume=") for arg in args):
        run_dir = Path(_flag_value(args, ("--resume",)) or "")
        saved = run_dir / "session.json"
        session = SessionOptions(**json.loads(saved.read_text())) if saved.is_file() else SessionOptions()
        resume = _cli(PBTResumeArgs, args, "thrust pbt --resume",
                      "Continue a stopped PBT run. Session options default to the ones the run last used.",
                      default=PBTResumeArgs(resume=run_dir, session=session))
        return resume_pbt(resume.resume, resume.session).exit_status
    name, parsed = _parse_new_run(
        "pbt", args, PBTArgs,
        "Population-based training: members train side by side; every --interval iterations the worst copy the best "
        "(weights, optimizer, normalization) and perturb or resample the searched hyperparameters.",
        pbt=PBTOptions(),
    )
    return start_pbt(name, parsed.hyperparameters, parsed.pbt, parsed.search, parse_env_kwargs(parsed.env_kwargs),
                     parsed.runs_dir, parsed.run_dir, parsed.session, ["pbt", *args]).exit_status


def sweep_command(args: list[str]) -> int:
    from thrust.sweeps import run_sweep

    name, parsed = _parse_new_run(
        "sweep", args, SweepArgs,
        "A hyperparameter sweep with Optuna (pip install 'thrust-rl[sweep]'): each trial a training run, pruned "
        "when its learning curve falls behind; results in SWEEP_DIR/results.csv.",
    )
    return run_sweep(name, parsed.hyperparameters, parsed.trials, parsed.search, parse_env_kwargs(parsed.env_kwargs),
                     parsed.runs_dir, parsed.run_dir, parsed.session, parsed.prune, ["sweep", *args]).exit_status


COMMANDS = {"train": train_command, "eval": eval_command, "plot": plot_command, "bench": bench_command,
            "pbt": pbt_command, "sweep": sweep_command}


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
    finished = False
    try:
        try:
            status = COMMANDS[argv[0]](argv[1:])
            finished = True
            return status
        finally:
            if "torch.distributed" in sys.modules:  # a distributed run's ranks leave their process group
                from thrust.distributed import shutdown

                shutdown(finished)
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
