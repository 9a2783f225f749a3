"""`thrust.make` checks its arguments once, the same way for every backend, before building anything."""

from __future__ import annotations

import importlib.util

import gymnasium as gym
import numpy as np
import pytest

import thrust
from thrust.envs import NativeVecEnv, registry

BACKENDS = [
    "native", "serial", "multiprocessing",
    pytest.param("envpool", marks=pytest.mark.skipif(importlib.util.find_spec("envpool") is None,
                                                      reason="envpool is not installed")),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("num_envs", [0, -2, 2.0, True, "4", None])
def test_num_envs_must_be_a_positive_int(backend, num_envs):
    with pytest.raises(ValueError, match=f"num_envs must be a positive int, got {num_envs!r}"):
        thrust.make("CartPole-v1", num_envs=num_envs, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", [-1, "1", 1.5, True])
def test_seed_must_be_an_int_at_least_zero_checked_at_make(backend, seed):
    with pytest.raises(ValueError, match=r"seed must be an int >= 0 or None, got"):
        thrust.make("CartPole-v1", num_envs=2, seed=seed, backend=backend)


@pytest.mark.parametrize("backend", ["native", "serial"])
def test_reset_refuses_negative_seeds_on_every_backend(backend):
    envs = thrust.make("CartPole-v1", num_envs=2, backend=backend)
    with pytest.raises(ValueError, match=r"seed must be an int >= 0 or None, got -1"):
        envs.reset(seed=-1)
    envs.reset(seed=np.int64(3))  # numpy ints are ints
    envs.close()


@pytest.mark.parametrize("name", ["num_workers", "batch_size"])
@pytest.mark.parametrize("value", [0, -1, 1.0])
def test_workers_and_batch_size_must_be_positive_ints(name, value):
    with pytest.raises(ValueError, match=f"{name} must be a positive int or None"):
        thrust.make("CartPole-v1", num_envs=2, backend="multiprocessing", **{name: value})


def test_gymnasium_kwargs_for_a_native_env_say_which_backend_takes_them():
    with pytest.raises(ValueError, match=r"native Pendulum-v1 takes only \[.*'max_episode_steps'.*\] .* not \['g'\]; "
                                         r".*Gymnasium's Pendulum-v1, which needs backend='serial'"):
        thrust.make("Pendulum-v1", g=5.0)
    envs = thrust.make("Pendulum-v1", num_envs=2, g=5.0, backend="serial")
    assert envs.envs[0].unwrapped.g == 5.0
    native = thrust.make("Pendulum-v1", num_envs=2, max_episode_steps=7)
    assert native.max_episode_steps == 7


def test_env_id_must_be_a_str_or_a_spec():
    with pytest.raises(TypeError, match="env id"):
        thrust.make(42)


class Walk(NativeVecEnv):
    single_observation_space = gym.spaces.Box(-10.0, 10.0, (1,), np.float32)
    single_action_space = gym.spaces.Discrete(2)
    state_size = 1
    max_episode_steps = 5

    @staticmethod
    def reset_env(state, rng):
        state[0] = 0.0

    @staticmethod
    def step_env(state, action, rng):
        state[0] += 1.0 if action == 1 else -1.0
        return 1.0, False

    @staticmethod
    def observe(state, obs):
        obs[0] = state[0]


def test_a_registered_native_constructor_must_pass_the_spec_on(monkeypatch):
    monkeypatch.setitem(registry, "Walk-v0", lambda num_envs, max_episode_steps=None: Walk(num_envs))
    with pytest.raises(TypeError, match="must take env_spec=None"):
        thrust.make("Walk-v0", num_envs=2)
    monkeypatch.setitem(registry, "Walk-v0", lambda num_envs, **kwargs: Walk(num_envs, **kwargs))
    envs = thrust.make("Walk-v0", num_envs=2, seed=1)
    assert envs.env_spec.id == "Walk-v0" and envs.env_spec.seed == 1
    monkeypatch.setitem(registry, "Walk-v0", Walk)
    assert thrust.make("Walk-v0", num_envs=2).env_id == "Walk-v0"
    assert Walk(num_envs=1).env_id == "Walk-v0"  # built directly: its registry key
