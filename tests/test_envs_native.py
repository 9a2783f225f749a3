"""The native env harness: seeding, thread independence, checkpoints, autoreset bookkeeping, bad input."""

import functools
import inspect
import os
import random
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numba
import numpy as np
import pytest

import thrust
from thrust.envs import NativeVecEnv, registry


def random_actions(envs, rng: np.random.Generator) -> np.ndarray:
    space = envs.single_action_space
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(space.start, space.start + space.n, envs.num_envs)
    return rng.uniform(space.low, space.high, (envs.num_envs, *space.shape)).astype(space.dtype)


def rollout(envs, steps: int, seed: int | None = 0, actions_seed: int = 0) -> list[np.ndarray]:
    """Copies of everything `steps` random steps return (observations, rewards, flags, final obs, stats)."""
    rng = np.random.default_rng(actions_seed)
    obs, _ = envs.reset(seed=seed)
    out = [obs.copy()]
    for _ in range(steps):
        obs, rewards, terminations, truncations, infos = envs.step(random_actions(envs, rng))
        mask = infos["_final_obs"]
        out += [obs.copy(), rewards.copy(), terminations.copy(), truncations.copy(), mask.copy(),
                infos["final_obs"][mask], infos["episode"]["r"][mask], infos["episode"]["l"][mask]]
    return out


def assert_same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


@functools.cache
def with_numba_threads(threads: int, test_name: str) -> tuple[set[str], str]:
    """Run a test of this file (every parameter) in a fresh process whose numba pool has `threads` threads:
    the ids of the parameters that passed, and the report.

    numba sizes its pool when it is imported, from NUMBA_NUM_THREADS (default: one thread per core), and
    the pool may hold more threads than there are cores (they take turns), so a one-core machine can
    still check that two threads compute what one does.
    """
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", f"{__file__}::{test_name}"],
        cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=600,
        env={**os.environ, "NUMBA_NUM_THREADS": str(threads)},
    )
    passed = {line.rsplit("[", 1)[-1].rstrip("]") for line in result.stdout.splitlines() if line.startswith("PASSED ")}
    return passed, result.stdout + result.stderr


@pytest.mark.parametrize("env_id", sorted(registry))
def test_same_seed_same_trajectory_whatever_the_threads(env_id):
    if numba.config.NUMBA_NUM_THREADS < 2:  # one core: check two threads in a process that has them
        passed, report = with_numba_threads(2, "test_same_seed_same_trajectory_whatever_the_threads")
        assert env_id in passed, report[-6000:]
        return
    many = registry[env_id](num_envs=600, num_threads=2, parallel_threshold=1)  # the prange kernel
    assert many._step_kernel is many._kernels["step_parallel"]
    reference = rollout(many, 150)
    assert_same(rollout(registry[env_id](num_envs=600, num_threads=1), 150), reference)
    different = rollout(registry[env_id](num_envs=600), 150, seed=1)
    assert not np.array_equal(different[0], reference[0])
    # env i's stream depends only on seed + i: the first 8 of 600 envs are a serial 8-env run (their rows: one
    # per env, or per agent of a multi-agent env)
    few = registry[env_id](num_envs=8)
    rows = few.num_envs
    rng = np.random.default_rng(0)
    obs, _ = few.reset(seed=0)
    obs_many, _ = many.reset(seed=0)
    np.testing.assert_array_equal(obs, obs_many[:rows])
    for _ in range(150):
        actions = random_actions(many, rng)
        few.step(actions[:rows])
        many.step(actions)
        np.testing.assert_array_equal(few.observations, many.observations[:rows])
        np.testing.assert_array_equal(few.rewards, many.rewards[:rows])


def test_reset_without_seed_continues_the_streams():
    envs = thrust.make("CartPole-v1", num_envs=4, seed=5)
    first, _ = envs.reset()
    first = first.copy()
    second, _ = envs.reset()
    assert not np.array_equal(first, second)
    again, _ = envs.reset(seed=5)
    np.testing.assert_array_equal(again, first)


# Gymnasium's reset distributions (uniform per state variable) and its observation of a state
RESETS = {
    "CartPole-v1": ([-0.05] * 4, [0.05] * 4, lambda s: s[:, :4]),
    "Acrobot-v1": ([-0.1] * 4, [0.1] * 4,
                   lambda s: np.stack([np.cos(s[:, 0]), np.sin(s[:, 0]), np.cos(s[:, 1]), np.sin(s[:, 1]),
                                       s[:, 2], s[:, 3]], axis=1)),
    "MountainCar-v0": ([-0.6, 0.0], [-0.4, 0.0], lambda s: s),
    "MountainCarContinuous-v0": ([-0.6, 0.0], [-0.4, 0.0], lambda s: s[:, :2]),
    "Pendulum-v1": ([-np.pi, -1.0], [np.pi, 1.0],
                    lambda s: np.stack([np.cos(s[:, 0]), np.sin(s[:, 0]), s[:, 1]], axis=1)),
}


@pytest.mark.parametrize("env_id", sorted(RESETS))
def test_reset_distribution_is_gymnasiums(env_id):
    low, high, observe = RESETS[env_id]
    low, high = np.array(low), np.array(high)
    envs = thrust.make(env_id, num_envs=20_000, seed=0)
    envs.reset()
    states = envs.states[:, : len(low)]
    assert (states >= low).all() and (states <= high).all()
    np.testing.assert_allclose(states.mean(axis=0), (low + high) / 2, atol=0.01 * (high - low).max())
    np.testing.assert_allclose(states.std(axis=0), (high - low) / np.sqrt(12), rtol=0.02, atol=1e-12)
    np.testing.assert_array_equal(envs.observations, observe(envs.states).astype(np.float32))
    if env_id == "Acrobot-v1":  # Gymnasium draws Acrobot's initial state in float32
        np.testing.assert_array_equal(states, states.astype(np.float32))


@pytest.mark.parametrize("env_id", sorted(registry))
def test_state_dict_resumes_bit_identically(env_id):
    envs = registry[env_id](num_envs=16)
    rollout(envs, 120)
    checkpoint = envs.state_dict()
    after = [envs.step(a)[0].copy() for a in [random_actions(envs, np.random.default_rng(s)) for s in range(150)]]
    fresh = registry[env_id](num_envs=16)
    fresh.load_state_dict(checkpoint)
    for s in range(150):
        np.testing.assert_array_equal(fresh.step(random_actions(fresh, np.random.default_rng(s)))[0], after[s])
    with pytest.raises(ValueError, match="keys"):
        fresh.load_state_dict({"states": checkpoint["states"]})


def test_episode_statistics_and_final_observations():
    envs = thrust.make("CartPole-v1", num_envs=32, seed=0, max_episode_steps=40)
    rng = np.random.default_rng(0)
    obs, _ = envs.reset()
    returns, lengths, finished = np.zeros(32), np.zeros(32, dtype=np.int64), 0
    for _ in range(300):
        previous = obs.copy()
        obs, rewards, terminations, truncations, infos = envs.step(rng.integers(0, 2, 32))
        returns += rewards
        lengths += 1
        done = terminations | truncations
        np.testing.assert_array_equal(infos["_episode"], done)
        np.testing.assert_array_equal(infos["episode"]["r"][done], returns[done])
        np.testing.assert_array_equal(infos["episode"]["l"][done], lengths[done])
        assert (lengths[truncations] == 40).all() and (lengths[done] <= 40).all()
        # the final observation continues the episode; the returned one starts the next
        moved = np.abs(infos["final_obs"][done] - previous[done]).max(initial=0.0)
        assert moved < 0.5
        assert (np.abs(obs[done]) <= 0.05).all()
        finished += done.sum()
        returns[done], lengths[done] = 0.0, 0
    assert finished > 32


def test_native_env_metadata_and_spaces():
    envs = thrust.make("CartPole-v1", num_envs=3, seed=0)
    reference = gym.make("CartPole-v1")
    assert isinstance(envs, NativeVecEnv)
    assert envs.single_observation_space == reference.observation_space
    assert envs.single_action_space == reference.action_space
    assert envs.observation_space.shape == (3, 4) and envs.action_space.shape == (3,)
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP


@pytest.mark.parametrize(
    "actions, message",
    [
        (np.zeros(3, dtype=np.int64), "shape"),
        (np.zeros(2, dtype=np.float32), "integers"),
        (np.array([0, 2]), r"\[0, 1\]"),
        (np.array([-1, 0]), r"\[0, 1\]"),
    ],
)
def test_bad_actions_raise(actions, message):
    envs = thrust.make("CartPole-v1", num_envs=2, seed=0)
    envs.reset()
    with pytest.raises(ValueError, match=message):
        envs.step(actions)


def test_misuse_raises():
    with pytest.raises(ValueError, match="num_threads"):
        thrust.make("CartPole-v1", num_envs=2, num_threads=99)
    with pytest.raises(ValueError, match="render_mode"):
        thrust.make("CartPole-v1", num_envs=2, render_mode="human")
    envs = thrust.make("CartPole-v1", num_envs=2, seed=0)
    with pytest.raises(RuntimeError, match="reset"):
        envs.step(np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="options"):
        envs.reset(options={"low": -0.1})
    envs.reset()
    with pytest.raises(ValueError, match="env_ids=None"):
        envs.send(np.zeros(1, dtype=np.int64), env_ids=np.array([1]))
    with pytest.raises(RuntimeError, match="render_mode"):
        envs.render()


@pytest.mark.parametrize("env_id", sorted(i for i, env in registry.items() if env.gymnasium_id))
def test_render_draws_env_zero(env_id):
    envs = thrust.make(env_id, num_envs=2, seed=0, render_mode="rgb_array")
    assert envs.metadata["render_modes"] == ["rgb_array"]
    assert envs.metadata["render_fps"] == gym.make(env_id).metadata["render_fps"]
    envs.reset()
    envs.step(random_actions(envs, np.random.default_rng(0)))
    frame = envs.render()
    reference = gym.make(env_id, render_mode="rgb_array")
    reference.reset(seed=0)
    reference.unwrapped.state = envs.gymnasium_state(envs.states[0])
    np.testing.assert_array_equal(frame, reference.render())
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8


@pytest.mark.parametrize(
    "actions, message",
    [
        (np.array([[0.0], [np.nan]], dtype=np.float32), "NaN"),
        (np.zeros((2, 1), dtype=np.int64), "floating point"),
        (np.zeros(2, dtype=np.float32), "shape"),
    ],
)
def test_bad_continuous_actions_raise(actions, message):
    envs = thrust.make("Pendulum-v1", num_envs=2, seed=0)
    envs.reset()
    before = envs.states.copy()
    with pytest.raises(ValueError, match=message):
        envs.step(actions)
    np.testing.assert_array_equal(envs.states, before)  # nothing moved


def test_unknown_native_env_id_suggests_close_matches():
    with pytest.raises(gym.error.NameNotFound, match="Acrobot-v1"):
        thrust.make("Acrobt-v1", num_envs=2)


# -- a user's own env: kernels of its own, and its mistakes named ---------------------------------------


def reset_ok(state, rng):
    state[0] = 0.0


def step_ok(state, action, rng):
    return 0.0, False


def observe_ok(state, obs):
    obs[0] = state[0]
    obs[1] = state[1]


def reset_with_self(self, state, rng):
    state[0] = 0.0


def reset_with_np_random(state, rng):
    state[0] = np.random.uniform(-0.05, 0.05)  # noqa: NPY002 (the mistake under test)


def reset_with_python_random(state, rng):
    state[0] = random.random()


@numba.njit
def noisy(x):
    return x + np.random.normal(0.0, 0.1)  # noqa: NPY002 (the mistake under test)


def step_through_a_noisy_helper(state, action, rng):
    state[0] = noisy(state[0])
    return 0.0, False


def reset_typo(state, rng):
    state[0] = 0.0
    state[1] = "0.0" + rng[0]


def reset_allocating(state, rng):
    state[:] = np.zeros(2)


def declare(**overrides):
    """A native env class named Broken: valid, except for `overrides` (None removes an attribute)."""
    body = {
        "single_observation_space": gym.spaces.Box(-1.0, 1.0, (2,), np.float32),
        "single_action_space": gym.spaces.Discrete(2), "state_size": 2, "reset_env": staticmethod(reset_ok),
        "step_env": staticmethod(step_ok), "observe": staticmethod(observe_ok), **overrides,
    }
    return type("Broken", (NativeVecEnv,), {k: v for k, v in body.items() if v is not None})


def step_reward_one(state, action, rng):
    return 1.0, False


def test_classes_of_the_same_name_in_one_file_get_their_own_kernels():
    """The kernels are cached on disk under names made from the class's name and file: two classes named
    Broken here, or made by one factory, must not be handed each other's kernels."""

    def twin(reward):  # a factory: the same code, another constant in each closure
        return declare(step_env=staticmethod(lambda state, action, rng: (reward, False)))

    classes = [declare(), declare(step_env=staticmethod(step_reward_one)), twin(2.0), twin(3.0)]
    for env_cls, reward in zip(classes, [0.0, 1.0, 2.0, 3.0], strict=True):
        envs = env_cls(num_envs=2)
        envs.reset(seed=0)
        assert envs.step(np.zeros(2, dtype=np.int64))[1].tolist() == [reward, reward]


def test_a_native_env_must_declare_what_the_harness_needs():
    with pytest.raises(TypeError, match="step_env"):
        type("Broken", (NativeVecEnv,), {
            "single_observation_space": gym.spaces.Box(0, 1, (1,)), "single_action_space": gym.spaces.Discrete(2),
            "state_size": 1, "reset_env": staticmethod(lambda state, rng: None),
            "observe": staticmethod(lambda state, obs: None),
        })
    declare()  # the valid one


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"reset_env": reset_with_self}, r"Broken\.reset_env must be a @staticmethod, not a plain method: the harness "
         r"calls it as reset_env\(state, rng\) for one env, with no `self`; remove `self` and put @staticmethod"),
        ({"reset_env": reset_ok}, r"Broken\.reset_env must be a @staticmethod, not a plain method.*; put @static"),
        ({"observe": classmethod(observe_ok)}, r"Broken\.observe must be a @staticmethod, not a @classmethod"),
        ({"step_env": staticmethod(numba.njit(step_ok))}, r"Broken\.step_env is already compiled by numba"),
        ({"step_env": staticmethod(lambda state, action: (0.0, False))},
         r"Broken\.step_env must take 3 arguments, step_env\(state, action, rng\); it is declared as "
         r"step_env\(state, action\)"),
        ({"observe": staticmethod(lambda state, obs, *extra: None)}, r"Broken\.observe must take 2 arguments"),
        ({"state_size": None}, r"Broken\.state_size must be a positive int, the number of float64 numbers that "
         r"describe one env; it is missing"),
        ({"state_size": 0}, r"Broken\.state_size must be a positive int.*; got 0"),
        ({"state_size": 2.0}, r"Broken\.state_size must be a positive int.*; got 2\.0"),
        ({"single_observation_space": gym.spaces.Discrete(3)},
         r"Broken\.single_observation_space must be a gymnasium\.spaces\.Box, got Discrete\(3\)"),
        ({"single_action_space": None}, r"Broken\.single_action_space must be a Discrete or Box space, got None"),
        ({"reset_env": staticmethod(reset_with_np_random)},
         r"Broken\.reset_env uses np\.random\.uniform: the global random generators of numpy and of Python's "
         r"`random` module are not seeded by reset\(seed=\.\.\.\).*: thrust\.envs\.uniform\(rng, low, high\), "
         r"normal\(rng, mean, std\) or randint\(rng, low, high\)$"),
        ({"reset_env": staticmethod(reset_with_python_random)}, r"Broken\.reset_env uses random\.random: "),
        ({"step_env": staticmethod(step_through_a_noisy_helper)}, r"Broken\.step_env uses np\.random\.normal: "),
        ({"observe": staticmethod(lambda state, obs: obs.fill(np.random.rand()))},  # noqa: NPY002
         r"Broken\.observe uses np\.random\.rand: .*observe gets no rng"),
    ],
    ids=["self", "no-staticmethod", "classmethod", "jitted", "too-few-arguments", "varargs", "no-state_size",
         "state_size-0", "state_size-float", "observation-space", "no-action-space", "np.random", "random",
         "np.random-in-a-helper", "np.random-in-observe"],
)
def test_mistakes_in_a_native_env_are_named_when_the_class_is_defined(overrides, message):
    with pytest.raises(TypeError, match=message):
        declare(**overrides)


def line_of(fn, text: str) -> int:
    """The line number of the first line of `fn`'s source that contains `text`."""
    lines, first = inspect.getsourcelines(fn)
    return first + next(k for k, line in enumerate(lines) if text in line)


@pytest.mark.parametrize(
    "step_env, returns",
    [
        (lambda state, action, rng: 0.0, "one value, float64"),
        (lambda state, action, rng: None, r"nothing \(None\)"),
        (lambda state, action, rng: (0.0, False, False), r"3 values, Tuple\(float64, bool, bool\)"),
    ],
    ids=["one-value", "none", "three-values"],
)
def test_a_step_env_that_does_not_return_reward_and_terminated_is_named(step_env, returns):
    envs = declare(step_env=staticmethod(step_env))(num_envs=2)
    envs.reset(seed=0)
    with pytest.raises(TypeError, match=r"^Broken\.step_env must return two numbers, `return reward, terminated` "
                                        rf"\(a float and a bool\); it returns {returns}$"):
        envs.step(np.zeros(2, dtype=np.int64))


def test_a_compile_error_points_at_the_users_own_line():
    with pytest.raises(TypeError) as error:
        declare(reset_env=staticmethod(reset_typo))(num_envs=2).reset(seed=0)
    line = line_of(reset_typo, '"0.0" + rng[0]')
    message = str(error.value)
    assert message.startswith(
        f"Broken.reset_env does not compile as numba nopython code at tests/test_envs_native.py, line {line}: "
        '`state[1] = "0.0" + rng[0]`. It gets state float64[2], rng uint64[1]. numba says: No implementation of '
        "function Function(<built-in function add>)"
    ), message
    assert "allocat" not in message
    assert f"test_envs_native.py\", line {line}" in str(error.value.__cause__)  # numba's own error, same line


def test_a_native_env_that_allocates_gets_a_clear_error():
    with pytest.raises(TypeError) as error:
        declare(reset_env=staticmethod(reset_allocating))(num_envs=2).reset(seed=0)
    line = line_of(reset_allocating, "np.zeros")
    assert str(error.value).startswith(
        f"Broken.reset_env allocates an array at tests/test_envs_native.py, line {line}: `state[:] = np.zeros(2)`: "
        "env functions must not allocate"
    ), str(error.value)


class Flagged:
    """Spaces and functions for envs that misbehave for env 0 only (after reset(seed=0)): without bounds
    checks their write past env 0's row lands in env 1's, inside the arrays, so nothing crashes."""

    single_observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    single_action_space = gym.spaces.Discrete(2)
    state_size = 2

    @staticmethod
    def reset_env(state, rng):
        state[0] = 0.0
        state[1] = 1.0 if rng[0] == 0 else 0.0  # rng[0] is seed + i before the first draw

    @staticmethod
    def step_env(state, action, rng):
        return 0.0, False

    @staticmethod
    def observe(state, obs):
        obs[0] = state[0]
        obs[1] = state[1]


class PastStateInReset(Flagged, NativeVecEnv):
    @staticmethod
    def reset_env(state, rng):
        state[0] = 0.0
        state[1] = 0.0
        if rng[0] == 0:
            state[2] = 1.0


class PastStateInStep(Flagged, NativeVecEnv):
    @staticmethod
    def step_env(state, action, rng):
        if state[1] == 1.0:
            state[state.shape[0]] += 1.0
        return 0.0, False


class PastObsInObserve(Flagged, NativeVecEnv):
    @staticmethod
    def observe(state, obs):
        obs[0] = state[0]
        obs[1] = state[1]
        if state[1] == 1.0:
            obs[1 + int(state[1])] = 0.0


class ObserveLeavesAHole(Flagged, NativeVecEnv):
    single_observation_space = gym.spaces.Box(-1.0, 1.0, (2, 3), np.float64)

    @staticmethod
    def observe(state, obs):
        for k in range(3):
            obs[0, k] = state[0]
        obs[1, 0] = state[1]
        obs[1, 2] = state[1]


def fast_cache_files() -> dict[Path, int]:
    """The numba cache files of this module's envs, with their modification times."""
    folder = Path(numba.config.CACHE_DIR) if numba.config.CACHE_DIR else Path(__file__).parent / "__pycache__"
    return {path: path.stat().st_mtime_ns for path in folder.rglob("test_envs_native*.nb*")}


@pytest.mark.parametrize(
    "env_cls, function, line",
    [
        (PastStateInReset, "reset_env", "state[2] = 1.0"),
        (PastStateInStep, "step_env", "state[state.shape[0]] += 1.0"),
        (PastObsInObserve, "observe", "obs[1 + int(state[1])] = 0.0"),
    ],
)
@pytest.mark.parametrize("switch", ["environment", "class"])
def test_debug_mode_turns_an_out_of_bounds_write_into_an_index_error(env_cls, function, line, switch, monkeypatch):
    monkeypatch.delenv("THRUST_NATIVE_DEBUG", raising=False)
    fast = env_cls(num_envs=4)  # without debug mode, the write lands in env 1's row, silently
    fast.reset(seed=0)
    fast.step(np.zeros(4, dtype=np.int64))
    assert not fast.debug
    cached = fast_cache_files()
    if switch == "environment":
        monkeypatch.setenv("THRUST_NATIVE_DEBUG", "1")
    else:
        monkeypatch.setattr(env_cls, "debug", True)
    envs = env_cls(num_envs=4)
    assert envs.debug
    with pytest.raises(IndexError) as error:
        envs.reset(seed=0)
        envs.step(np.zeros(4, dtype=np.int64))
    number = line_of(getattr(env_cls, function), line)
    arguments = {"reset_env": "state float64[2], rng uint64[1]", "observe": "state float64[2], obs float32[2]",
                 "step_env": "state float64[2], action int64, rng uint64[1]"}[function]
    assert str(error.value) == (
        f"{env_cls.__name__}.{function}, env 0: index 2 is out of bounds for axis 0 with size 2, at "
        f"tests/test_envs_native.py, line {number}: `{line}`. It gets {arguments}. Without bounds checks (debug "
        "mode off), an index past `state` or `obs` reads or overwrites other envs' numbers, or memory outside the "
        "arrays"
    )
    # compiled afresh: not from the fast kernels' disk cache, which stays as it was
    assert all(kernel.stats.cache_path is None for kernel in env_cls._debug_kernels.values())
    assert fast_cache_files() == cached
    monkeypatch.delenv("THRUST_NATIVE_DEBUG", raising=False)
    monkeypatch.setattr(env_cls, "debug", False)
    assert env_cls(num_envs=4)._step_kernel is env_cls._kernels["step_serial"]  # debug off: the fast kernels


def test_debug_mode_finds_an_observation_entry_observe_leaves_unwritten(monkeypatch):
    monkeypatch.setenv("THRUST_NATIVE_DEBUG", "yes")
    with pytest.raises(ValueError, match=r"^ObserveLeavesAHole\.observe left obs\[1, 1\] unwritten for env 0: obs "
                                         r"has shape \(2, 3\) \(single_observation_space\) and observe must write "
                                         r"every entry on every call$"):
        ObserveLeavesAHole(num_envs=3).reset(seed=0)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_debug_mode_computes_what_the_fast_kernels_compute(env_id, monkeypatch):
    monkeypatch.delenv("THRUST_NATIVE_DEBUG", raising=False)
    reference = rollout(registry[env_id](num_envs=16, max_episode_steps=50), 120)
    monkeypatch.setenv("THRUST_NATIVE_DEBUG", "1")
    threads = min(2, numba.config.NUMBA_NUM_THREADS)  # debug kernels run on one thread whatever this says
    envs = registry[env_id](num_envs=16, max_episode_steps=50, num_threads=threads)
    assert envs.debug and envs._kernels is not registry[env_id]._kernels
    assert_same(rollout(envs, 120), reference)
    monkeypatch.setenv("THRUST_NATIVE_DEBUG", "0")
    assert not registry[env_id](num_envs=2).debug
