"""Agent videos: Gymnasium's rgb_array frames, encoded to mp4, read back frame for frame."""

import importlib.util

import gymnasium as gym
import imageio.v2 as imageio
import numpy as np
import pytest

from thrust.video import record_video


def push_left(obs, episode_start):
    """A batch policy that always pushes left: CartPole falls within a dozen steps."""
    return np.zeros(len(obs), dtype=np.int64)


def test_the_mp4_holds_every_frame_of_the_episode(tmp_path):
    frames = record_video("CartPole-v1", push_left, tmp_path / "v" / "cartpole.mp4", episodes=2, seed=3)

    expected = 0
    env = gym.make("CartPole-v1")
    for episode in range(2):  # the same episodes without rendering: steps + 1 frames each (the final state too)
        env.reset(seed=3 + episode)
        done, steps = False, 0
        while not done:
            _, _, terminated, truncated, _ = env.step(0)
            done, steps = terminated or truncated, steps + 1
        expected += steps + 1
    assert frames == expected

    reader = imageio.get_reader(tmp_path / "v" / "cartpole.mp4")
    decoded = [frame for frame in reader]
    reader.close()
    assert len(decoded) == expected
    assert decoded[0].shape == (400, 600, 3)
    assert decoded[0].std() > 1  # a picture, not a blank frame


def test_env_kwargs_play_the_native_env_the_agent_trained_on(tmp_path):
    seen = []

    def watch(obs, episode_start):
        seen.append((obs.copy(), bool(episode_start[0])))
        return np.zeros(len(obs), dtype=np.int64)

    frames = record_video("CartPole-v1", watch, tmp_path / "v.mp4", episodes=2, env_kwargs={"observe_velocity": False})
    observations = np.concatenate([obs for obs, _ in seen])
    assert frames == len(seen) and (observations[:, [1, 3]] == 0).all() and observations[:, 2].any()
    assert [start for _, start in seen].count(True) == 2 and seen[0][1]


def test_a_recurrent_agent_on_velocity_hidden_cartpole_evaluates_with_a_video(tmp_path, capsys):
    """The video plays the env the agent trained on (the native CartPole without velocities, not Gymnasium's,
    whose observations hold them), and the agent carries its recurrent state through the episode."""
    from thrust.cli import main

    run = tmp_path / "run"
    train = ["train", "ppo", "--env", "CartPole-v1", "--env-kwargs", "observe_velocity=False", "--recurrent", "gru",
             "--recurrent-size", "8", "--num-envs", "2", "--num-steps", "8", "--total-timesteps", "32",
             "--eval-episodes", "0", "--no-plot", "--quiet", "--run-dir", str(run)]
    assert main(train) == 0
    assert main(["eval", str(run), "--episodes", "2", "--video", "--video-episodes", "2"]) == 0
    (video,) = (run / "videos").glob("*.mp4")
    reader = imageio.get_reader(video)
    decoded = [frame for frame in reader]
    reader.close()
    out = capsys.readouterr().out
    assert f"video: {video} ({len(decoded)} frames)" in out and decoded[0].shape == (400, 600, 3)


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="not registered"):
        record_video("NoSuchEnv-v0", push_left, tmp_path / "x.mp4")
    with pytest.raises(ValueError, match="at least 1"):
        record_video("CartPole-v1", push_left, tmp_path / "x.mp4", episodes=0)


@pytest.mark.skipif(importlib.util.find_spec("ale_py") is None, reason="ale-py is not installed")
def test_atari_video_feeds_the_policy_training_observations_and_plays_a_whole_game(tmp_path):
    """The policy sees what it was trained on (4 stacked 84×84 frames), the video shows the colour
    screen, and an episode is the whole game: the lives that end training episodes are played through."""
    seen_shapes = set()
    rng = np.random.default_rng(0)

    def random_breakout(obs, episode_start):
        seen_shapes.add((obs.shape, obs.dtype))
        return rng.integers(0, 4, size=len(obs))

    frames = record_video("ALE/Breakout-v5", random_breakout, tmp_path / "breakout.mp4", seed=1)
    assert seen_shapes == {((1, 4, 84, 84), np.dtype(np.uint8))}
    reader = imageio.get_reader(tmp_path / "breakout.mp4")
    decoded = [frame for frame in reader]
    fps = reader.get_meta_data()["fps"]
    reader.close()
    assert len(decoded) == frames and decoded[0].shape == (210, 160, 3) and fps == 15
    # one frame per agent step plus the final one, until game over: the same actions replayed without video
    from thrust.atari import make_atari

    env, rng = make_atari("ALE/Breakout-v5"), np.random.default_rng(0)
    env.reset(seed=1)
    steps = lives_lost = 0
    while not env.unwrapped.ale.game_over():
        _, _, terminated, truncated, _ = env.step(rng.integers(0, 4))
        steps += 1
        if terminated and not env.unwrapped.ale.game_over():
            lives_lost += 1
            env.reset()
    assert frames == steps + 1 and lives_lost == 4


@pytest.mark.skipif(importlib.util.find_spec("ale_py") is None, reason="ale-py is not installed")
def test_thrust_eval_video_of_an_atari_agent(tmp_path, capsys):
    """`thrust eval --video` on a (barely) trained Atari agent: its Nature CNN gets the frames it trained on."""
    from thrust.cli import main

    run = tmp_path / "run"
    train = ["train", "ppo", "--env", "ALE/Breakout-v5", "--num-envs", "2", "--num-steps", "8", "--total-timesteps",
             "16", "--num-minibatches", "1", "--update-epochs", "1", "--eval-episodes", "0", "--no-plot", "--quiet"]
    assert main([*train, "--backend", "serial", "--run-dir", str(run)]) == 0
    assert main(["eval", str(run), "--episodes", "1", "--no-deterministic", "--video"]) == 0
    (video,) = (run / "videos").glob("*.mp4")
    reader = imageio.get_reader(video)
    first = reader.get_data(0)
    reader.close()
    assert first.shape == (210, 160, 3) and f"video: {video}" in capsys.readouterr().out
