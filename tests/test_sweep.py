"""Sweeps: a sweep of four trials completes and writes its table, pruning stops trials early, bad specs are
named, and without Optuna the command says how to install it."""

import csv
import json
import sys

import pytest

import thrust
from thrust.cli import main
from thrust.sweeps import INSTALL_HINT, import_optuna

TINY = ["--env", "CartPole-v1", "--num-envs", "4", "--num-steps", "16", "--update-epochs", "1",
        "--num-minibatches", "1", "--total-timesteps", "1024"]


def needs_optuna():
    return pytest.importorskip("optuna", reason=f"optuna is not installed; {INSTALL_HINT}")


def read_results(sweep_dir):
    with (sweep_dir / "results.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_a_sweep_of_four_trials_completes_and_writes_its_table(tmp_path, capsys):
    needs_optuna()
    status = main(["sweep", "ppo", *TINY, "--trials", "4", "--search", "lr=loguniform(1e-4,1e-2)",
                   "update_epochs=int(1,3)", "--eval-episodes", "1", "--quiet", "--run-dir", str(tmp_path / "sweep")])
    assert status == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    rows = read_results(tmp_path / "sweep")
    assert sorted(int(row["trial"]) for row in rows) == [0, 1, 2, 3]
    assert {row["state"] for row in rows} <= {"complete", "pruned"} and rows[0]["state"] == "complete"
    complete = [float(row["value"]) for row in rows if row["state"] == "complete"]
    assert complete == sorted(complete, reverse=True)  # best first
    assert all(float(row["evaluation"]) > 0 for row in rows if row["state"] == "complete")
    for row in rows:
        assert 1e-4 <= float(row["learning_rate"]) <= 1e-2 and row["update_epochs"] in ("1", "2", "3")
        config = json.loads((tmp_path / "sweep" / f"trial-{int(row['trial']):03d}" / "config.json").read_text())
        assert config["learning_rate"] == float(row["learning_rate"])
        assert config["update_epochs"] == int(row["update_epochs"])
    assert (tmp_path / "sweep" / "best_trials.png").is_file()
    assert f"best: trial {rows[0]['trial']}" in out
    assert main(["eval", rows[0]["run_dir"], "--episodes", "1"]) == 0  # each trial is an ordinary run folder


def test_a_pruned_trial_stops_early_and_is_marked(tmp_path):
    optuna = needs_optuna()
    result = thrust.sweep("ppo", "CartPole-v1", trials=2, search=["lr=loguniform(1e-4,1e-2)"], runs_dir=tmp_path,
                          prune=optuna.pruners.ThresholdPruner(lower=1000.0), num_envs=4, num_steps=16,
                          update_epochs=1, num_minibatches=1, total_timesteps=1024)
    assert [row["state"] for row in result.rows] == ["pruned", "pruned"] and result.best is None
    assert all(int(row["global_step"]) < 1024 for row in result.rows)


def test_bad_sweep_input_is_named_and_writes_nothing(tmp_path, capsys):
    needs_optuna()
    for spec, message in [("lr=loguniform(1e-2,1e-4)", "low must not exceed high"),
                          ("learning_rat=uniform(0,1)", "unknown hyperparameter 'learning_rat'; did you mean"),
                          ("lr=normal(0,1)", "unknown distribution 'normal'")]:
        assert main(["sweep", "ppo", *TINY, "--search", spec, "--runs-dir", str(tmp_path)]) == 2
        assert message in capsys.readouterr().err
    assert main(["sweep", "ppo", *TINY, "--trials", "0", "--runs-dir", str(tmp_path)]) == 2
    assert "--trials must be at least 1" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_without_optuna_the_sweep_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'thrust-rl\[sweep\]'"):
        import_optuna()
    assert main(["sweep", "ppo", *TINY]) == 2
    assert "sweeps need Optuna: pip install 'thrust-rl[sweep]'" in capsys.readouterr().err
