"""Atari preprocessing (ale-py), EnvPool's Atari translation, autotune. Skipped where the extra is absent."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import thrust
import thrust.vector

needs_ale = pytest.mark.skipif(importlib.util.find_spec("ale_py") is None, reason="ale-py is not installed")
needs_envpool = pytest.mark.skipif(importlib.util.find_spec("envpool") is None, reason="envpool is not installed")


def random_actions(steps: int, num_envs: int, n: int = 4) -> np.ndarray:
    return np.random.default_rng(0).integers(0, n, size=(steps, num_envs), dtype=np.int64)


@needs_ale
def test_episodic_life_ends_episodes_per_life_but_resets_only_after_game_over():
    from thrust.vector.atari import make_atari

    env = make_atari("ALE/Breakout-v5")
    env.reset(seed=0)
    ale = env.unwrapped.ale
    lives_at_ends = []
    for action in random_actions(700, 1)[:, 0]:
        _, reward, terminated, truncated, _ = env.step(action)
        assert reward in (0.0, 1.0)  # clipped (Breakout's bricks are worth 1, 4 or 7)
        if terminated or truncated:
            lives_at_ends.append(ale.lives())
            env.reset()
            assert ale.lives() == (5 if lives_at_ends[-1] == 0 else lives_at_ends[-1])
    assert lives_at_ends[:5] == [4, 3, 2, 1, 0]


@needs_ale
def test_atari_batch_same_on_serial_and_multiprocessing():
    serial = thrust.make("ALE/Breakout-v5", num_envs=2, backend="serial")
    parallel = thrust.make("ALE/Breakout-v5", num_envs=2, backend="multiprocessing", num_workers=2)
    try:
        obs, _ = parallel.reset(seed=3)
        serial_obs, _ = serial.reset(seed=3)
        assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.uint8
        np.testing.assert_array_equal(obs, serial_obs)
        previous = obs.copy()
        ends = 0
        for actions in random_actions(150, 2):
            obs, rewards, terminations, truncations, infos = parallel.step(actions)
            serial_step = serial.step(actions)
            for got, expected in zip((obs, rewards, terminations, truncations), serial_step[:4], strict=True):
                np.testing.assert_array_equal(got, expected)
            np.testing.assert_array_equal(infos["final_obs"], serial_step[4]["final_obs"])
            going = ~infos["_final_obs"]
            # frame stack: the newest frame enters last, the oldest drops out
            np.testing.assert_array_equal(obs[going, :3], previous[going, 1:])
            np.testing.assert_array_equal(infos["final_obs"][~going, :3], previous[~going, 1:])
            previous[:] = obs
            ends += int((~going).sum())
        assert ends >= 4
    finally:
        serial.close()
        parallel.close()


@needs_envpool
def test_envpool_atari_keeps_playing_after_a_lost_life():
    envs = thrust.make("ALE/Breakout-v5", num_envs=2, backend="envpool", seed=0)
    try:
        obs, _ = envs.reset()
        assert obs.shape == (2, 4, 84, 84) and obs.dtype == np.uint8
        continued = restarted = 0
        for actions in random_actions(400, 2):
            obs, rewards, terminations, truncations, infos = envs.step(actions)
            assert set(np.unique(rewards)) <= {0.0, 1.0}
            done = infos["_final_obs"]
            same = (obs[done] == infos["final_obs"][done]).all(axis=(1, 2, 3))
            continued += int(same.sum())
            restarted += int((~same).sum())
        # 4 of 5 ends are lost lives (the game goes on from the final frame), 1 of 5 a new game
        assert continued >= 4 and restarted >= 1 and continued > restarted
    finally:
        envs.close()


def test_autotune_returns_a_config_make_accepts(capsys):
    best = thrust.vector.autotune("CartPole-v1", num_envs=4, seconds=0.05)
    printed = capsys.readouterr().out
    assert "fastest for 4 × CartPole-v1" in printed and printed.count("steps/s") >= 4
    envs = thrust.make("CartPole-v1", num_envs=4, **best)
    envs.close()


UNGUARDED_SCRIPT = """
import gymnasium as gym
import numpy as np
import thrust


class Coin(gym.Env):
    observation_space = gym.spaces.Discrete(2)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return 0, {}

    def step(self, action):
        return int(self.np_random.integers(2)), float(action), False, False, {}


gym.register("Coin-v0", entry_point=Coin, max_episode_steps=3)
envs = thrust.make("Coin-v0", num_envs=4, backend="multiprocessing", num_workers=2)
envs.reset(seed=0)
for _ in range(4):
    obs, rewards, terminations, truncations, infos = envs.step(np.ones(4, dtype=np.int64))
print("ok", int(rewards.sum()), int(infos["_episode"].sum()))
envs.close()
"""


def test_unguarded_script_with_an_env_registered_in_it(tmp_path):
    """No `if __name__ == "__main__":` guard, env class and registration in the script itself:
    workers must neither re-run the script nor need the registration."""
    script = tmp_path / "train.py"
    script.write_text(UNGUARDED_SCRIPT)
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ok", "4", "0"]


@needs_envpool
def test_envpool_mujoco_resets_in_the_same_step():
    """Hopper falls often under random actions; after each fall the returned observation is a fresh
    start (height ≈ 1.25, every other coordinate within Gymnasium's ±0.005 reset noise)."""
    envs = thrust.make("Hopper-v5", num_envs=4, backend="envpool", seed=0)
    try:
        envs.reset()
        ends = 0
        rng = np.random.default_rng(0)
        for _ in range(200):
            obs, rewards, terminations, truncations, infos = envs.step(rng.uniform(-1, 1, (4, 3)))
            done = infos["_final_obs"]
            assert (np.abs(obs[done, 0] - 1.25) <= 0.006).all() and (np.abs(obs[done, 1:5]) <= 0.006).all()
            assert (infos["final_obs"][done] != obs[done]).any(axis=1).all()
            ends += int(done.sum())
        assert ends >= 4
    finally:
        envs.close()
