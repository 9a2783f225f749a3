"""LockedCorridor-v0: a sparse-reward exploration task. The agent starts in one of the last 3 cells of a
corridor of `LENGTH` cells (drawn per episode), the locked door at its right end; the key lies at the far
left end. Stepping onto the key's cell picks it up; reaching the door with the key earns 1 and ends the
episode. Nothing else is ever rewarded.

Observations are `LENGTH + 1` numbers: the agent's cell one-hot, and 1 once it holds the key. Actions: 0
steps left, 1 steps right (walls stop it). The shortest solution takes up to `2 · (LENGTH - 1)` steps of the
`max_episode_steps = 3 · LENGTH` an episode may last; a random walk almost never finds it (it must cross
the corridor twice in time), so an agent that only learns from rewards never sees one, while one driven
to new observations (the cells, then the cells with the key) finds the door.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from thrust.envs.native import NativeVecEnv, randint

LENGTH = 16


class LockedCorridor(NativeVecEnv):
    """Fetch the key at the far end of a corridor and bring it back to the door (reward 1, else 0)."""

    single_observation_space = gym.spaces.Box(0.0, 1.0, (LENGTH + 1,), dtype=np.float32)
    single_action_space = gym.spaces.Discrete(2)
    state_size = 2  # the cell, and 1.0 once the key is held
    max_episode_steps = 3 * LENGTH

    @staticmethod
    def reset_env(state, rng):
        state[0] = float(randint(rng, LENGTH - 3, LENGTH))
        state[1] = 0.0

    @staticmethod
    def step_env(state, action, rng):
        cell = state[0] + (1.0 if action == 1 else -1.0)
        cell = min(max(cell, 0.0), LENGTH - 1.0)
        state[0] = cell
        if cell == 0.0:
            state[1] = 1.0
        if cell == LENGTH - 1.0 and state[1] == 1.0:
            return 1.0, True
        return 0.0, False

    @staticmethod
    def observe(state, obs):
        for k in range(LENGTH):
            obs[k] = 0.0
        obs[int(state[0])] = 1.0
        obs[LENGTH] = state[1]
