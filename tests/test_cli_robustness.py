"""The `thrust` command under ordinary misuse and faults: concurrent runs, foreign checkpoints, unwritable
or full disks, aborts before the first checkpoint, extending a finished run, --version."""

import errno
import json
import shutil
import subprocess
import sys

import pytest

import thrust.cli
from thrust import checkpoint
from thrust.cli import main, new_run_dir

TINY = ["--env", "CartPole-v1", "--num-envs", "4", "--num-steps", "16", "--update-epochs", "1",
        "--num-minibatches", "1", "--eval-episodes", "0", "--no-plot", "--quiet"]


def error_of(capsys, *args, status=2):
    assert main(list(args)) == status
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path):
    first = new_run_dir(tmp_path / "runs", "ppo", "CartPole-v1", 1)
    second = new_run_dir(tmp_path / "runs", "ppo", "CartPole-v1", 1)
    assert first != second and first.is_dir() and second.is_dir()  # made when named, not later


def test_concurrent_trainings_never_share_a_folder(tmp_path):
    command = [sys.executable, "-m", "thrust", "train", "ppo", *TINY, "--total-timesteps", "128"]
    processes = [subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(3)]
    for process in processes:
        assert process.wait(timeout=180) == 0, process.stderr.read()
    run_dirs = sorted((tmp_path / "runs").iterdir())
    assert len(run_dirs) == 3
    for run_dir in run_dirs:  # each run's own logs, not interleaved rows
        rows = (run_dir / "progress.csv").read_text().splitlines()[1:]
        assert [float(row.split(",")[0]) for row in rows] == [64, 128]
        assert checkpoint.load(run_dir / "checkpoint.pt", "ppo")["global_step"] == 128


def test_resume_refuses_another_runs_checkpoint_before_touching_anything(tmp_path, capsys):
    assert main(["train", "ppo", *TINY, "--total-timesteps", "256", "--run-dir", str(tmp_path / "cart"),
                 "--stop-after", "2"]) == 0
    acrobot = [arg if arg != "CartPole-v1" else "Acrobot-v1" for arg in TINY]
    assert main(["train", "ppo", *acrobot, "--total-timesteps", "64", "--run-dir", str(tmp_path / "acro")]) == 0
    shutil.copy(tmp_path / "acro" / "checkpoint.pt", tmp_path / "cart" / "checkpoint.pt")
    before = {path.name: path.read_bytes() for path in (tmp_path / "cart").iterdir() if path.is_file()}
    capsys.readouterr()
    err = error_of(capsys, "train", "--resume", str(tmp_path / "cart"))
    assert "is not this folder's run" in err and "'Acrobot-v1'" in err and "'CartPole-v1'" in err
    assert {path.name: path.read_bytes() for path in (tmp_path / "cart").iterdir() if path.is_file()} == before


@pytest.mark.parametrize("runs_dir", ["/dev/null/runs", "/proc/thrust-runs"])
def test_an_unwritable_runs_folder_is_one_line_before_anything_is_built(capsys, runs_dir, monkeypatch):
    import thrust.algorithms.ppo

    monkeypatch.setattr(thrust.algorithms.ppo.PPO, "__init__", lambda *args, **kwargs: pytest.fail("built"))
    err = error_of(capsys, "train", "ppo", *TINY, "--runs-dir", runs_dir)
    assert f"cannot write in {runs_dir}" in err and len(err.strip().splitlines()) == 1


def test_a_failed_write_during_training_names_the_file_and_keeps_the_checkpoint(tmp_path, capsys, monkeypatch):
    log = thrust.cli.RunLogger.log

    def log_until_the_disk_fills(self, metrics):
        if metrics["global_step"] > 128:
            raise OSError(errno.ENOSPC, "No space left on device")
        log(self, metrics)

    monkeypatch.setattr(thrust.cli.RunLogger, "log", log_until_the_disk_fills)
    run_dir = tmp_path / "run"
    err = error_of(capsys, "train", "ppo", *TINY, "--total-timesteps", "512", "--checkpoint-every", "2",
                   "--run-dir", str(run_dir))
    assert f"writing {run_dir / 'progress.csv'} failed: No space left on device" in err
    assert f"the last checkpoint (step 128) is intact: resume with thrust train --resume {run_dir}" in err
    assert checkpoint.load(run_dir / "checkpoint.pt", "ppo")["global_step"] == 128
    monkeypatch.setattr(thrust.cli.RunLogger, "log", log)
    assert main(["train", "--resume", str(run_dir)]) == 0
    assert checkpoint.load(run_dir / "checkpoint.pt", "ppo")["global_step"] == 512


def test_an_abort_before_the_first_checkpoint_says_the_folder_is_to_delete(tmp_path, capsys, monkeypatch):
    import thrust.algorithms.ppo

    def aborted(self, callback=None, total_timesteps=None):
        raise KeyboardInterrupt  # the second Ctrl-C, during the first iteration

    monkeypatch.setattr(thrust.algorithms.ppo.PPO, "learn", aborted)
    run_dir = tmp_path / "run"
    err = error_of(capsys, "train", "ppo", *TINY, "--run-dir", str(run_dir), status=130)
    assert f"no checkpoint was written, so there is nothing to resume: delete {run_dir}" in err
    assert "delete the folder to start again there" in error_of(capsys, "train", "--resume", str(run_dir))
    monkeypatch.undo()
    (run_dir / "progress.csv").write_text("global_step\n64\n")  # logs of the aborted session
    assert "stopped before its first checkpoint" in error_of(capsys, "train", "ppo", *TINY, "--run-dir", str(run_dir))


def test_a_crash_after_a_checkpoint_prints_the_resume_hint(tmp_path, capsys, monkeypatch):
    log = thrust.cli.RunLogger.log

    def worker_dies(self, metrics):
        if metrics["global_step"] > 64:
            raise RuntimeError("env worker 1 died (killed by SIGKILL)")
        log(self, metrics)

    monkeypatch.setattr(thrust.cli.RunLogger, "log", worker_dies)
    run_dir = tmp_path / "run"
    err = error_of(capsys, "train", "ppo", *TINY, "--total-timesteps", "256", "--checkpoint-every", "1",
                   "--run-dir", str(run_dir))
    assert "env worker 1 died" in err and f"resume with thrust train --resume {run_dir}" in err


def test_resume_extends_a_finished_run_and_changes_the_learning_rate(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", "ppo", *TINY, "--total-timesteps", "128", "--run-dir", str(run_dir)]) == 0
    assert main(["train", "--resume", str(run_dir)]) == 0
    assert "already finished" in capsys.readouterr().out
    assert main(["train", "--resume", str(run_dir), "--total-timesteps", "256", "--learning-rate", "1e-3"]) == 0
    state = checkpoint.load(run_dir / "checkpoint.pt", "ppo")
    assert state["global_step"] == 256 and state["config"]["learning_rate"] == 1e-3
    assert json.loads((run_dir / "config.json").read_text())["total_timesteps"] == 256  # the folder says so too
    rows = (run_dir / "progress.csv").read_text().splitlines()[1:]
    assert [float(row.split(",")[0]) for row in rows] == [64, 128, 192, 256]


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("thrust 0.")
