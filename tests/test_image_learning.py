"""The Atari path: CleanRL's ppo_atari_envpool settings as presets, and the Nature CNN learning from pixels.

A full Atari run (10M steps) needs a GPU; on the CPU the preset is checked for what it is and for running on
an ALE game, and its hyperparameters learn a task whose answer is only in the pixels.
"""

import importlib.util

import gymnasium as gym
import numpy as np
import pytest

import thrust
from thrust.presets import ATARI_ENV_IDS, preset
from thrust.vector.serial import SerialVecEnv


class SideOfTheSquare(gym.Env):
    """One-step episodes of 4×36×36 uint8 frames with a bright 18×18 square on the left or the right half: the
    action naming that side (0 left, 1 right) earns 1. Random play scores 0.5; only the pixels tell the side."""

    observation_space = gym.spaces.Box(0, 255, (4, 36, 36), np.uint8)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.side = int(self.np_random.integers(2))
        frames = self.np_random.integers(0, 40, (4, 36, 36), dtype=np.uint8)  # dim noise everywhere
        row = self.np_random.integers(0, 18)
        frames[:, row:row + 18, 18 * self.side:18 * self.side + 18] = 255
        return frames, {}

    def step(self, action):
        reward = float(action == self.side)
        return self.reset()[0], reward, True, False, {}


def test_atari_presets_are_cleanrls_ppo_atari_envpool_settings():
    for env_id in ATARI_ENV_IDS:
        settings = preset("ppo", env_id)
        assert settings["num_envs"] * settings["num_steps"] == 1024 and settings["total_timesteps"] == 10_000_000
        assert (settings["learning_rate"], settings["clip_coef"], settings["ent_coef"]) == (2.5e-4, 0.1, 0.01)
        assert (settings["num_minibatches"], settings["update_epochs"]) == (4, 4)


@pytest.mark.skipif(importlib.util.find_spec("ale_py") is None, reason="ale-py is not installed")
def test_the_pong_preset_trains_on_the_nature_cnn():
    with thrust.PPO("ALE/Pong-v5", seed=1, num_envs=2, num_steps=16, num_minibatches=2, total_timesteps=64) as model:
        assert model.config.clip_coef == 0.1 and isinstance(model.policy.trunk, thrust.policies.ImageCNN)
        model.learn()
        assert model.global_step == 64 and model.storage.obs.dtype.is_floating_point is False  # raw bytes stored


def test_the_atari_preset_learns_from_pixels():
    settings = {**preset("ppo", "ALE/Pong-v5"), "total_timesteps": 8 * 128 * 6, "num_threads": 1}
    del settings["num_envs"]
    scores = {}
    for name, learn in (("preset", True), ("untrained", False)):
        envs = SerialVecEnv([SideOfTheSquare] * 8)
        with thrust.PPO(envs, env_id="SideOfTheSquare", seed=3, **settings) as model:
            if learn:
                model.learn()
            scores[name] = thrust.evaluate(model, num_episodes=200, seed=7, envs=envs)["mean_return"]
    assert scores["preset"] >= 0.95, scores
    assert scores["untrained"] < 0.8, scores  # the negative control: the score comes from learning
