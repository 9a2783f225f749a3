"""The standard Atari preprocessing for ale-py envs (the DQN/PPO papers' recipe).

No-op reset (up to 30), frame skip 4 with a max over the last two frames, 84×84 grayscale
(Gymnasium's `AtariPreprocessing`), a life loss ends the episode but not the game (episodic life),
FIRE after reset in games that need it, rewards clipped to their sign, the last 4 frames stacked.
Sticky actions stay as the env id sets them (v5: 0.25).

The agent learns from clipped rewards and per-life episodes, but the episode statistics a vector env
reports (`infos["episode"]`, where `infos["_episode"]`) are whole games and raw scores: Gymnasium's
`RecordEpisodeStatistics` sits below episodic life and reward clipping, and every Thrust backend
passes its record on (see `thrust.vector.serial`). So a lost life sets `_final_obs` but not `_episode`.
A game that ends inside a reset's no-op or FIRE steps (rare) goes unreported.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


def register_ale_envs() -> None:
    """Make the "ALE/…" ids known to Gymnasium; a clear error when the `atari` extra is missing."""
    try:
        import ale_py
    except ImportError as error:
        raise ImportError("Atari envs need ale-py: pip install 'thrust-rl[atari]'") from error
    gym.register_envs(ale_py)
    ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)  # no banner from every env of every worker


class EpisodicLife(gym.Wrapper):
    """A lost life ends the episode (`terminated`); `reset` then continues the same game with a
    no-op step, and really resets only after game over or when given a seed."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.lives = 0
        self.game_over = True

    def step(self, action: Any):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.game_over = terminated or truncated
        lives = self.env.unwrapped.ale.lives()
        terminated = terminated or 0 < lives < self.lives
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs: Any):
        if self.game_over or kwargs.get("seed") is not None:
            obs, info = self.env.reset(**kwargs)
        else:
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:  # the no-op ended the game after all
                obs, info = self.env.reset(**kwargs)
        self.game_over = False
        self.lives = self.env.unwrapped.ale.lives()
        return obs, info


class FireReset(gym.Wrapper):
    """Presses FIRE (then another action) after each reset, for games that wait for it."""

    def reset(self, **kwargs: Any):
        self.env.reset(**kwargs)
        for action in (1, 2):
            obs, _, terminated, truncated, info = self.env.step(action)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        return obs, info


def make_atari(
    env_id: str, frame_stack: int = 4, episodic_life: bool = True, clip_rewards: bool = True, **env_kwargs: Any
) -> gym.Env:
    """`gym.make(env_id)` for an ale-py id, wrapped in the standard preprocessing (observations
    uint8 `[frame_stack, 84, 84]`). Whatever the flags, `info["episode"]` at the end of a game holds
    its raw score and length (in agent steps of 4 frames)."""
    register_ale_envs()
    env = gym.make(env_id, frameskip=1, **env_kwargs)  # the skipping (with max-pool) happens below
    env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84, grayscale_obs=True)
    env = gym.wrappers.RecordEpisodeStatistics(env)  # below the clip and episodic life: whole games, raw scores
    if episodic_life:
        env = EpisodicLife(env)
    if "FIRE" in env.unwrapped.get_action_meanings():
        env = FireReset(env)
    if clip_rewards:
        env = gym.wrappers.TransformReward(env, np.sign)
    return gym.wrappers.FrameStackObservation(env, frame_stack)
