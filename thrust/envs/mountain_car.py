"""MountainCar-v0 and MountainCarContinuous-v0 as native envs, with Gymnasium 1.x's exact arithmetic.

MountainCar-v0 runs in float64. MountainCarContinuous-v0 stores its state in float32 after every
step and mixes float32 and Python floats under NumPy 2's promotion rules, so its step is written in
explicit float32 where Gymnasium's is (see `MountainCarContinuous.step_env`).
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np

from thrust.envs.native import NativeVecEnv, uniform

MIN_POSITION = -1.2
MAX_POSITION = 0.6
MAX_SPEED = 0.07
GRAVITY = 0.0025
_LOW = np.array([MIN_POSITION, -MAX_SPEED], dtype=np.float32)
_HIGH = np.array([MAX_POSITION, MAX_SPEED], dtype=np.float32)


class MountainCar(NativeVecEnv):
    """Drive an underpowered car up a hill by rocking (push left, none, right); -1 per step."""

    gymnasium_id = "MountainCar-v0"
    single_observation_space = gym.spaces.Box(_LOW, _HIGH, dtype=np.float32)
    single_action_space = gym.spaces.Discrete(3)
    state_size = 2  # position, velocity
    max_episode_steps = 200

    @staticmethod
    def reset_env(state, rng):
        state[0] = uniform(rng, -0.6, -0.4)
        state[1] = 0.0

    @staticmethod
    def step_env(state, action, rng):
        position, velocity = state[0], state[1]
        velocity += (action - 1) * 0.001 + math.cos(3 * position) * (-GRAVITY)
        velocity = min(max(velocity, -MAX_SPEED), MAX_SPEED)
        position += velocity
        position = min(max(position, MIN_POSITION), MAX_POSITION)
        if position == MIN_POSITION and velocity < 0:
            velocity = 0.0
        state[0] = position
        state[1] = velocity
        return -1.0, position >= 0.5 and velocity >= 0.0

    @staticmethod
    def observe(state, obs):
        obs[0] = state[0]
        obs[1] = state[1]


F32_POWER = np.float32(0.0015)
F32_MAX_SPEED = np.float32(MAX_SPEED)
F32_MIN_POSITION = np.float32(MIN_POSITION)
F32_MAX_POSITION = np.float32(MAX_POSITION)
F32_GOAL = np.float32(0.45)
F32_THREE = np.float32(3.0)


class MountainCarContinuous(NativeVecEnv):
    """MountainCar with a continuous force in [-1, 1]: +100 at the goal, minus 0.1 * action**2 per step."""

    gymnasium_id = "MountainCarContinuous-v0"
    single_observation_space = gym.spaces.Box(_LOW, _HIGH, dtype=np.float32)
    single_action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
    state_size = 3  # position, velocity, and 1.0 while the state is still the float64 one reset drew
    max_episode_steps = 999

    @staticmethod
    def reset_env(state, rng):
        state[0] = uniform(rng, -0.6, -0.4)
        state[1] = 0.0
        state[2] = 1.0

    @staticmethod
    def step_env(state, action, rng):
        # Gymnasium: force = min(max(a, -1.0), 1.0) is a float32 unless the action was out of range
        # (then a Python float); a float32 times or minus a Python float stays float32 (NEP 50).
        a = action[0]
        fresh = state[2] == 1.0  # first step after reset: position and velocity are float64
        position = state[0] if fresh else np.float32(state[0])
        cos_term = 0.0025 * math.cos(3 * position if fresh else np.float64(F32_THREE * np.float32(position)))
        if a > 1.0 or a < -1.0:
            dv = (1.0 if a > 1.0 else -1.0) * 0.0015 - cos_term
        else:
            dv = np.float64(a * F32_POWER - np.float32(cos_term))
        if fresh:  # float64 throughout, compared with Python floats
            velocity = 0.0 + dv
            velocity = min(max(velocity, -MAX_SPEED), MAX_SPEED)
            position = position + velocity
            position = min(max(position, MIN_POSITION), MAX_POSITION)
            if position == MIN_POSITION and velocity < 0:
                velocity = 0.0
            terminated = position >= 0.45 and velocity >= 0
        else:  # float32 throughout; NumPy compares a float32 with a Python float in float32
            velocity32 = np.float32(state[1]) + np.float32(dv)
            velocity32 = min(max(velocity32, -F32_MAX_SPEED), F32_MAX_SPEED)
            position32 = np.float32(position) + velocity32
            position32 = min(max(position32, F32_MIN_POSITION), F32_MAX_POSITION)
            if position32 == F32_MIN_POSITION and velocity32 < 0:
                velocity32 = np.float32(0.0)
            terminated = position32 >= F32_GOAL and velocity32 >= 0
            position, velocity = np.float64(position32), np.float64(velocity32)
        state[0] = np.float32(position)
        state[1] = np.float32(velocity)
        state[2] = 0.0
        reward = (100.0 if terminated else 0.0) - math.pow(np.float64(a), 2) * 0.1
        return reward, terminated

    @staticmethod
    def observe(state, obs):
        obs[0] = state[0]
        obs[1] = state[1]

    def gymnasium_state(self, state: np.ndarray) -> np.ndarray:
        return state[:2].astype(np.float64 if state[2] == 1.0 else np.float32)
