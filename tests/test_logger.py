"""RunLogger (TensorBoard + progress.csv), resume of the logs, JSON files, and the plain/live progress display."""

import json
import math

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from thrust.logger import STANDARD_COLUMNS, ProgressDisplay, RunLogger, read_progress, write_json


def metrics(step, episode_return=None, **extra):
    row = {"global_step": step, "losses/approx_kl": step / 1000, "charts/SPS": 100.0, **extra}
    if episode_return is not None:
        row["charts/episodic_return"] = episode_return
    return row


def tensorboard_scalars(run_dir, tag):
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return [(event.step, event.value) for event in events.Scalars(tag)]


def test_csv_and_tensorboard_hold_every_iteration(tmp_path):
    logger = RunLogger(tmp_path, {"learning_rate": 1e-3})
    logger.log(metrics(64))
    logger.log(metrics(128, episode_return=21.5))
    logger.close()

    header = (tmp_path / "progress.csv").read_text().splitlines()[0].split(",")
    assert header == [*STANDARD_COLUMNS, "losses/approx_kl"]  # the algorithm's own metrics follow
    rows = read_progress(tmp_path)
    assert [row["global_step"] for row in rows] == [64, 128]
    assert math.isnan(rows[0]["charts/episodic_return"])  # no episode ended in the first iteration
    assert rows[1]["charts/episodic_return"] == 21.5
    assert 0 <= rows[0]["time/elapsed"] <= rows[1]["time/elapsed"]

    kl = tensorboard_scalars(tmp_path, "losses/approx_kl")
    assert kl == [(64, pytest.approx(0.064)), (128, pytest.approx(0.128))]
    assert tensorboard_scalars(tmp_path, "charts/episodic_return") == [(128, 21.5)]


def test_a_new_metric_widens_the_csv_and_keeps_earlier_rows(tmp_path):
    logger = RunLogger(tmp_path)
    logger.log(metrics(10))
    logger.log(metrics(20, **{"charts/custom": 3.0}))
    logger.close()
    rows = read_progress(tmp_path)
    assert [row["global_step"] for row in rows] == [10, 20]
    assert math.isnan(rows[0]["charts/custom"]) and rows[1]["charts/custom"] == 3.0


def test_resume_drops_rows_after_the_checkpoint_and_continues_the_clock(tmp_path):
    logger = RunLogger(tmp_path)
    for step in (10, 20, 30):
        logger.log(metrics(step, episode_return=step))
    logger.close()
    # the checkpoint was taken at step 20: the row of step 30 belongs to a session that died before saving
    elapsed_at_20 = read_progress(tmp_path)[1]["time/elapsed"]

    resumed = RunLogger(tmp_path, resume_step=20)
    resumed.log(metrics(30, episode_return=99.0))
    resumed.close()
    rows = read_progress(tmp_path)
    assert [(row["global_step"], row["charts/episodic_return"]) for row in rows] == [(10, 10), (20, 20), (30, 99)]
    assert rows[2]["time/elapsed"] >= elapsed_at_20
    assert [value for _, value in tensorboard_scalars(tmp_path, "charts/episodic_return")] == [10, 20, 99]


def test_write_json_is_complete_and_leaves_no_temporary_file(tmp_path):
    write_json(tmp_path / "summary.json", {"a": 1, "path": tmp_path})
    assert json.loads((tmp_path / "summary.json").read_text()) == {"a": 1, "path": str(tmp_path)}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_read_progress_of_a_folder_without_logs_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="Thrust run folder"):
        read_progress(tmp_path)


def test_plain_progress_has_no_control_characters_and_is_throttled(capsys):
    display = ProgressDisplay("PPO CartPole-v1", total_steps=300, live=False, interval=3600)
    for step in (100, 200, 300):
        display.update(metrics(step, episode_return=float(step)))
    display.close()
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 2  # the first line, then nothing for an hour, but always the last one
    assert lines[0].startswith("step 100/300 |") and "return 100.00" in lines[0]
    assert lines[1].startswith("step 300/300 |") and "return 300.00" in lines[1]
    assert "\x1b" not in out and "\r" not in out


def test_plain_progress_keeps_the_last_return_when_no_episode_ended(capsys):
    display = ProgressDisplay("PPO", total_steps=100, live=False, interval=0)
    display.update(metrics(10, episode_return=5.0))
    display.update(metrics(20))
    assert "return 5.00" in capsys.readouterr().out.splitlines()[-1]


def test_live_panel_shows_the_metrics_and_the_time_split(capsys):
    display = ProgressDisplay("PPO CartPole-v1", total_steps=1000, live=True)
    display.update(metrics(500, episode_return=42.0, **{"time/env": 1.0, "time/inference": 1.0, "time/learning": 2.0}))
    display.close()
    out = capsys.readouterr().out
    for text in ("PPO CartPole-v1", "500/1000", "42.00", "approx kl", "0.5", "learning", "50%", "25%"):
        assert text in out


def test_the_display_leaves_pythons_random_state_alone(capsys):
    import random

    random.seed(0)
    before = random.getstate()
    display = ProgressDisplay("PPO CartPole-v1", total_steps=1000, live=True)
    display.update(metrics(500, episode_return=1.0))
    display.print("a message")
    display.close()
    assert random.getstate() == before  # panel and quiet runs save the same checkpoint bytes


def test_eta_ignores_the_first_iteration_and_missing_values_show_as_a_dash(capsys, monkeypatch):
    import thrust.logger

    now = [0.0]
    monkeypatch.setattr(thrust.logger.time, "perf_counter", lambda: now[0])
    display = ProgressDisplay("PPO", total_steps=400, live=False, interval=0)  # starts at 0 s
    now[0] = 100.0  # the first iteration took 100 s (compiling)
    display.update(metrics(100))
    now[0] = 110.0  # then 10 s per 100 steps
    display.update(metrics(200))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("ETA ?") and "return –" in lines[0]
    assert lines[1].endswith("ETA 0:00:20")  # 200 steps left at 10 s per 100, not 110 s per 200
