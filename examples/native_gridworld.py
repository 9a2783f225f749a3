"""A user-defined native environment: a grid world written in plain Python, stepped at compiled speed.

Subclass `NativeVecEnv`, declare the spaces, how many float64 numbers describe one env
(`state_size`) and a time limit, and write three static methods in numba's subset of Python
(plain arithmetic, `if`, loops, `np`/`math` functions) that handle ONE env:

    reset_env(state, rng)                     write a fresh initial state into `state`
    step_env(state, action, rng) -> (reward, terminated)
    observe(state, obs)                       write the observation of `state` into `obs`

Thrust compiles them into kernels over all envs (threads, same-step autoreset, time-limit
truncation, per-env seeding, episode statistics, checkpoints) and caches the kernels on disk.

    python examples/native_gridworld.py --num-envs 4096 --steps 1000
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import thrust
from thrust.envs import NativeVecEnv, randint, registry

SIZE = 8  # the grid is SIZE x SIZE cells
MOVES = np.array([[0, 1], [0, -1], [1, 0], [-1, 0]], dtype=np.int64)  # up, down, right, left


class GridWorld(NativeVecEnv):
    """Walk to the goal cell: -0.01 per step, +1 on arrival (which ends the episode)."""

    single_observation_space = gym.spaces.Box(0.0, SIZE - 1.0, shape=(4,), dtype=np.float32)  # agent x, y, goal x, y
    single_action_space = gym.spaces.Discrete(4)
    state_size = 4  # agent x, agent y, goal x, goal y (whole numbers stored as float64)
    max_episode_steps = 4 * SIZE

    @staticmethod
    def reset_env(state, rng):
        state[0] = randint(rng, 0, SIZE)
        state[1] = randint(rng, 0, SIZE)
        state[2] = state[0]
        state[3] = state[1]
        while state[2] == state[0] and state[3] == state[1]:  # the goal is never the start
            state[2] = randint(rng, 0, SIZE)
            state[3] = randint(rng, 0, SIZE)

    @staticmethod
    def step_env(state, action, rng):
        state[0] = min(max(state[0] + MOVES[action, 0], 0), SIZE - 1)
        state[1] = min(max(state[1] + MOVES[action, 1], 0), SIZE - 1)
        arrived = state[0] == state[2] and state[1] == state[3]
        return (1.0 if arrived else -0.01), arrived

    @staticmethod
    def observe(state, obs):
        for k in range(4):
            obs[k] = state[k]


registry["GridWorld-v0"] = GridWorld  # now thrust.make("GridWorld-v0", ...) finds it


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    envs = thrust.make("GridWorld-v0", num_envs=args.num_envs, seed=args.seed)
    envs.reset()
    rng = np.random.default_rng(args.seed)
    actions = np.zeros(args.num_envs, dtype=np.int64)
    episodes, total_return = 0, 0.0
    start = time.perf_counter()
    for _ in range(args.steps):
        actions[:] = rng.integers(0, 4, args.num_envs)
        _, _, _, _, infos = envs.step(actions)
        episodes += infos["_episode"].sum()
        total_return += infos["episode"]["r"][infos["_episode"]].sum()
    elapsed = time.perf_counter() - start
    print(f"{args.num_envs * args.steps / elapsed:,.0f} steps/s (random actions, sampling included)")
    print(f"{episodes} episodes, mean return {total_return / max(episodes, 1):.3f}")


if __name__ == "__main__":
    main()
