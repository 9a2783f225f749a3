"""Meet-v0: a cooperative two-agent task, the native multi-agent example. Two agents start on distinct random
cells of a `SIZE × SIZE` grid and must meet: the episode ends, with a reward of 1 to each, once they stand on
the same cell or on neighbouring ones; every step before costs each 0.03. Moves are simultaneous.

Each agent observes its own cell and its partner's, scaled to [-1, 1] (its own first, so one shared network
serves both). Actions: 0 stays, 1 up, 2 down, 3 left, 4 right (walls stop a move). Random agents seldom meet
within `max_episode_steps = 32` steps (return about -0.5 each); agents that walk towards each other meet in
at most `SIZE - 1` steps (return above 0.8).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from thrust.envs.multiagent import NativeMultiAgentVecEnv
from thrust.envs.native import randint

SIZE = 7
STEP_COST = 0.03
# (dx, dy) of actions 0..4: stay, up, down, left, right
MOVES = np.array([[0, 0], [0, 1], [0, -1], [-1, 0], [1, 0]], dtype=np.float64)


class Meet(NativeMultiAgentVecEnv):
    """Two agents on a grid, rewarded when they meet (1 each) and charged for every step until then."""

    agents = ("walker_0", "walker_1")
    single_observation_space = gym.spaces.Box(-1.0, 1.0, (4,), dtype=np.float32)
    single_action_space = gym.spaces.Discrete(5)
    state_size = 4  # x, y of walker 0, then of walker 1
    max_episode_steps = 32

    @staticmethod
    def reset_env(state, rng):
        first = randint(rng, 0, SIZE * SIZE)
        second = randint(rng, 0, SIZE * SIZE - 1)
        second += 1 if second >= first else 0  # a distinct cell
        state[0], state[1] = float(first % SIZE), float(first // SIZE)
        state[2], state[3] = float(second % SIZE), float(second // SIZE)

    @staticmethod
    def step_env(state, actions, rewards, rng):
        for agent in range(2):
            for axis in range(2):
                position = state[2 * agent + axis] + MOVES[actions[agent], axis]
                state[2 * agent + axis] = min(max(position, 0.0), SIZE - 1.0)
        met = abs(state[0] - state[2]) + abs(state[1] - state[3]) <= 1.0
        for agent in range(2):
            rewards[agent] = 1.0 if met else -STEP_COST
        return met

    @staticmethod
    def observe(state, obs):
        scale = 2.0 / (SIZE - 1.0)
        for agent in range(2):
            other = 1 - agent
            obs[agent, 0] = state[2 * agent] * scale - 1.0
            obs[agent, 1] = state[2 * agent + 1] * scale - 1.0
            obs[agent, 2] = state[2 * other] * scale - 1.0
            obs[agent, 3] = state[2 * other + 1] * scale - 1.0
