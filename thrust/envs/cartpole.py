"""CartPole-v1 as a native env: Gymnasium 1.x's dynamics, rewards, termination and time limit."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np

from thrust.envs.native import NativeVecEnv, uniform

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
    state_size = 4  # x, x_dot, theta, theta_dot
    max_episode_steps = 500

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
        for k in range(4):
            obs[k] = state[k]
