"""The user-defined env example: it runs, and the harness around it matches a plain-Python harness."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import thrust

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "native_gridworld.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("native_gridworld", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["native_gridworld"] = module
    spec.loader.exec_module(module)
    return module


def python_harness(env_cls, num_envs: int, seed: int, actions: np.ndarray):
    """The harness's semantics as a plain loop over envs, calling the env's un-jitted Python functions."""
    states = np.zeros((num_envs, env_cls.state_size))
    rngs = [np.array([seed + i], dtype=np.uint64) for i in range(num_envs)]
    obs = np.zeros((num_envs, *env_cls.single_observation_space.shape), dtype=np.float32)
    for i in range(num_envs):
        env_cls.reset_env(states[i], rngs[i])
        env_cls.observe(states[i], obs[i])
    yield obs.copy(), None
    running_return, running_length = np.zeros(num_envs), np.zeros(num_envs, dtype=np.int64)
    for step_actions in actions:
        out = {
            "reward": np.zeros(num_envs), "terminated": np.zeros(num_envs, bool),
            "truncated": np.zeros(num_envs, bool), "final_obs": {}, "episode": {},
        }
        for i in range(num_envs):
            reward, terminated = env_cls.step_env(states[i], step_actions[i], rngs[i])
            running_return[i] += reward
            running_length[i] += 1
            truncated = running_length[i] >= env_cls.max_episode_steps
            out["reward"][i], out["terminated"][i], out["truncated"][i] = reward, terminated, truncated
            if terminated or truncated:
                final = np.zeros_like(obs[i])
                env_cls.observe(states[i], final)
                out["final_obs"][i] = final
                out["episode"][i] = (running_return[i], running_length[i])
                running_return[i], running_length[i] = 0.0, 0
                env_cls.reset_env(states[i], rngs[i])
            env_cls.observe(states[i], obs[i])
        yield obs.copy(), out


def test_example_matches_a_plain_python_harness(example):
    num_envs, steps = 6, 400
    actions = np.random.default_rng(1).integers(0, 4, (steps, num_envs))
    envs = thrust.make("GridWorld-v0", num_envs=num_envs, seed=7)
    reference = python_harness(example.GridWorld, num_envs, 7, actions)
    obs, _ = envs.reset()
    np.testing.assert_array_equal(obs, next(reference)[0])
    ended = 0
    for step_actions, (ref_obs, ref) in zip(actions, reference, strict=True):
        obs, rewards, terminations, truncations, infos = envs.step(step_actions)
        np.testing.assert_array_equal(obs, ref_obs)
        np.testing.assert_array_equal(rewards, ref["reward"].astype(np.float32))
        np.testing.assert_array_equal(terminations, ref["terminated"])
        np.testing.assert_array_equal(truncations, ref["truncated"])
        np.testing.assert_array_equal(np.flatnonzero(infos["_final_obs"]), sorted(ref["final_obs"]))
        for i, final in ref["final_obs"].items():
            np.testing.assert_array_equal(infos["final_obs"][i], final)
            assert (infos["episode"]["r"][i], infos["episode"]["l"][i]) == ref["episode"][i]
        ended += len(ref["final_obs"])
    assert ended > num_envs
    assert (np.abs(obs[:, :2] - obs[:, 2:]).sum(axis=1) > 0).all()  # a fresh goal is never the start cell


def test_example_script_runs():
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--num-envs", "64", "--steps", "50"],
        capture_output=True, text=True, timeout=120, check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(EXAMPLE.parents[1]), os.environ.get("PYTHONPATH", "")])},
    )
    assert "steps/s" in result.stdout and "episodes" in result.stdout


def test_ppo_trains_on_a_user_env_registered_in_the_native_registry(example):
    """The README's path: register a native env, make it, hand the ready envs to PPO, evaluate by id."""
    envs = thrust.make("GridWorld-v0", num_envs=16, seed=0)
    model = thrust.PPO(envs, total_timesteps=16 * 128, num_steps=128)
    model.learn()
    assert model.config.env_id == "GridWorld-v0"
    assert len(thrust.evaluate(model, num_episodes=4)["episodes"]) == 4
