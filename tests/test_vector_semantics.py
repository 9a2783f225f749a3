"""One semantics suite run over every backend (the table in the README), plus cross-backend equality.

Every backend is driven through `send`/`recv` (sync backends get `env_ids=None`), with actions that
depend only on the env id and its step count, so async scheduling cannot change what an env sees.
"""

from __future__ import annotations

import importlib.util
import math
import os
import time

import gymnasium as gym
import numpy as np
import pytest

import thrust
from thrust.env_factory import default_num_workers
from thrust.envs import registry as native_registry
from thrust.vector.multiprocessing import MultiprocessingVecEnv
from thrust.vector.serial import SerialVecEnv

LIMIT = 20  # max_episode_steps: short enough that truncation happens often
X_THRESHOLD, THETA_THRESHOLD = 2.4, 12 * 2 * math.pi / 360

BACKENDS = [
    pytest.param({"backend": "serial"}, id="serial"),
    pytest.param({"backend": "multiprocessing", "num_workers": 2}, id="multiprocessing-sync"),
    pytest.param({"backend": "multiprocessing", "num_workers": 4, "batch_size": 2}, id="multiprocessing-async"),
    pytest.param(
        {"backend": "envpool", "num_workers": 2},
        id="envpool",
        marks=pytest.mark.skipif(importlib.util.find_spec("envpool") is None, reason="envpool is not installed"),
    ),
    pytest.param(
        {"backend": "native"},
        id="native",
        marks=pytest.mark.skipif("CartPole-v1" not in native_registry, reason="no native CartPole"),
    ),
]


def policy(env_ids: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """A fixed pseudo-random action per (env id, step count)."""
    mixed = (env_ids.astype(np.uint64) * np.uint64(2654435761) + steps.astype(np.uint64) * np.uint64(40503)) >> 5
    return (mixed & np.uint64(1)).astype(np.int64)


def drive(envs, seed: int, recvs: int):
    """Reset with `seed`, then yield `(env_ids, obs, rewards, terminations, truncations, infos)` per recv."""
    synchronous = envs.batch_size == envs.num_envs
    steps = np.zeros(envs.num_envs, dtype=np.int64)
    envs.reset(seed=seed)
    all_ids = np.arange(envs.num_envs)
    envs.send(policy(all_ids, steps))
    for _ in range(recvs):
        obs, rewards, terminations, truncations, infos, env_ids = envs.recv()
        yield env_ids, obs, rewards, terminations, truncations, infos
        steps[env_ids] += 1
        envs.send(policy(env_ids, steps[env_ids]), None if synchronous else env_ids)
    envs.recv()


def ends_episode(obs: np.ndarray) -> np.ndarray:
    """CartPole's termination condition on an observation."""
    return (np.abs(obs[..., 0]) > X_THRESHOLD) | (np.abs(obs[..., 2]) > THETA_THRESHOLD)


@pytest.mark.parametrize("options", BACKENDS)
def test_semantics(options):
    """Same-step autoreset, final observations, terminated vs truncated, episode statistics, views."""
    envs = thrust.make("CartPole-v1", num_envs=4, max_episode_steps=LIMIT, **options)
    lengths = np.zeros(4, dtype=np.int64)
    ended = {"terminated": 0, "truncated": 0}
    first_obs = None
    try:
        for ids, obs, rewards, terminations, truncations, infos in drive(envs, seed=5, recvs=300):
            first_obs = obs if first_obs is None else first_obs
            assert obs is first_obs, "step must return views of the same buffers"
            assert len(ids) == envs.batch_size and rewards.dtype == np.float32
            np.testing.assert_array_equal(rewards, 1.0)
            lengths[ids] += 1
            done = terminations | truncations
            np.testing.assert_array_equal(infos["_final_obs"], done)
            np.testing.assert_array_equal(infos["_episode"], done)
            # terminated exactly when the final observation breaks CartPole's bounds; truncated at the limit
            # (EnvPool reports a fall on the limit's step as truncated only, so that case is not pinned)
            broken, truncated = ends_episode(infos["final_obs"][done]), truncations[done]
            np.testing.assert_array_equal(broken & ~truncated, terminations[done] & ~truncated)
            assert not (terminations[done] & ~broken).any()
            np.testing.assert_array_equal(truncations, lengths[ids] == LIMIT)
            # the episode statistics of the episode that just ended
            np.testing.assert_array_equal(infos["episode"]["l"][done], lengths[ids][done])
            np.testing.assert_array_equal(infos["episode"]["r"][done], lengths[ids][done])
            # same-step autoreset: a finished env already shows its next episode's first observation
            assert (np.abs(obs[done]) <= 0.05).all()
            assert not ends_episode(obs).any()
            lengths[ids[done]] = 0
            ended["terminated"] += int(terminations.sum())
            ended["truncated"] += int((truncations & ~terminations).sum())
        assert ended["terminated"] > 5 and ended["truncated"] > 5, ended
    finally:
        envs.close()


@pytest.mark.parametrize("options", BACKENDS)
def test_same_seed_same_trajectories(options):
    envs = thrust.make("CartPole-v1", num_envs=4, max_episode_steps=LIMIT, **options)
    try:
        runs = [
            [(ids.copy(), obs.copy(), infos["final_obs"].copy()) for ids, obs, *_, infos in drive(envs, seed, 40)]
            for seed in (1, 1, 2)
        ]
    finally:
        envs.close()

    def per_env(run):  # async order may differ between runs; each env's own sequence may not
        return [np.concatenate([obs[ids == i] for ids, obs, _ in run]) for i in range(4)]

    compared = 0
    for a, b in zip(per_env(runs[0]), per_env(runs[1]), strict=True):
        common = min(len(a), len(b))  # in async mode an env may have stepped more in one run
        np.testing.assert_array_equal(a[:common], b[:common])
        compared += common
    assert compared >= 20
    assert not np.array_equal(runs[0][0][1], runs[2][0][1]), "a different seed must give different starts"


@pytest.mark.parametrize("options", BACKENDS)
def test_misuse_raises_instead_of_hanging(options):
    envs = thrust.make("CartPole-v1", num_envs=4, **options)
    actions = np.zeros(4, dtype=np.int64)
    try:
        with pytest.raises(RuntimeError, match="reset"):
            envs.send(actions)
        envs.reset(seed=0)
        with pytest.raises(RuntimeError, match="without a pending send"):
            envs.recv()
        with pytest.raises(ValueError, match="shape"):
            envs.send(np.zeros(3, dtype=np.int64))
        envs.send(actions)
        with pytest.raises(RuntimeError, match="twice"):
            envs.send(actions)
        if envs.batch_size < envs.num_envs:
            with pytest.raises(RuntimeError, match="send\\(\\)/recv\\(\\)"):
                envs.step(actions)
        envs.recv()
    finally:
        envs.close()


# -- serial vs multiprocessing, bit for bit --------------------------------------------------------


class StructuredEnv(gym.Env):
    """Dict observations (a uint8 image, a float64 vector, a Tuple of Discrete and MultiBinary) and
    Dict actions (MultiDiscrete, Box), with random episode lengths: every space kind in one env."""

    def __init__(self, delay: float = 0.0):
        self.observation_space = gym.spaces.Dict({
            "image": gym.spaces.Box(0, 255, (3, 5, 5), np.uint8),
            "vector": gym.spaces.Box(-np.inf, np.inf, (2,), np.float64),
            "parts": gym.spaces.Tuple((gym.spaces.Discrete(7), gym.spaces.MultiBinary(3))),
        })
        self.action_space = gym.spaces.Dict({
            "choice": gym.spaces.MultiDiscrete([3, 4]),
            "force": gym.spaces.Box(-1.0, 1.0, (2,), np.float32),
        })
        self.delay = delay

    def _observe(self):
        return {
            "image": self.np_random.integers(0, 256, (3, 5, 5), dtype=np.uint8),
            "vector": self.state.copy(),
            "parts": (int(self.np_random.integers(7)), self.np_random.integers(0, 2, 3).astype(np.int8)),
        }

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state = self.np_random.normal(size=2)
        return self._observe(), {}

    def step(self, action):
        if self.delay:
            time.sleep(self.delay)
        self.state = self.state + action["force"] + action["choice"]
        reward = float(self.state.sum())
        terminated = bool(self.np_random.random() < 0.1)
        truncated = bool(self.np_random.random() < 0.05)
        return self._observe(), reward, terminated, truncated, {}


def structured_actions(envs, env_ids: np.ndarray, steps: np.ndarray) -> dict:
    choice = np.stack([env_ids % 3, (env_ids + steps) % 4], axis=1).astype(np.int64)
    force = np.stack([np.sin(env_ids + 0.3 * steps), np.cos(steps)], axis=1).astype(np.float32)
    return {"choice": choice, "force": force}


def structured_run(envs, seed: int, steps_per_env: int):
    """Each env's own sequence of (obs leaves, reward, terminated, truncated, final obs, episode stats)."""
    synchronous = envs.batch_size == envs.num_envs
    n = envs.num_envs
    steps = np.zeros(n, dtype=np.int64)
    records: list[list] = [[] for _ in range(n)]
    envs.reset(seed=seed)
    envs.send(structured_actions(envs, np.arange(n), steps))
    while steps.min() < steps_per_env:
        obs, rewards, terminations, truncations, infos, ids = envs.recv()
        for k, i in enumerate(ids):
            done = bool(infos["_final_obs"][k])
            final = infos["final_obs"]
            records[i].append((
                obs["image"][k].copy(), obs["vector"][k].copy(), int(obs["parts"][0][k]), obs["parts"][1][k].copy(),
                float(rewards[k]), bool(terminations[k]), bool(truncations[k]), done,
                final["vector"][k].copy() if done else None,
                (float(infos["episode"]["r"][k]), int(infos["episode"]["l"][k])) if done else None,
            ))
        steps[ids] += 1
        envs.send(structured_actions(envs, ids, steps[ids]), None if synchronous else ids)
    envs.recv()
    return [record[:steps_per_env] for record in records]


def assert_same_records(a, b):
    for env_a, env_b in zip(a, b, strict=True):
        for step_a, step_b in zip(env_a, env_b, strict=True):
            for x, y in zip(step_a, step_b, strict=True):
                np.testing.assert_array_equal(x, y)


def test_serial_and_multiprocessing_identical_with_structured_spaces():
    serial = SerialVecEnv([StructuredEnv] * 4)
    sync = MultiprocessingVecEnv([StructuredEnv] * 4, num_workers=2)
    asynchronous = MultiprocessingVecEnv([StructuredEnv] * 4, num_workers=4, batch_size=2)
    try:
        reference = structured_run(serial, seed=11, steps_per_env=60)
        assert sum(step[7] for env in reference for step in env) > 20  # many episode ends compared
        assert_same_records(structured_run(sync, seed=11, steps_per_env=60), reference)
        assert_same_records(structured_run(asynchronous, seed=11, steps_per_env=60), reference)
        obs, _ = sync.reset(seed=0)
        assert obs["image"].dtype == np.uint8 and obs["parts"][1].shape == (4, 3)
    finally:
        for envs in (serial, sync, asynchronous):
            envs.close()


def test_multiprocessing_matches_gymnasium_cartpole():
    envs = thrust.make("CartPole-v1", num_envs=4, backend="multiprocessing", num_workers=2)
    reference = gym.vector.SyncVectorEnv(
        [lambda: gym.make("CartPole-v1")] * 4, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
    )
    try:
        obs, _ = envs.reset(seed=7)
        ref_obs, _ = reference.reset(seed=7)
        np.testing.assert_array_equal(obs, ref_obs)
        for t in range(300):
            actions = policy(np.arange(4), np.full(4, t))
            obs, rewards, terminations, truncations, infos = envs.step(actions)
            ref_obs, ref_rewards, ref_terminations, ref_truncations, ref_infos = reference.step(actions)
            np.testing.assert_array_equal(obs, ref_obs)
            np.testing.assert_array_equal(rewards, ref_rewards)
            np.testing.assert_array_equal(terminations, ref_terminations)
            np.testing.assert_array_equal(truncations, ref_truncations)
            if "_final_obs" in ref_infos:
                mask = ref_infos["_final_obs"]
                np.testing.assert_array_equal(infos["_final_obs"], mask)
                np.testing.assert_array_equal(infos["final_obs"][mask], np.stack(ref_infos["final_obs"][mask]))
    finally:
        envs.close()
        reference.close()


def test_async_slow_worker_does_not_stall_the_batch():
    """Envs 0-1 take 500 ms a step, the others nothing: async recv keeps returning the fast ones."""
    fns = [lambda: StructuredEnv(delay=0.5)] * 2 + [StructuredEnv] * 6
    envs = MultiprocessingVecEnv(fns, num_workers=4, batch_size=2)
    try:
        steps = np.zeros(8, dtype=np.int64)
        envs.reset(seed=0)
        envs.send(structured_actions(envs, np.arange(8), steps))
        for _ in range(60):
            *_, ids = envs.recv()
            steps[ids] += 1
            envs.send(structured_actions(envs, ids, steps[ids]), ids)
        envs.recv()
        # the fast workers share ~60 batches; had each recv waited for the slow worker, all would be equal
        assert 3 * steps[:2].max() < steps[2:].min(), steps
    finally:
        envs.close()


def test_async_send_checks_env_ids():
    envs = thrust.make("CartPole-v1", num_envs=4, backend="multiprocessing", num_workers=2, batch_size=2)
    try:
        envs.reset(seed=0)
        envs.send(np.zeros(4, dtype=np.int64))
        *_, ids = envs.recv()
        with pytest.raises(ValueError, match="whole worker blocks"):
            envs.send(np.zeros(2, dtype=np.int64), np.array([1, 2]))
        with pytest.raises(ValueError, match="twice"):
            envs.send(np.zeros(4, dtype=np.int64), np.concatenate([ids, ids]))
        running = np.array([2, 3]) if ids[0] == 0 else np.array([0, 1])
        with pytest.raises(RuntimeError, match="still stepping"):
            envs.send(np.zeros(2, dtype=np.int64), running)
        no_ids, no_actions = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        envs.send(no_actions, no_ids)  # the other worker is still stepping: recv returns it
        envs.recv()
        envs.send(no_actions, no_ids)  # nothing is stepping now: recv would wait forever
        with pytest.raises(RuntimeError, match="only 0 are"):
            envs.recv()
    finally:
        envs.close()


def test_make_rejects_bad_backend_options():
    with pytest.raises(ValueError, match="divide"):
        thrust.make("CartPole-v1", num_envs=4, backend="multiprocessing", num_workers=3)
    with pytest.raises(ValueError, match="multiple"):
        thrust.make("CartPole-v1", num_envs=4, backend="multiprocessing", num_workers=2, batch_size=3)
    with pytest.raises(ValueError, match="num_workers"):
        thrust.make("CartPole-v1", num_envs=4, backend="serial", num_workers=2)
    with pytest.raises(ValueError, match="unknown backend"):
        thrust.make("CartPole-v1", num_envs=4, backend="threads")


@pytest.mark.parametrize(
    "cores, num_envs, batch_size, expected",
    [(2, 8, None, 2), (2, 7, None, 1), (4, 6, None, 3), (2, 16, 8, 2), (2, 8, 2, 4), (8, 4, 2, 4)],
)
def test_default_num_workers(monkeypatch, cores, num_envs, batch_size, expected):
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert default_num_workers(num_envs, batch_size) == expected


def test_make_picks_processes_for_gymnasium_envs():
    envs = thrust.make("Taxi-v4", num_envs=4, batch_size=2, seed=0)
    try:
        assert isinstance(envs, MultiprocessingVecEnv) and envs.batch_size == 2
        assert envs.num_envs % envs.num_workers == 0 and 2 % envs.envs_per_worker == 0
        obs, _ = envs.reset()
        assert obs.shape == (4,) and obs.dtype == np.int64
    finally:
        envs.close()
    assert isinstance(thrust.make("Taxi-v4", num_envs=1), SerialVecEnv)


def test_spawn_start_method_works_and_fork_is_refused():
    with pytest.raises(ValueError, match="start_method"):
        MultiprocessingVecEnv([StructuredEnv] * 2, num_workers=2, start_method="fork")
    envs = MultiprocessingVecEnv([StructuredEnv] * 2, num_workers=2, start_method="spawn")
    serial = SerialVecEnv([StructuredEnv] * 2)
    try:
        expected = structured_run(serial, seed=4, steps_per_env=5)
        assert_same_records(structured_run(envs, seed=4, steps_per_env=5), expected)
    finally:
        envs.close()
        serial.close()
