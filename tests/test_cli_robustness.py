"""The `thrust` command under ordinary misuse and faults: concurrent runs, foreign checkpoints, unwritable
or full disks, aborts before the first checkpoint, extending a finished run, --version."""

import errno
import json
import shutil
import subprocess
import sys

import pytest

import thrust.cli
import thrust.runs
from thrust import checkpoint
from thrust.cli import main
from thrust.runs import new_run_dir

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
    log = thrust.runs.RunLogger.log

    def log_until_the_disk_fills(self, metrics):
        if metrics["global_step"] > 128:
            raise OSError(errno.ENOSPC, "No space left on device")
        log(self, metrics)

    monkeypatch.setattr(thrust.runs.RunLogger, "log", log_until_the_disk_fills)
    run_dir = tmp_path / "run"
    err = error_of(capsys, "train", "ppo", *TINY, "--total-timesteps", "512", "--checkpoint-every", "2",
                   "--run-dir", str(run_dir))
    assert f"writing {run_dir / 'progress.csv'} failed: No space left on device" in err
    assert f"the last checkpoint (step 128) is intact: resume with thrust train --resume {run_dir}" in err
    assert checkpoint.load(run_dir / "checkpoint.pt", "ppo")["global_step"] == 128
    monkeypatch.setattr(thrust.runs.RunLogger, "log", log)
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
    log = thrust.runs.RunLogger.log

    def worker_dies(self, metrics):
        if metrics["global_step"] > 64:
            raise RuntimeError("env worker 1 died (killed by SIGKILL)")
        log(self, metrics)

    monkeypatch.setattr(thrust.runs.RunLogger, "log", worker_dies)
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


USER_ENV = '''
import gymnasium as gym
import numpy as np
from thrust.envs import NativeVecEnv, randint, registry


class Corridor(NativeVecEnv):
    """Walk right from a random cell to the last one; `length` cells."""

    single_observation_space = gym.spaces.Box(0.0, 64.0, shape=(1,), dtype=np.float32)
    single_action_space = gym.spaces.Discrete(2)
    state_size = 2
    max_episode_steps = 32

    def __init__(self, num_envs, length=8, **kwargs):
        self.length = float(length)
        super().__init__(num_envs, **kwargs)

    @staticmethod
    def reset_env(state, rng):
        state[0] = randint(rng, 0, 4)
        state[1] = 0

    @staticmethod
    def step_env(state, action, rng):
        state[0] = max(state[0] + (1 if action == 1 else -1), 0)
        return (1.0 if state[0] >= 7 else 0.0), state[0] >= 7

    @staticmethod
    def observe(state, obs):
        obs[0] = state[0]


registry["Corridor-v0"] = Corridor
'''


def test_a_users_env_module_trains_evaluates_and_resumes_from_the_cli(tmp_path):
    (tmp_path / "my_corridor.py").write_text(USER_ENV)
    (tmp_path / "my_gym_env.py").write_text(
        "import gymnasium as gym\n"
        "gym.register('MyCartPole-v0', entry_point='gymnasium.envs.classic_control:CartPoleEnv')\n"
    )

    def thrust_cli(*args):
        return subprocess.run([sys.executable, "-m", "thrust", *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=180)

    tiny = [arg if arg != "CartPole-v1" else "my_corridor:Corridor-v0" for arg in TINY]
    trained = thrust_cli("train", "ppo", *tiny, "--total-timesteps", "256", "--run-dir", "native", "--stop-after", "2")
    assert trained.returncode == 0, trained.stderr
    assert thrust_cli("train", "--resume", "native").returncode == 0
    evaluation = thrust_cli("eval", "native", "--episodes", "2")
    assert evaluation.returncode == 0 and "my_corridor:Corridor-v0: return" in evaluation.stdout, evaluation.stderr

    gym_env = [arg if arg != "CartPole-v1" else "my_gym_env:MyCartPole-v0" for arg in TINY]
    trained = thrust_cli("train", "ppo", *gym_env, "--backend", "serial", "--total-timesteps", "128",
                         "--env-kwargs", "max_episode_steps=7", "--run-dir", "gym")
    assert trained.returncode == 0, trained.stderr
    assert json.loads((tmp_path / "gym" / "summary.json").read_text())["env_kwargs"] == {"max_episode_steps": 7}
    evaluation = thrust_cli("eval", "gym", "--episodes", "2")
    assert evaluation.returncode == 0 and "length 7.0 ± 0.0" in evaluation.stdout, evaluation.stderr

    missing = thrust_cli("train", "ppo", "--env", "no_such_module:X-v0", "--runs-dir", "runs")
    assert missing.returncode == 2 and "cannot import module 'no_such_module'" in missing.stderr


@pytest.mark.parametrize("items,expected", [
    (('{"g": 5.0, "max_episode_steps": 20}',), {"g": 5.0, "max_episode_steps": 20}),
    (("g=5", "render_mode=rgb_array", "flags=[1, 2]"), {"g": 5, "render_mode": "rgb_array", "flags": [1, 2]}),
])
def test_env_kwargs_from_the_command_line(items, expected):
    assert thrust.cli.parse_env_kwargs(items) == expected


def test_bad_env_kwargs_are_one_line(capsys):
    assert "key=value pairs or one JSON object" in error_of(capsys, "train", "ppo", *TINY, "--env-kwargs", "g")
    assert "not a valid JSON object" in error_of(capsys, "train", "ppo", *TINY, "--env-kwargs", "{g: 1}")
