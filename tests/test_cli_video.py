"""Agent videos: Gymnasium's rgb_array frames, encoded to mp4, read back frame for frame."""

import gymnasium as gym
import imageio.v2 as imageio
import numpy as np
import pytest

from thrust.video import record_video


def push_left(obs):
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


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="not registered"):
        record_video("NoSuchEnv-v0", push_left, tmp_path / "x.mp4")
    with pytest.raises(ValueError, match="at least 1"):
        record_video("CartPole-v1", push_left, tmp_path / "x.mp4", episodes=0)
