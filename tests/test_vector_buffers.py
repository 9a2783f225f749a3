"""One buffer set, allocated once by the base class, for every backend (shared memory for multiprocessing)."""

from __future__ import annotations

import importlib.util

import gymnasium as gym
import numpy as np
import pytest

import thrust
from thrust.vector.base import BUFFER_NAMES, VecEnv, allocate_buffers
from thrust.vector.multiprocessing import MultiprocessingVecEnv

BACKENDS = [
    pytest.param({"backend": "serial"}, id="serial"),
    pytest.param({"backend": "multiprocessing", "num_workers": 2}, id="multiprocessing"),
    pytest.param({"backend": "multiprocessing", "num_workers": 2, "batch_size": 2}, id="multiprocessing-async"),
    pytest.param({"backend": "native"}, id="native"),
    pytest.param(
        {"backend": "envpool"}, id="envpool",
        marks=pytest.mark.skipif(importlib.util.find_spec("envpool") is None, reason="envpool is not installed"),
    ),
]

SPACE = gym.spaces.Dict({
    "image": gym.spaces.Box(0, 255, (3, 2, 2), np.uint8),
    "parts": gym.spaces.Tuple((gym.spaces.Discrete(3), gym.spaces.Box(-1.0, 1.0, (2,), np.float64))),
})


def test_the_buffer_set_is_defined_once_and_taken_in_a_fixed_order():
    taken = []

    def take(shape, dtype):
        taken.append((shape, np.dtype(dtype)))
        return np.zeros(shape, dtype)

    buffers = allocate_buffers(SPACE, 5, take)
    assert tuple(buffers) == BUFFER_NAMES
    leaves = [((5, 3, 2, 2), np.uint8), ((5,), np.int64), ((5, 2), np.float64)]
    flat = [np.float32, bool, bool, bool, bool, np.float64, np.int64]
    assert taken == [*leaves, *leaves, *[((5,), np.dtype(dtype)) for dtype in flat]]
    shared = allocate_buffers(SPACE, 5, own_episode_mask=False)
    assert shared["episode_mask"] is shared["final_mask"]


def test_the_base_class_allocates_through_take_and_infos_are_views_of_the_buffers():
    calls = []

    def take(shape, dtype):
        calls.append(shape)
        return np.zeros(shape, dtype)

    envs = VecEnv(SPACE, gym.spaces.Discrete(2), num_envs=4, take=take)
    assert len(calls) == 3 + 3 + 6  # episode_mask is final_mask unless the class declares its own
    assert envs.episode_mask is envs.final_mask and envs.infos["_episode"] is envs.final_mask
    assert envs.infos["final_obs"] is envs.buffers["final_observations"] is envs.final_observations
    assert envs.infos["episode"]["r"] is envs.episode_returns and envs.infos["episode"]["l"] is envs.episode_lengths

    class OwnMask(VecEnv):
        own_episode_mask = True

    own = OwnMask(SPACE, gym.spaces.Discrete(2), num_envs=4)
    assert own.episode_mask is not own.final_mask and own.infos["_episode"] is own.episode_mask


@pytest.mark.parametrize("options", BACKENDS)
def test_every_backend_keeps_the_buffers_of_its_base_class(options):
    envs = thrust.make("CartPole-v1", num_envs=4, seed=0, **options)
    try:
        assert tuple(envs.buffers) == BUFFER_NAMES
        for name in BUFFER_NAMES:
            assert getattr(envs, name) is envs.buffers[name], name
        assert (envs.episode_mask is envs.final_mask) == (options["backend"] == "native")
        synchronous = envs.batch_size == envs.num_envs
        if synchronous:
            assert envs.infos["_episode"] is envs.episode_mask and envs.infos["final_obs"] is envs.final_observations
        obs, _ = envs.reset()
        assert obs is envs.observations
        envs.send(np.zeros(4, dtype=np.int64))
        obs, rewards, _, _, infos, _ = envs.recv()
        assert (obs is envs.observations and rewards is envs.rewards) == synchronous
    finally:
        envs.close()


def test_multiprocessing_buffers_and_actions_live_in_the_shared_block():
    envs = MultiprocessingVecEnv([lambda: gym.make("CartPole-v1")] * 4, num_workers=2)
    try:
        block = np.frombuffer(envs._memory, dtype=np.uint8)
        for name in BUFFER_NAMES:
            assert np.shares_memory(envs.buffers[name], block), name
        assert np.shares_memory(envs.actions, block)
    finally:
        envs.close()
