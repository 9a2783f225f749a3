"""CartPole-v1 as a native env: Gymnasium 1.x's dynamics, rewards, termination and time limit.

`observe_velocity=False` hides the two velocities (observed as 0, as SB3-contrib's velocity-masking
wrapper does), which makes the task partially observable: a policy must infer them from the
positions it saw, which is what a recurrent policy's memory is for.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np

from thrust.envs.native import NativeVecEnv, uniform
from thrust.vector.spec import EnvSpec

GRAVITY = 9.8
MASS_CART = 1.0
MASS_POLE = 0.1
TOTAL_MASS = MASS_POLE + MASS_CART
HALF_LENGTH = 0.5
POLE_MASS_LENGTH = MASS_POLE * HALF_LENGTH
FORCE_MAG = 10.0
TAU = 0.02
THETA_THRESHOLD = 12 * 2 * math.pi / 360
X_THRESHOLD = 2.4


class CartPole(NativeVecEnv):
    """Push a cart left or right to keep a pole upright; +1 per step, 500 steps at most."""

    gymnasium_id = "CartPole-v1"
    _high = np.array([X_THRESHOLD * 2, np.inf, THETA_THRESHOLD * 2, np.inf], dtype=np.float32)
    single_observation_space = gym.spaces.Box(-_high, _high, dtype=np.float32)
    single_action_space = gym.spaces.Discrete(2)
    state_size = 5  # x, x_dot, theta, theta_dot; and 1.0 or 0.0: whether the velocities are observed
    max_episode_steps = 500

    def __init__(
        self,
        num_envs: int,
        observe_velocity: bool = True,
        max_episode_steps: int | None = None,
        num_threads: int | None = None,
        render_mode: str | None = None,
        parallel_threshold: int | None = None,
        env_spec: EnvSpec | None = None,
    ) -> None:
        if not isinstance(observe_velocity, (bool, np.bool_)):
            raise ValueError(f"observe_velocity must be True or False, got {observe_velocity!r}")
        options = None if observe_velocity else {"observe_velocity": False}
        super().__init__(num_envs, max_episode_steps, num_threads, render_mode, parallel_threshold, env_spec, options)
        # Never touched by reset_env: stays for every episode (and is saved with the state).
        self.states[:, 4] = 1.0 if observe_velocity else 0.0

    def gymnasium_state(self, state: np.ndarray) -> np.ndarray:
        """The physics, without the observation flag."""
        return state[:4].copy()

    @staticmethod
    def reset_env(state, rng):
        for k in range(4):
            state[k] = uniform(rng, -0.05, 0.05)

    @staticmethod
    def step_env(state, action, rng):
        x, x_dot, theta, theta_dot = state[0], state[1], state[2], state[3]
        force = FORCE_MAG if action == 1 else -FORCE_MAG
        costheta = np.cos(theta)
        sintheta = np.sin(theta)
        temp = (force + POLE_MASS_LENGTH * (theta_dot * theta_dot) * sintheta) / TOTAL_MASS
        thetaacc = (GRAVITY * sintheta - costheta * temp) / (
            HALF_LENGTH * (4.0 / 3.0 - MASS_POLE * (costheta * costheta) / TOTAL_MASS)
        )
        xacc = temp - POLE_MASS_LENGTH * thetaacc * costheta / TOTAL_MASS
        state[0] = x + TAU * x_dot
        state[1] = x_dot + TAU * xacc
        state[2] = theta + TAU * theta_dot
        state[3] = theta_dot + TAU * thetaacc
        terminated = (
            state[0] < -X_THRESHOLD or state[0] > X_THRESHOLD
            or state[2] < -THETA_THRESHOLD or state[2] > THETA_THRESHOLD
        )
        return 1.0, terminated

    @staticmethod
    def observe(state, obs):
        obs[0] = state[0]
        obs[1] = state[1] * state[4]  # x 1.0 is exact: the observed velocities are Gymnasium's to the bit
        obs[2] = state[2]
        obs[3] = state[3] * state[4]
