"""The `thrust` command end to end: real subprocesses for train / eval / plot and Ctrl-C, in-process runs
for resume equality, corrupt checkpoints and bad input (same code path, without paying the imports again)."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import imageio.v2 as imageio
import matplotlib.image
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from thrust import checkpoint
from thrust.algorithms.ppo import PPOConfig
from thrust.cli import main, resolve_hyperparameters
from thrust.presets import preset

REPO = Path(__file__).resolve().parent.parent
# Two tiny iterations of 64 steps: the tests check plumbing, not learning.
TINY = [
    "--env",
    "CartPole-v1",
    "--num-envs",
    "4",
    "--num-steps",
    "16",
    "--update-epochs",
    "1",
    "--num-minibatches",
    "1",
]


def thrust(*args, cwd, background=False):
    """Run `python -m thrust ARGS` as a user would, with stdout a pipe (not a terminal); in the background: a Popen."""
    command = [sys.executable, "-m", "thrust", *map(str, args)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if background:
        return subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def progress_rows(run_dir):
    with open(run_dir / "progress.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_train_eval_plot_from_the_shell(tmp_path):
    (tmp_path / "hp.toml").write_text("learning_rate = 3e-4\nnum_steps = 8\n")
    train = thrust(
        "train", "ppo", *TINY, "--config", "hp.toml", "--total-timesteps", 150, "--eval-episodes", 2, cwd=tmp_path
    )
    assert train.returncode == 0, train.stderr
    assert "\x1b" not in train.stdout and "\r" not in train.stdout  # quiet mode: stdout is a pipe
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert re.fullmatch(r"CartPole-v1__ppo__1__\d{8}-\d{6}", run_dir.name)
    assert f"run folder: runs/{run_dir.name}" in train.stdout
    assert re.search(r"evaluation: return [\d.]+ ± [\d.]+", train.stdout)

    # layers: preset (gamma 0.98 for CartPole), then the file (learning_rate), then flags (num_steps 16 over 8)
    config = json.loads((run_dir / "config.json").read_text())
    assert (config["gamma"], config["learning_rate"], config["num_steps"]) == (0.98, 3e-4, 16)
    flags = dict(num_envs=4, num_steps=16, update_epochs=1, num_minibatches=1, total_timesteps=150)
    layered = PPOConfig(**{**preset("ppo", "CartPole-v1"), "learning_rate": 3e-4, **flags})  # the rest: defaults
    assert config == json.loads(json.dumps(layered.__dict__))

    rows = progress_rows(run_dir)
    assert [int(float(row["global_step"])) for row in rows] == [64, 128]
    events = EventAccumulator(str(run_dir))
    events.Reload()
    assert [event.step for event in events.Scalars("losses/approx_kl")] == [64, 128]
    assert {"charts/SPS", "charts/learning_rate", "losses/value_loss", "time/env"} <= set(events.Tags()["scalars"])
    summary = json.loads((run_dir / "summary.json").read_text())
    # 150 steps make two whole iterations of 4 × 16: the run is finished at 128
    assert summary["finished"] and summary["global_step"] == 128 and summary["evaluation"]["mean_length"] > 0
    assert "step 128/128 |" in train.stdout
    assert matplotlib.image.imread(run_dir / "learning_curve.png").shape[2] in (3, 4)

    evaluation = thrust("eval", run_dir, "--episodes", 3, "--video", cwd=tmp_path)
    assert evaluation.returncode == 0, evaluation.stderr
    match = re.search(
        r"CartPole-v1: return ([\d.]+) ± ([\d.]+), length ([\d.]+) ± [\d.]+ over 3 episodes", evaluation.stdout
    )
    assert match, evaluation.stdout
    assert re.search(r"return [\d.]+ ± [\d.]+, length [\d.]+ ± [\d.]+ over 3 episodes \(sampled actions\)",
                     evaluation.stdout), evaluation.stdout  # beside the greedy score
    (video,) = (run_dir / "videos").iterdir()
    reader = imageio.get_reader(video)
    frames = sum(1 for _ in reader)
    reader.close()
    assert frames >= float(match[3]) / 3  # one episode of the agent, at least a few frames, all decodable
    assert f"({frames} frames)" in evaluation.stdout

    plot = thrust("plot", run_dir, run_dir, "--output", "both.png", cwd=tmp_path)
    assert plot.returncode == 0, plot.stderr
    assert matplotlib.image.imread(tmp_path / "both.png").ndim == 3


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path, signum):
    train = ["train", "ppo", *TINY, "--total-timesteps", 10_000_000, "--checkpoint-every", 100_000, "--run-dir", "run"]
    process = thrust(*train, cwd=tmp_path, background=True)
    try:
        for line in process.stdout:  # the first progress line: training is under way
            if line.startswith("step "):
                break
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 128 + signum, err  # 130 for Ctrl-C, as shells expect
    assert "Traceback" not in err
    assert "resume: thrust train --resume run" in out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    saved = checkpoint.load(tmp_path / "run" / "checkpoint.pt", "ppo")
    assert not summary["finished"] and 0 < saved["global_step"] == summary["global_step"] < 10_000_000
    assert int(float(progress_rows(tmp_path / "run")[-1]["global_step"])) == saved["global_step"]


def test_a_stopped_and_resumed_run_ends_exactly_like_an_uninterrupted_one(tmp_path):
    # separate processes, as a user would run them (and as a crashed or preempted job would be resumed)
    common = ["train", "ppo", *TINY, "--total-timesteps", 256, "--update-epochs", 2, "--checkpoint-every", 3]
    common += ["--eval-episodes", 0, "--no-plot"]
    whole_run = thrust(*common, "--run-dir", "whole", cwd=tmp_path, background=True)
    stopped = thrust(*common, "--run-dir", "parts", "--stop-after", 2, cwd=tmp_path)
    assert whole_run.wait(timeout=120) == 0, whole_run.stderr.read()
    assert stopped.returncode == 0 and "resume: thrust train --resume parts" in stopped.stdout
    assert checkpoint.load(tmp_path / "parts" / "checkpoint.pt", "ppo")["global_step"] == 128
    resumed = thrust("train", "--resume", "parts", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert not (tmp_path / "parts" / "learning_curve.png").exists()  # --no-plot carried over from the first session

    whole = checkpoint.load(tmp_path / "whole" / "checkpoint.pt", "ppo")
    parts = checkpoint.load(tmp_path / "parts" / "checkpoint.pt", "ppo")
    assert whole["global_step"] == parts["global_step"] == 256
    for name, tensor in whole["policy"].items():
        assert torch.equal(tensor, parts["policy"][name]), name
    for a, b in zip(whole["optimizer"]["state"].values(), parts["optimizer"]["state"].values(), strict=True):
        assert torch.equal(a["exp_avg"], b["exp_avg"]) and torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])

    # the logs continue where the first session stopped: the same rows as the whole run, timings aside
    def untimed(run_dir):
        return [{k: v for k, v in row.items() if not k.startswith(("time/", "charts/SPS"))} for row in
                progress_rows(run_dir)]  # fmt: skip

    assert untimed(tmp_path / "parts") == untimed(tmp_path / "whole") and len(untimed(tmp_path / "whole")) == 4
    assert main(["train", "--resume", str(tmp_path / "parts")]) == 0  # already finished: nothing to do


def test_missing_truncated_and_foreign_checkpoints_are_clear_errors(tmp_path, capsys):
    run = ["train", "ppo", *TINY, "--total-timesteps", "64", "--run-dir", str(tmp_path / "run"), "--eval-episodes", "0"]
    assert main([*run, "--no-plot", "--quiet"]) == 0
    good = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(good[: len(good) // 2])
    (tmp_path / "text.pt").write_text("not a checkpoint")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    cases = {
        "truncated.pt": "not a readable checkpoint",
        "text.pt": "not a readable checkpoint",
        "foreign.pt": "not a Thrust checkpoint",
        "missing.pt": "does not exist",
    }
    for name, message in cases.items():
        capsys.readouterr()
        assert main(["eval", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (name, err)

    (tmp_path / "run" / "checkpoint.pt").write_bytes(good[:100])
    assert main(["train", "--resume", str(tmp_path / "run")]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "nowhere")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_help_lists_every_option_with_its_default(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "ppo", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    # one entry per option: from its flag to the next flag; each must state its default
    entries: list[str] = []
    for line in text.splitlines():
        content = line.strip("│ ")  # boxes on a UTF-8 terminal, plain columns elsewhere
        if content.startswith("--"):
            entries.append(content)
        elif entries:
            entries[-1] += " " + content
    options = {entry.split()[0].rstrip(","): entry for entry in entries}
    expected = [f"--{field.replace('_', '-')}" for field in PPOConfig.__dataclass_fields__]
    expected += ["--config", "--run-dir", "--runs-dir", "--checkpoint-every", "--stop-after", "--eval-episodes"]
    expected += ["--plot", "--quiet", "--track"]
    for flag in expected:
        assert flag in options, flag
        assert "(default: " in options[flag], flag
    assert "(default: 0.98)" in options["--gamma"]  # defaults shown are the env's preset


def test_yaml_config_is_applied_between_preset_and_flags(tmp_path):
    (tmp_path / "hp.yaml").write_text("env_id: Acrobot-v1\nlearning_rate: 0.001\nnum_steps: 8\nhidden_sizes: [32,32]\n")
    config, _ = resolve_hyperparameters("ppo", ["--config", str(tmp_path / "hp.yaml")])
    assert (config.env_id, config.learning_rate, config.num_steps, config.hidden_sizes) == (
        "Acrobot-v1", 0.001, 8, (32, 32)
    )
    assert config.gamma == preset("ppo", "Acrobot-v1").get("gamma", PPOConfig().gamma)  # the preset under the file


def test_bad_input_is_a_clear_error_and_writes_nothing(tmp_path, capsys):
    def error_of(*args):
        assert main(list(args)) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        return err

    runs = str(tmp_path / "runs")
    assert "did you mean 'CartPole-v1'" in error_of("train", "ppo", "--env", "CartPol-v1", "--runs-dir", runs)
    assert "num_minibatches" in error_of("train", "ppo", *TINY, "--num-minibatches", "3", "--runs-dir", runs)
    assert "pip install wandb" in error_of("train", "ppo", *TINY, "--track", "--runs-dir", runs)
    assert "choose an algorithm" in error_of("train", "--env", "CartPole-v1")
    (tmp_path / "bad.toml").write_text("learnin_rate = 0.1\n")
    assert "did you mean learning_rate" in error_of("train", "ppo", "--config", str(tmp_path / "bad.toml"))
    (tmp_path / "bad.yaml").write_text("learnin_rate: 0.1\n")
    assert "did you mean learning_rate" in error_of("train", "ppo", "--config", str(tmp_path / "bad.yaml"))
    (tmp_path / "broken.yaml").write_text("learning_rate: [0.1\n")
    assert "not valid YAML" in error_of("train", "ppo", "--config", str(tmp_path / "broken.yaml"))
    (tmp_path / "bad.json").write_text('{"num_envs": 2.5}')
    assert "num_envs must be int" in error_of("train", "ppo", "--config", str(tmp_path / "bad.json"))
    assert not (tmp_path / "runs").exists()
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "progress.csv").write_text("global_step\n64\n")
    assert "stopped before its first checkpoint" in error_of("train", "ppo", *TINY, "--run-dir", str(tmp_path / "old"))
    assert main([]) == 2 and "algorithms: ppo" in capsys.readouterr().out


def test_a_diverged_loss_and_a_missing_extra_are_clear_errors_and_close_the_logs(tmp_path, capsys, monkeypatch):
    import thrust.algorithms.ppo
    import thrust.env_factory
    import thrust.runs

    closed = []
    close = thrust.runs.RunLogger.close
    monkeypatch.setattr(thrust.runs.RunLogger, "close", lambda self: (closed.append(self.run_dir), close(self)))

    def diverge(self, *args, **kwargs):
        raise FloatingPointError("the loss is NaN at update 1")

    monkeypatch.setattr(thrust.algorithms.ppo.PPO, "learn", diverge)
    assert main(["train", "ppo", *TINY, "--run-dir", str(tmp_path / "nan")]) == 2
    err = capsys.readouterr().err
    assert "the loss is NaN" in err and "Traceback" not in err
    assert closed == [tmp_path / "nan"]

    def no_ale():
        raise ImportError("Atari envs need ale-py: pip install 'thrust-rl[atari]'")

    monkeypatch.setattr(thrust.env_factory, "register_ale_envs", no_ale)
    assert main(["train", "ppo", "--env", "ALE/Pong-v5", "--run-dir", str(tmp_path / "pong")]) == 2
    err = capsys.readouterr().err
    assert "pip install 'thrust-rl[atari]'" in err and "Traceback" not in err


def test_help_into_a_closed_pipe_exits_quietly(tmp_path):
    """`thrust train ppo --help | head -1`: the reader leaves early; no BrokenPipeError traceback."""
    process = thrust("train", "ppo", "--help", cwd=tmp_path, background=True)
    process.stdout.close()  # the reader is gone before thrust writes
    stderr = process.stderr.read()
    assert process.wait(timeout=120) == 141
    assert "Traceback" not in stderr and "BrokenPipe" not in stderr
