"""Meet-v0 (`thrust.envs.meet`) as a PettingZoo `ParallelEnv`, in plain Python and NumPy: the same task through
PettingZoo's API, for `thrust.make("thrust.envs.meet_parallel:parallel_env", num_envs=N)` (the PettingZoo
backend) and for `benchmarks/multiagent.py`, which compares the two. Needs the `multiagent` extra (pettingzoo).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv

from thrust.envs.meet import MOVES, SIZE, STEP_COST, Meet


class MeetParallelEnv(ParallelEnv):
    """Two walkers on a grid, rewarded when they meet (1 each) and charged for every step until then."""

    metadata = {"name": "meet_v0", "render_modes": []}

    def __init__(self, max_episode_steps: int = Meet.max_episode_steps) -> None:
        self.possible_agents = list(Meet.agents)
        self.max_episode_steps = max_episode_steps
        self.positions = np.zeros((2, 2), dtype=np.float64)
        self.steps = 0
        self.np_random = np.random.default_rng()

    def observation_space(self, agent: str) -> gym.Space:
        return Meet.single_observation_space

    def action_space(self, agent: str) -> gym.Space:
        return Meet.single_action_space

    def _observations(self) -> dict[str, np.ndarray]:
        scaled = (self.positions * (2.0 / (SIZE - 1.0)) - 1.0).astype(np.float32)
        return {agent: np.concatenate((scaled[a], scaled[1 - a])) for a, agent in enumerate(self.agents)}

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        first, second = self.np_random.choice(SIZE * SIZE, size=2, replace=False)
        self.positions[:] = [[first % SIZE, first // SIZE], [second % SIZE, second // SIZE]]
        self.steps = 0
        return self._observations(), {agent: {} for agent in self.agents}

    def step(self, actions: dict[str, Any]):
        for a, agent in enumerate(self.agents):
            self.positions[a] = np.clip(self.positions[a] + MOVES[int(actions[agent])], 0.0, SIZE - 1.0)
        self.steps += 1
        met = bool(np.abs(self.positions[0] - self.positions[1]).sum() <= 1.0)
        truncated = not met and self.steps >= self.max_episode_steps
        observations = self._observations()
        rewards = {agent: 1.0 if met else -STEP_COST for agent in self.agents}
        terminations = {agent: met for agent in self.agents}
        truncations = {agent: truncated for agent in self.agents}
        infos = {agent: {} for agent in self.agents}
        if met or truncated:
            self.agents = []
        return observations, rewards, terminations, truncations, infos


def parallel_env(**kwargs: Any) -> MeetParallelEnv:
    """A Meet ParallelEnv (PettingZoo's constructor convention)."""
    return MeetParallelEnv(**kwargs)
