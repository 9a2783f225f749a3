"""`EnvSpec`: every VecEnv's identity, given at construction; `thrust.make(spec)` makes more of the same."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import pickle

import gymnasium as gym
import numpy as np
import pytest

import thrust
from thrust.envs import CartPole
from thrust.vector import EnvSpec, MultiprocessingVecEnv, SerialVecEnv, VecEnv

needs_envpool = pytest.mark.skipif(importlib.util.find_spec("envpool") is None, reason="envpool is not installed")


class Coin(gym.Env):
    """An env built from its class, not by gym.make: no Gymnasium spec."""

    observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.np_random.random(1).astype(np.float32), {}

    def step(self, action):
        return self.np_random.random(1).astype(np.float32), 1.0, False, False, {}


@pytest.mark.parametrize(
    "options, expected",
    [
        ({}, EnvSpec(id="CartPole-v1", backend="native", seed=3)),
        ({"backend": "native", "max_episode_steps": 9}, EnvSpec(
            id="CartPole-v1", kwargs={"max_episode_steps": 9}, backend="native", seed=3)),
        ({"backend": "serial", "max_episode_steps": 9}, EnvSpec(
            id="CartPole-v1", kwargs={"max_episode_steps": 9}, backend="serial", seed=3)),
        ({"backend": "multiprocessing", "num_workers": 2}, EnvSpec(
            id="CartPole-v1", backend="multiprocessing", num_workers=2, seed=3)),
        ({"num_workers": 2, "batch_size": 2}, EnvSpec(
            id="CartPole-v1", backend="multiprocessing", num_workers=2, seed=3)),
        pytest.param({"backend": "envpool", "num_workers": 2}, EnvSpec(
            id="CartPole-v1", backend="envpool", num_workers=2, seed=3), marks=needs_envpool),
    ],
    ids=["auto-native", "native", "serial", "multiprocessing", "auto-multiprocessing", "envpool"],
)
def test_make_gives_every_backend_its_spec(options, expected):
    if options == {"num_workers": 2, "batch_size": 2}:  # auto: not native (CartPole is), so another id
        expected = dataclasses.replace(expected, id="Taxi-v4")
        envs = thrust.make("Taxi-v4", num_envs=4, seed=3, backend="auto", **options)
    else:
        envs = thrust.make("CartPole-v1", num_envs=4, seed=3, **options)
    try:
        assert envs.env_spec == expected
        assert envs.env_id == expected.id
        with pytest.raises(AttributeError):
            envs.env_id = "other"  # read-only: the spec is the one place the id lives
        with pytest.raises(dataclasses.FrozenInstanceError):
            envs.env_spec.seed = 4
    finally:
        envs.close()


def test_make_resolves_auto_where_the_multiprocessing_default_is_recorded(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    envs = thrust.make("Taxi-v4", num_envs=4, seed=0)
    try:
        assert (envs.env_spec.backend, envs.env_spec.num_workers) == ("multiprocessing", 2)
        assert envs.env_spec.num_workers == envs.num_workers
    finally:
        envs.close()
    assert thrust.make("Taxi-v4", num_envs=1).env_spec.backend == "serial"


def test_directly_built_envs_get_what_their_backend_knows():
    assert SerialVecEnv([lambda: gym.make("CartPole-v1")] * 2).env_spec == EnvSpec(id="CartPole-v1", backend="serial")
    assert SerialVecEnv([Coin] * 2).env_spec == EnvSpec(id=None, backend="serial")
    envs = MultiprocessingVecEnv([Coin] * 2, num_workers=2)
    try:
        assert envs.env_spec == EnvSpec(id=None, backend="multiprocessing", num_workers=2)
    finally:
        envs.close()
    native = CartPole(num_envs=2, num_threads=1)
    assert native.env_spec == EnvSpec(id="CartPole-v1", kwargs={"num_threads": 1}, backend="native")
    custom = VecEnv(gym.spaces.Discrete(2), gym.spaces.Discrete(2), num_envs=2)
    assert custom.env_spec == EnvSpec(id=None, backend="custom") and custom.env_id is None


def test_a_spec_given_to_a_backend_must_name_it():
    spec = EnvSpec(id="CartPole-v1", backend="native")
    with pytest.raises(ValueError, match="'native'.*'serial' backend"):
        SerialVecEnv([Coin], env_spec=spec)
    with pytest.raises(ValueError, match="num_workers is 2"):
        MultiprocessingVecEnv([Coin] * 2, num_workers=1, env_spec=EnvSpec(id=None, backend="multiprocessing",
                                                                          num_workers=2))
    with pytest.raises(TypeError, match="EnvSpec"):
        SerialVecEnv([Coin], env_spec={"id": "CartPole-v1"})


@pytest.mark.parametrize("backend", ["serial", "native"])
def test_the_seed_of_the_spec_seeds_the_first_seedless_reset_once(backend):
    seeded = thrust.make("CartPole-v1", num_envs=3, seed=7, backend=backend)
    reference = thrust.make("CartPole-v1", num_envs=3, backend=backend)
    first, _ = seeded.reset()
    np.testing.assert_array_equal(first, reference.reset(seed=7)[0])
    first = first.copy()
    second, _ = seeded.reset()  # the seed is used once: this reset continues each env's stream
    assert not np.array_equal(second, first)
    np.testing.assert_array_equal(second, reference.reset()[0])
    assert seeded.env_spec.seed == 7  # the spec stays what it was
    again = thrust.make(seeded.env_spec, num_envs=3, seed=seeded.env_spec.seed)
    np.testing.assert_array_equal(again.reset()[0], first)


def test_make_from_a_spec_makes_the_same_kind_of_envs_with_a_new_count_and_seed():
    envs = thrust.make("CartPole-v1", num_envs=4, seed=1, backend="serial", max_episode_steps=5)
    more = thrust.make(envs.env_spec, num_envs=6, seed=2)
    assert isinstance(more, SerialVecEnv) and more.num_envs == 6
    assert more.env_spec == dataclasses.replace(envs.env_spec, seed=2)
    more.reset()
    for _ in range(4):
        assert not more.step(np.zeros(6, dtype=np.int64))[3].any()
    assert more.step(np.zeros(6, dtype=np.int64))[3].all()  # the kwargs came along: truncated at 5 steps

    native = thrust.make(thrust.make("Pendulum-v1", num_envs=2, max_episode_steps=3).env_spec, num_envs=5, seed=0)
    assert native.env_spec == EnvSpec(id="Pendulum-v1", kwargs={"max_episode_steps": 3}, backend="native", seed=0)
    assert native.max_episode_steps == 3 and native.num_envs == 5


def test_make_from_a_spec_keeps_the_workers_where_they_divide_the_count():
    spec = EnvSpec(id="CartPole-v1", backend="multiprocessing", num_workers=2)
    envs = thrust.make(spec, num_envs=6)
    try:
        assert isinstance(envs, MultiprocessingVecEnv) and envs.num_workers == 2
    finally:
        envs.close()
    envs = thrust.make(spec, num_envs=3)  # 2 workers cannot share 3 envs: fewer, never more
    try:
        assert envs.num_workers == 1 and envs.env_spec.num_workers == 1
    finally:
        envs.close()


def test_make_refuses_specs_it_cannot_follow():
    with pytest.raises(ValueError, match="no id"):
        thrust.make(EnvSpec(id=None, backend="serial"))
    with pytest.raises(ValueError, match="custom"):
        thrust.make(EnvSpec(id="CartPole-v1", backend="custom"))
    spec = EnvSpec(id="CartPole-v1", backend="serial")
    with pytest.raises(ValueError, match=r"dataclasses.replace"):
        thrust.make(spec, backend="native")
    with pytest.raises(ValueError, match=r"dataclasses.replace"):
        thrust.make(spec, max_episode_steps=3)


def test_spec_is_immutable_plain_data():
    kwargs = {"max_episode_steps": 9, "render_mode": None}
    spec = EnvSpec(id="CartPole-v1", kwargs=kwargs, backend="serial", seed=0)
    kwargs["max_episode_steps"] = 1  # the spec took a copy
    assert dict(spec.kwargs) == {"max_episode_steps": 9, "render_mode": None}
    with pytest.raises(TypeError):
        spec.kwargs["max_episode_steps"] = 1
    data = spec.to_dict()
    assert EnvSpec.from_dict(json.loads(json.dumps(data))) == spec
    assert pickle.loads(pickle.dumps(spec)) == spec and hash(pickle.loads(pickle.dumps(spec))) == hash(spec)
    assert "kwargs={'max_episode_steps': 9" in repr(spec)
    with pytest.raises(ValueError, match="exactly the keys"):
        EnvSpec.from_dict({**data, "extra": 1})
    for bad in ({"seed": -1}, {"seed": "1"}, {"num_workers": 0}, {"id": 3}, {"kwargs": {1: 2}}, {"backend": ""}):
        with pytest.raises(ValueError):
            EnvSpec(**{"id": "CartPole-v1", "backend": "serial", **bad})
