"""Learning curves from run folders: grouping, mean ± std over runs, and a PNG that opens."""

import json

import matplotlib.image
import numpy as np
import pytest

from thrust.logger import RunLogger
from thrust.plot import band, load_curve, mean_and_std, plot_runs, run_label, trailing_mean


def make_run(root, env_id, seed, returns, steps_per_row=100):
    run_dir = root / f"{env_id}__ppo__{seed}__20260101-000000"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"env_id": env_id, "seed": seed}))
    logger = RunLogger(run_dir)
    for i, value in enumerate(returns, start=1):
        row = {"global_step": i * steps_per_row}
        if value is not None:
            row["charts/episodic_return"] = value
        logger.log(row)
    logger.close()
    return run_dir


def test_mean_and_std_interpolate_onto_the_range_every_curve_covers():
    a = (np.array([0.0, 10.0]), np.array([0.0, 10.0]))  # y = x
    b = (np.array([2.0, 6.0, 12.0]), np.array([2.0 + 1, 6.0 + 1, 12.0 + 1]))  # y = x + 1, other sampling
    grid, mean, std = mean_and_std([a, b], points=5)
    np.testing.assert_allclose(grid, [2, 4, 6, 8, 10])
    np.testing.assert_allclose(mean, grid + 0.5)
    np.testing.assert_allclose(std, 0.5)


def test_the_band_stays_within_the_values_reached():
    runs = [np.array([10.0, 500.0, 500.0]), np.array([20.0, 300.0, 500.0])]
    lower, upper = band(np.array([15.0, 400.0, 500.0]), np.array([5.0, 100.0, 0.0]), runs)
    np.testing.assert_array_equal(lower, [10.0, 300.0, 500.0])
    np.testing.assert_array_equal(upper, [20.0, 500.0, 500.0])  # 400 + 100 = 500 and no more


def test_trailing_mean_against_a_plain_loop():
    values = np.random.default_rng(0).normal(size=50)
    for window in (1, 3, 10, 80):
        expected = [values[max(0, i - window + 1) : i + 1].mean() for i in range(len(values))]
        np.testing.assert_allclose(trailing_mean(values, window), expected)
    with pytest.raises(ValueError, match="at least 1"):
        trailing_mean(values, 0)


def test_load_curve_skips_iterations_without_finished_episodes(tmp_path):
    run_dir = make_run(tmp_path, "CartPole-v1", 1, [None, 10.0, None, 30.0])
    curve = load_curve(run_dir)
    np.testing.assert_array_equal(curve["steps"], [200, 400])
    np.testing.assert_array_equal(curve["values"], [10.0, 30.0])
    assert curve["seconds"][0] <= curve["seconds"][1]


def test_labels_come_from_the_summary_the_config_or_the_folder_name(tmp_path):
    assert run_label(make_run(tmp_path, "Acrobot-v1", 3, [1.0])) == "Acrobot-v1 ppo"
    bare = tmp_path / "Pendulum-v1__ppo__1__20260101-000000"
    bare.mkdir()
    assert run_label(bare) == "Pendulum-v1 ppo"
    custom = tmp_path / "my-run"  # --run-dir: the summary names the algorithm, whichever it is
    custom.mkdir()
    assert run_label(custom) == "my-run"
    (custom / "summary.json").write_text(json.dumps({"env_id": "Acrobot-v1", "algo": "appo"}))
    assert run_label(custom) == "Acrobot-v1 appo"


def test_plot_of_several_runs_writes_a_png(tmp_path):
    runs = [make_run(tmp_path, "CartPole-v1", seed, list(np.linspace(10, 400, 20) + seed)) for seed in (1, 2, 3)]
    runs.append(make_run(tmp_path, "Acrobot-v1", 1, list(np.linspace(-500, -90, 20))))
    output = plot_runs(runs, tmp_path / "out" / "curves.png", smooth=5)
    image = matplotlib.image.imread(output)
    assert image.shape[0] > 300 and image.shape[1] > 600
    assert image[..., :3].std() > 0.01  # not a blank canvas


def test_a_run_without_any_finished_episode_cannot_be_plotted(tmp_path):
    run_dir = make_run(tmp_path, "CartPole-v1", 1, [None, None])
    with pytest.raises(ValueError, match="no values of 'charts/episodic_return'"):
        plot_runs([run_dir], tmp_path / "curve.png")
