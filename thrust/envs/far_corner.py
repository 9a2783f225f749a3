"""FarCorner-v0: a sparse-reward grid walk with no preset, the task PPO's defaults are checked on. The agent
starts in one of the 2 × 2 cells at a corner of a `SIZE` × `SIZE` grid (drawn per episode) and is rewarded 1
(ending the episode) only on reaching the opposite corner; every other step earns 0.

Observations are the agent's cell, both coordinates scaled to [0, 1]. Actions: 0 up, 1 down, 2 right, 3 left
(walls stop it). The corner is up to `2 · (SIZE - 1)` steps away and an episode lasts at most `4 · SIZE`, so a
uniformly random walk arrives in about one episode in 90: rarely enough that a policy which drifts before
the first reward (on the value function's noise alone) seldom finds it, often enough that one which stays
uniform does (`thrust.algorithms.ppo.PPOConfig.norm_adv`, `benchmarks/ppo_defaults.py`).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from thrust.envs.native import NativeVecEnv, randint

SIZE = 8
MOVES = np.array([[0, 1], [0, -1], [1, 0], [-1, 0]], dtype=np.int64)  # up, down, right, left


class FarCorner(NativeVecEnv):
    """Walk from one corner of a grid to the opposite one: 1 on arrival, else 0."""

    single_observation_space = gym.spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32)
    single_action_space = gym.spaces.Discrete(4)
    state_size = 2  # the cell's column and row
    max_episode_steps = 4 * SIZE

    @staticmethod
    def reset_env(state, rng):
        state[0] = float(randint(rng, 0, 2))
        state[1] = float(randint(rng, 0, 2))

    @staticmethod
    def step_env(state, action, rng):
        state[0] = min(max(state[0] + MOVES[action, 0], 0.0), SIZE - 1.0)
        state[1] = min(max(state[1] + MOVES[action, 1], 0.0), SIZE - 1.0)
        if state[0] == SIZE - 1.0 and state[1] == SIZE - 1.0:
            return 1.0, True
        return 0.0, False

    @staticmethod
    def observe(state, obs):
        obs[0] = state[0] / (SIZE - 1.0)
        obs[1] = state[1] / (SIZE - 1.0)
