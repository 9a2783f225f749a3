"""Race-v0: a two-player zero-sum game for self-play (`thrust.selfplay`). Two runners start on a
`SIZE × SIZE` grid at the same distance from the goal in its centre (each other's mirror images through
it) and move at once; the first to stand on the goal wins (+1, the other -1), both at once or neither
within `max_episode_steps` is a draw (0 each). A runner cannot step onto the other's cell: it stays.

Each runner observes its own cell and its rival's, scaled to [-1, 1] around the goal (its own first, so
one network plays either seat). Actions: 0 stays, 1 up, 2 down, 3 left, 4 right (walls stop a move). A
runner that heads for the goal beats a random one in most games; two of them draw.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from thrust.envs.multiagent import NativeMultiAgentVecEnv
from thrust.envs.native import randint

SIZE = 7
CENTRE = (SIZE - 1) / 2
# (dx, dy) of actions 0..4: stay, up, down, left, right
MOVES = np.array([[0, 0], [0, 1], [0, -1], [-1, 0], [1, 0]], dtype=np.float64)


class Race(NativeMultiAgentVecEnv):
    """Two runners race to the centre of a grid: the first there wins (+1), the other loses (-1)."""

    agents = ("runner_0", "runner_1")
    single_observation_space = gym.spaces.Box(-1.0, 1.0, (4,), dtype=np.float32)
    single_action_space = gym.spaces.Discrete(5)
    state_size = 4  # x, y of runner 0, then of runner 1
    max_episode_steps = 24

    @staticmethod
    def reset_env(state, rng):
        cell = randint(rng, 0, SIZE * SIZE - 1)
        cell += 1 if cell >= (SIZE * SIZE) // 2 else 0  # not the goal itself
        state[0], state[1] = float(cell % SIZE), float(cell // SIZE)
        state[2], state[3] = 2.0 * CENTRE - state[0], 2.0 * CENTRE - state[1]

    @staticmethod
    def step_env(state, actions, rewards, rng):
        x0 = min(max(state[0] + MOVES[actions[0], 0], 0.0), SIZE - 1.0)
        y0 = min(max(state[1] + MOVES[actions[0], 1], 0.0), SIZE - 1.0)
        x1 = min(max(state[2] + MOVES[actions[1], 0], 0.0), SIZE - 1.0)
        y1 = min(max(state[3] + MOVES[actions[1], 1], 0.0), SIZE - 1.0)
        if x0 == x1 and y0 == y1:  # both onto one cell: onto the goal, a draw; elsewhere neither moves
            return x0 == CENTRE and y0 == CENTRE
        blocked0 = x0 == state[2] and y0 == state[3]  # onto the rival's cell: stays
        blocked1 = x1 == state[0] and y1 == state[1]
        if not blocked0:
            state[0], state[1] = x0, y0
        if not blocked1:
            state[2], state[3] = x1, y1
        first = state[0] == CENTRE and state[1] == CENTRE
        second = state[2] == CENTRE and state[3] == CENTRE
        if first or second:
            rewards[0] = 1.0 if first else -1.0
            rewards[1] = -rewards[0]
            return True
        return False

    @staticmethod
    def observe(state, obs):
        for runner in range(2):
            rival = 1 - runner
            obs[runner, 0] = (state[2 * runner] - CENTRE) / CENTRE
            obs[runner, 1] = (state[2 * runner + 1] - CENTRE) / CENTRE
            obs[runner, 2] = (state[2 * rival] - CENTRE) / CENTRE
            obs[runner, 3] = (state[2 * rival + 1] - CENTRE) / CENTRE
