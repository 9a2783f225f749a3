"""Error messages that say what is wrong and where: config files, hostile or mismatched checkpoints,
plot outputs and metric names; and the checkpoint's file mode."""

import os
import stat

import pytest
import torch

import thrust
from thrust.checkpoint import CheckpointError
from thrust.cli import main
from thrust.logger import RunLogger
from thrust.plot import load_curve, plot_runs

SHORT = dict(num_envs=2, num_steps=8, total_timesteps=16, num_minibatches=1, update_epochs=1)


@pytest.mark.parametrize("name,text,message", [
    ("bad.toml", "learning_rate = = 1\n", "is not valid TOML"),
    ("bad.json", '{"learning_rate": 1,}', "is not valid JSON"),
])
def test_config_file_errors_name_the_file(tmp_path, capsys, name, text, message):
    (tmp_path / name).write_text(text)
    assert main(["train", "ppo", "--config", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / name} {message}" in err and "Traceback" not in err


class Payload:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def test_a_checkpoint_holding_python_objects_is_refused_as_unsafe(tmp_path, capfd):
    torch.save({"format": "thrust.checkpoint", "state": Payload()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="holds Python objects.*could run code") as error:
        thrust.load(tmp_path / "evil.pt")
    assert "weights_only=False" not in str(error.value)  # never torch's advice to load it anyway
    assert "this must never run" not in capfd.readouterr().out


def test_a_mismatched_checkpoint_names_the_parameters_and_both_shapes(tmp_path):
    thrust.PPO("CartPole-v1", **SHORT).save(tmp_path / "model.pt")
    with pytest.raises(CheckpointError) as error:
        thrust.PPO.load(tmp_path / "model.pt", hidden_sizes=(32, 32))
    message = str(error.value)
    assert "actor.0.weight" in message and "torch.Size([64, 4])" in message and "torch.Size([32, 4])" in message


def test_checkpoints_get_the_same_file_mode_as_the_rest_of_the_run(tmp_path):
    thrust.PPO("CartPole-v1", **SHORT).save(tmp_path / "model.pt")
    (tmp_path / "other.txt").write_text("x")
    mode = stat.S_IMODE(os.stat(tmp_path / "model.pt").st_mode)
    assert mode == stat.S_IMODE(os.stat(tmp_path / "other.txt").st_mode) and mode & stat.S_IRGRP


def make_run(path, returns=(10.0, 20.0)):
    path.mkdir()
    logger = RunLogger(path)
    for step, value in zip((10, 20), returns, strict=True):
        logger.log({"global_step": step, "charts/episodic_return": value})
    logger.close()
    return path


def test_plot_writes_the_file_it_names_and_suggests_metric_names(tmp_path, capsys):
    run_dir = make_run(tmp_path / "run")
    assert main(["plot", str(run_dir), "--output", str(tmp_path / "noext")]) == 0
    assert f"learning curves: {tmp_path / 'noext'}" in capsys.readouterr().out
    assert (tmp_path / "noext").read_bytes().startswith(b"\x89PNG")  # written where it said, as PNG
    with pytest.raises(ValueError, match="no column 'charts/episodic_retrun'; did you mean 'charts/episodic_return'"):
        load_curve(run_dir, "charts/episodic_retrun")
    with pytest.raises(ValueError, match="no episode has ended"):  # the column exists, no value yet
        plot_runs([make_run(tmp_path / "early", returns=(float("nan"),) * 2)], tmp_path / "x.png")


def test_an_unreadable_checkpoint_never_suggests_weights_only_false(tmp_path):
    (tmp_path / "text.pt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint") as error:
        thrust.load(tmp_path / "text.pt")
    assert "weights_only" not in str(error.value)
