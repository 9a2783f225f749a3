"""CueRecall-v0: a memory task. A cue is shown at an episode's first step; `delay` steps later the agent is
asked which one it was.

Observations are `NUM_CUES + 1` numbers: the cue one-hot at the first step (zeros after it), and a last
number that is 1 at the question step. The answer (the action at the question step) earns 1 when it
names the cue and 0 otherwise, and ends the episode; actions before it do nothing. An agent without
memory sees the question without the cue and can only guess (expected return 1 / NUM_CUES); one that
remembers scores 1. Episodes last `delay + 1` steps.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from thrust.envs.native import NativeVecEnv, randint
from thrust.vector.spec import EnvSpec

NUM_CUES = 4


class CueRecall(NativeVecEnv):
    """Remember a cue for `delay` steps, then name it (reward 1, else 0)."""

    single_observation_space = gym.spaces.Box(0.0, 1.0, (NUM_CUES + 1,), dtype=np.float32)
    single_action_space = gym.spaces.Discrete(NUM_CUES)
    state_size = 3  # the cue, the step in the episode, and the delay (set per env set, kept across episodes)

    def __init__(
        self,
        num_envs: int,
        delay: int = 8,
        num_threads: int | None = None,
        parallel_threshold: int | None = None,
        env_spec: EnvSpec | None = None,
    ) -> None:
        if isinstance(delay, bool) or not isinstance(delay, (int, np.integer)) or delay < 1:
            raise ValueError(f"delay must be a whole number of steps >= 1, got {delay!r}")
        options = None if delay == 8 else {"delay": int(delay)}
        super().__init__(num_envs, None, num_threads, None, parallel_threshold, env_spec, options)
        self.states[:, 2] = delay  # never touched by reset_env: every episode has this delay

    @staticmethod
    def reset_env(state, rng):
        state[0] = randint(rng, 0, NUM_CUES)
        state[1] = 0.0

    @staticmethod
    def step_env(state, action, rng):
        step = state[1]
        state[1] = step + 1.0
        if step >= state[2]:  # the question: answered by this action
            return (1.0 if action == state[0] else 0.0), True
        return 0.0, False

    @staticmethod
    def observe(state, obs):
        for k in range(NUM_CUES + 1):
            obs[k] = 0.0
        if state[1] == 0.0:
            obs[int(state[0])] = 1.0
        if state[1] >= state[2]:
            obs[NUM_CUES] = 1.0
