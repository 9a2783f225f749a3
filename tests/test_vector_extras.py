"""Atari preprocessing (ale-py), EnvPool's Atari translation, game statistics, autotune.

The ale-py and EnvPool tests skip where those extras are absent (`make test` installs them)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import thrust
import thrust.env_factory
from thrust.vector.multiprocessing import MultiprocessingVecEnv
from thrust.vector.serial import SerialVecEnv

needs_ale = pytest.mark.skipif(importlib.util.find_spec("ale_py") is None, reason="ale-py is not installed")
needs_envpool = pytest.mark.skipif(importlib.util.find_spec("envpool") is None, reason="envpool is not installed")


def random_actions(steps: int, num_envs: int, n: int = 4) -> np.ndarray:
    return np.random.default_rng(0).integers(0, n, size=(steps, num_envs), dtype=np.int64)


class LivesGame(gym.Env):
    """A game of 3 lives, each lost after 4 steps; every step is worth 5 points (ALE's `lives()` interface)."""

    observation_space = gym.spaces.Box(0, 100, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self) -> None:
        self.ale = self

    def lives(self) -> int:
        return self.lives_left

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.lives_left, self.time = 3, 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.time += 1
        self.lives_left -= self.time % 4 == 0
        return np.full(1, self.time, np.float32), 5.0, self.lives_left == 0, False, {}


def clipped_life_game() -> gym.Env:
    """The Atari stack's order: raw statistics, then episodic life, then the reward clip."""
    from thrust.atari import EpisodicLife

    env = EpisodicLife(gym.wrappers.RecordEpisodeStatistics(LivesGame()))
    return gym.wrappers.TransformReward(env, np.sign)


@pytest.mark.parametrize("backend", ["serial", "multiprocessing", "async"])
def test_episode_statistics_are_whole_games_and_raw_scores_under_episodic_life_and_clipping(backend):
    """Lives end at agent steps 4, 7, 10 (the step after a lost life is the no-op of EpisodicLife's reset):
    each is a final observation, but only the game (12 steps × 5 points) is an episode."""
    if backend == "serial":
        envs = SerialVecEnv([clipped_life_game] * 2)
    else:
        envs = MultiprocessingVecEnv([clipped_life_game] * 2, num_workers=2, batch_size=2 if backend != "async" else 1)
    try:
        envs.reset(seed=0)
        envs.send(np.zeros(2, np.int64))
        finals, games = {0: [], 1: []}, {0: [], 1: []}
        for _ in range(10_000):  # async mode returns the first env ready: run until both have played a game
            if min(len(finals[0]), len(finals[1])) >= 3:
                break
            obs, rewards, terminations, truncations, infos, env_ids = envs.recv()
            assert (rewards == 1.0).all()  # the agent's rewards are clipped
            for row, env in enumerate(env_ids):
                if infos["_final_obs"][row]:
                    finals[env].append(int(infos["final_obs"][row, 0]))
                if infos["_episode"][row]:
                    games[env].append((float(infos["episode"]["r"][row]), int(infos["episode"]["l"][row])))
            envs.send(np.zeros(envs.batch_size, np.int64), None if envs.batch_size == 2 else env_ids)
        envs.recv()
        for env in (0, 1):  # async mode: each env has made its own number of steps
            assert len(finals[env]) >= 3
            assert finals[env] == [4, 8, 12] * (len(finals[env]) // 3) + [4, 8, 12][: len(finals[env]) % 3]
            assert games[env] == [(60.0, 12)] * (len(finals[env]) // 3)
    finally:
        envs.close()


@needs_ale
def test_episodic_life_ends_episodes_per_life_but_resets_only_after_game_over():
    from thrust.atari import make_atari

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
def test_a_seeded_reset_starts_a_new_game_even_after_a_lost_life():
    from thrust.atari import make_atari

    env, fresh = make_atari("ALE/Breakout-v5"), make_atari("ALE/Breakout-v5")
    env.reset(seed=0)
    for action in random_actions(700, 1)[:, 0]:
        if env.step(action)[2]:
            break
    assert env.unwrapped.ale.lives() == 4
    obs, _ = env.reset(seed=5)
    assert env.unwrapped.ale.lives() == 5
    np.testing.assert_array_equal(obs, fresh.reset(seed=5)[0])


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


@needs_ale
def test_atari_reports_each_game_once_with_its_raw_score_and_length():
    """Space Invaders under the training stack: lost lives end several episodes of one game, reported
    once with its raw score (aliens are worth 5 to 30 points, clipped to 1). The game's length is the
    agent's steps plus those made in resets (2 FIRE-reset steps, then a no-op and 2 more per lost life)."""
    envs = thrust.make("ALE/SpaceInvaders-v5", num_envs=1, backend="serial", seed=0)
    try:
        envs.reset()
        lives = life_length = clipped_return = 0
        life_lengths = []
        for action in random_actions(3000, 1, n=6):
            _, rewards, _, _, infos = envs.step(action)
            assert not infos["_episode"][0] or infos["_final_obs"][0]
            life_length += 1
            clipped_return += float(rewards[0])
            if infos["_final_obs"][0]:
                life_lengths.append(life_length)
                lives, life_length = lives + 1, 0
            if infos["_episode"][0]:
                break
        assert infos["_episode"][0] and lives >= 2
        assert infos["episode"]["l"][0] == sum(life_lengths) + 2 + 3 * (lives - 1)
        game_score = infos["episode"]["r"][0]
        assert game_score > clipped_return > 0 and game_score % 5 == 0
    finally:
        envs.close()


@needs_envpool
def test_envpool_atari_reports_the_raw_game_score_and_length():
    """The first game of each env, as a bare pool of the same settings plays it: its score is the sum of
    the unclipped rewards (`info["reward"]`: aliens are worth 5 to 30 points), its length the steps until
    game over, over all its lives."""
    import envpool

    envs = thrust.make("ALE/SpaceInvaders-v5", num_envs=2, backend="envpool", seed=0)
    bare = envpool.make(
        "SpaceInvaders-v5", env_type="gymnasium", num_envs=2, seed=0, episodic_life=True, reward_clip=True,
        repeat_action_probability=0.25,
    )
    try:
        envs.reset()
        bare.reset()
        bare_returns, bare_lengths = np.zeros(2), np.zeros(2, np.int64)
        bare_games, games = [None, None], [None, None]
        lives_lost, clipped_returns = np.zeros(2, np.int64), np.zeros(2)
        for actions in random_actions(3000, 2, n=6):
            _, rewards, _, _, infos = envs.step(actions)
            _, _, _, bare_truncations, bare_info = bare.step(actions)
            assert set(np.unique(rewards)) <= {0.0, 1.0}
            for i in range(2):
                if bare_games[i] is None:
                    bare_returns[i] += bare_info["reward"][i]
                    bare_lengths[i] += 1
                    if bare_info["terminated"][i] or bare_truncations[i]:
                        bare_games[i] = (bare_returns[i], bare_lengths[i])
                if games[i] is None:
                    lives_lost[i] += infos["_final_obs"][i]
                    clipped_returns[i] += rewards[i]
                    if infos["_episode"][i]:
                        assert infos["_final_obs"][i]
                        games[i] = (infos["episode"]["r"][i], infos["episode"]["l"][i])
            if None not in bare_games and None not in games:
                break
        assert games == bare_games and (lives_lost >= 2).all()
        assert all(score > clipped > 0 for (score, _), clipped in zip(games, clipped_returns, strict=True))
    finally:
        envs.close()
        bare.close()


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
    best = thrust.env_factory.autotune("CartPole-v1", num_envs=4, seconds=0.05)
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
