"""Pendulum-v1 as a native env: Gymnasium 1.x's dynamics, costs (with their float32 parts) and time limit."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from thrust.envs.native import NativeVecEnv, numpy_square, numpy_square32, uniform

MAX_SPEED = 8.0
MAX_TORQUE = 2.0
DT = 0.05
G = 10.0
M = 1.0
L = 1.0
F32_TORQUE_COST = np.float32(0.001)
F32_TORQUE_GAIN = np.float32(3.0 / (M * L**2))


class Pendulum(NativeVecEnv):
    """Swing a pendulum up and hold it with a torque in [-2, 2]; cost = angle² + 0.1 speed² + 0.001 torque²."""

    gymnasium_id = "Pendulum-v1"
    _high = np.array([1.0, 1.0, MAX_SPEED], dtype=np.float32)
    single_observation_space = gym.spaces.Box(-_high, _high, dtype=np.float32)
    single_action_space = gym.spaces.Box(-MAX_TORQUE, MAX_TORQUE, shape=(1,), dtype=np.float32)
    state_size = 2  # theta, theta_dot
    max_episode_steps = 200

    @staticmethod
    def reset_env(state, rng):
        state[0] = uniform(rng, -np.pi, np.pi)
        state[1] = uniform(rng, -1.0, 1.0)

    @staticmethod
    def step_env(state, action, rng):
        th, thdot = state[0], state[1]
        # the torque stays float32, and NumPy 2 keeps Python-float products with it in float32
        u = min(max(action[0], np.float32(-MAX_TORQUE)), np.float32(MAX_TORQUE))
        normalized = ((th + np.pi) % (2 * np.pi)) - np.pi
        costs = numpy_square(normalized) + 0.1 * numpy_square(thdot) + np.float64(F32_TORQUE_COST * numpy_square32(u))
        newthdot = thdot + (3 * G / (2 * L) * np.sin(th) + np.float64(F32_TORQUE_GAIN * u)) * DT
        newthdot = min(max(newthdot, -MAX_SPEED), MAX_SPEED)
        state[0] = th + newthdot * DT
        state[1] = newthdot
        return -costs, False

    @staticmethod
    def observe(state, obs):
        obs[0] = np.cos(state[0])
        obs[1] = np.sin(state[0])
        obs[2] = state[1]
