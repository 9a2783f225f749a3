"""Acrobot-v1 as a native env: Gymnasium 1.x's "book" dynamics, RK4 step, rewards and time limit."""

from __future__ import annotations

import math

import gymnasium as gym
import numba
import numpy as np

from thrust.envs.native import NativeVecEnv, numpy_square, uniform

DT = 0.2
LINK_LENGTH_1 = 1.0
LINK_MASS_1 = 1.0
LINK_MASS_2 = 1.0
LINK_COM_POS_1 = 0.5
LINK_COM_POS_2 = 0.5
LINK_MOI = 1.0
MAX_VEL_1 = 4 * math.pi
MAX_VEL_2 = 9 * math.pi
GRAVITY = 9.8
PI = math.pi


@numba.njit(inline="always")
def _derivatives(theta1, theta2, dtheta1, dtheta2, torque):
    """Gymnasium's `AcrobotEnv._dsdt`, operation for operation (float results depend on the order)."""
    m1, m2, l1, lc1, lc2 = LINK_MASS_1, LINK_MASS_2, LINK_LENGTH_1, LINK_COM_POS_1, LINK_COM_POS_2
    i1 = i2 = LINK_MOI
    g = GRAVITY
    d1 = m1 * lc1**2 + m2 * (l1**2 + lc2**2 + 2 * l1 * lc2 * np.cos(theta2)) + i1 + i2
    d2 = m2 * (lc2**2 + l1 * lc2 * np.cos(theta2)) + i2
    phi2 = m2 * lc2 * g * np.cos(theta1 + theta2 - PI / 2.0)
    phi1 = (
        -m2 * l1 * lc2 * numpy_square(dtheta2) * np.sin(theta2)
        - 2 * m2 * l1 * lc2 * dtheta2 * dtheta1 * np.sin(theta2)
        + (m1 * lc1 + m2 * l1) * g * np.cos(theta1 - PI / 2)
        + phi2
    )
    ddtheta2 = (torque + d2 / d1 * phi1 - m2 * l1 * lc2 * numpy_square(dtheta1) * np.sin(theta2) - phi2) / (
        m2 * lc2**2 + i2 - numpy_square(d2) / d1
    )
    ddtheta1 = -(d2 * ddtheta2 + phi1) / d1
    return dtheta1, dtheta2, ddtheta1, ddtheta2


@numba.njit(inline="always")
def _wrap(x, low, high):
    diff = high - low
    while x > high:
        x = x - diff
    while x < low:
        x = x + diff
    return x


class Acrobot(NativeVecEnv):
    """Swing the tip of a two-link chain above a line by torquing the middle joint; -1 per step."""

    gymnasium_id = "Acrobot-v1"
    _high = np.array([1.0, 1.0, 1.0, 1.0, MAX_VEL_1, MAX_VEL_2], dtype=np.float32)
    single_observation_space = gym.spaces.Box(-_high, _high, dtype=np.float32)
    single_action_space = gym.spaces.Discrete(3)
    state_size = 4  # theta1, theta2, dtheta1, dtheta2
    max_episode_steps = 500

    @staticmethod
    def reset_env(state, rng):
        for k in range(4):  # Gymnasium draws the initial state in float32
            state[k] = np.float32(uniform(rng, -0.1, 0.1))

    @staticmethod
    def step_env(state, action, rng):
        torque = action - 1.0  # AVAIL_TORQUE = [-1.0, 0.0, +1]
        y0, y1, y2, y3 = state[0], state[1], state[2], state[3]
        # Gymnasium's rk4 over t = [0, DT]: one step, summed as y0 + dt / 6 * (k1 + 2 k2 + 2 k3 + k4)
        dt = DT
        dt2 = dt / 2.0
        a0, a1, a2, a3 = _derivatives(y0, y1, y2, y3, torque)
        b0, b1, b2, b3 = _derivatives(y0 + dt2 * a0, y1 + dt2 * a1, y2 + dt2 * a2, y3 + dt2 * a3, torque)
        c0, c1, c2, c3 = _derivatives(y0 + dt2 * b0, y1 + dt2 * b1, y2 + dt2 * b2, y3 + dt2 * b3, torque)
        e0, e1, e2, e3 = _derivatives(y0 + dt * c0, y1 + dt * c1, y2 + dt * c2, y3 + dt * c3, torque)
        sixth = dt / 6.0
        state[0] = _wrap(y0 + sixth * (a0 + 2 * b0 + 2 * c0 + e0), -PI, PI)
        state[1] = _wrap(y1 + sixth * (a1 + 2 * b1 + 2 * c1 + e1), -PI, PI)
        state[2] = min(max(y2 + sixth * (a2 + 2 * b2 + 2 * c2 + e2), -MAX_VEL_1), MAX_VEL_1)
        state[3] = min(max(y3 + sixth * (a3 + 2 * b3 + 2 * c3 + e3), -MAX_VEL_2), MAX_VEL_2)
        terminated = -np.cos(state[0]) - np.cos(state[1] + state[0]) > 1.0
        return (0.0 if terminated else -1.0), terminated

    @staticmethod
    def observe(state, obs):
        obs[0] = np.cos(state[0])
        obs[1] = np.sin(state[0])
        obs[2] = np.cos(state[1])
        obs[3] = np.sin(state[1])
        obs[4] = state[2]
        obs[5] = state[3]

