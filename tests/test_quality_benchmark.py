"""benchmarks/quality.py: its table beside CleanRL's figures, its plot, and envs without their extra skipped."""

import importlib.util
import sys
from pathlib import Path

import gymnasium as gym
import matplotlib.image

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "quality.py"


def test_the_table_the_plot_and_a_missing_extra(tmp_path, monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("quality", SCRIPT)
    quality = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(quality)
    real_make = quality.thrust.make

    def make(env_id, **kwargs):  # as gymnasium answers where the mujoco extra is not installed
        if env_id == "Hopper-v5":
            raise gym.error.DependencyNotInstalled('MuJoCo is not installed, run `pip install "gymnasium[mujoco]"`')
        return real_make(env_id, **kwargs)

    monkeypatch.setattr(quality.thrust, "make", make)
    plot = tmp_path / "curves.png"
    monkeypatch.setattr(sys, "argv", ["quality.py", "--env", "Hopper-v5", "--env", "CartPole-v1", "--steps", "2048",
                                      "--seeds", "1-2", "--plot", str(plot)])
    quality.main()
    out, err = capsys.readouterr()
    assert "| CartPole-v1 | 2,048 | 2 |" in out and "| 490 ± 6 at 0.5M |" in out
    assert "Hopper-v5 |" not in out and "Skipped (extra not installed): Hopper-v5 (MuJoCo is not installed" in out
    assert "skipping Hopper-v5: MuJoCo is not installed" in err and "CartPole-v1 seed 2: eval" in err
    assert matplotlib.image.imread(plot).ndim == 3
