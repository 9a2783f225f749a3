"""The envs' own info keys reach the user in Gymnasium's vector format (serial and multiprocessing).

The reference is Gymnasium's own `SyncVectorEnv` with same-step autoreset: at each step, every key,
mask and masked value it returns must be in Thrust's `infos`, and every mask Thrust sets must be its.
"""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import Env, spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from thrust.vector.infos import InfoArrays
from thrust.vector.multiprocessing import MultiprocessingVecEnv
from thrust.vector.serial import SerialVecEnv

THRUST_KEYS = {"final_obs", "_final_obs", "episode", "_episode"}


class InfoEnv(Env):
    """Reports a little of everything: a float every step, a flag every 3rd step, a nested dict every
    2nd, an array, a string at some steps, a success flag at the episode's end, and a reset info."""

    observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.steps = 0
        return np.zeros(2, np.float32), {"start": int(self.np_random.integers(100))}

    def step(self, action):
        self.steps += 1
        terminated = bool(self.np_random.random() < 0.2)
        info = {"cost": 0.5 * self.steps + action, "vec": np.array([self.steps, -action], np.float32)}
        if self.steps % 3 == 0:
            info["flag"] = True
        if self.steps % 2 == 0:
            info["sub"] = {"count": self.steps}
        if self.steps % 5 == 0:
            info["note"] = f"step {self.steps}"
        if terminated:
            info["is_success"] = bool(self.np_random.random() < 0.5)
        return np.full(2, self.steps, np.float32), 1.0, terminated, False, info


class SilentEnv(InfoEnv):
    def reset(self, *, seed=None, options=None):
        return super().reset(seed=seed)[0], {}

    def step(self, action):
        return (*super().step(action)[:4], {})


def assert_gymnasium_infos(ours: dict, reference: dict, top: bool = True) -> None:
    """Every key, mask and masked value of Gymnasium's `reference` is in `ours`; `ours` sets no other mask."""
    for key, value in reference.items():
        if top and key in THRUST_KEYS:
            continue
        assert key in ours, key
        if key.startswith("_"):
            np.testing.assert_array_equal(ours[key], value, err_msg=key)
        elif isinstance(value, dict):
            assert_gymnasium_infos(ours[key], value, top=False)
        else:
            mask = reference["_" + key]
            np.testing.assert_array_equal(ours[key][mask], value[mask], err_msg=key)
    for key, value in ours.items():
        if key.startswith("_") and not (top and key in THRUST_KEYS) and value.any():
            assert key in reference, f"{key} is set, but Gymnasium reports no {key[1:]!r}"
        if isinstance(value, dict) and key not in THRUST_KEYS:
            if key in reference:
                assert_gymnasium_infos(value, reference[key], top=False)
            else:
                assert not ours["_" + key].any(), key


@pytest.mark.parametrize("make", [
    pytest.param(lambda: SerialVecEnv([InfoEnv] * 4), id="serial"),
    pytest.param(lambda: MultiprocessingVecEnv([InfoEnv] * 4, num_workers=2), id="multiprocessing"),
])
def test_info_keys_pass_through_as_gymnasium_gives_them(make):
    envs = make()
    reference = SyncVectorEnv([InfoEnv] * 4, autoreset_mode=AutoresetMode.SAME_STEP)
    try:
        _, infos = envs.reset(seed=3)
        _, reference_infos = reference.reset(seed=3)
        assert_gymnasium_infos(infos, reference_infos)
        ends = 0
        for t in range(60):
            actions = np.array([(t + i) % 2 for i in range(4)])
            *_, terminations, _, infos = envs.step(actions)
            *_, reference_infos = reference.step(actions)
            assert_gymnasium_infos(infos, reference_infos)
            ends += int(terminations.sum())
        assert ends > 10 and infos["_final_info"] is infos["_final_obs"]
        assert infos["cost"].dtype == np.float64 and infos["vec"].shape == (4, 2) and infos["note"].dtype == object
    finally:
        envs.close()
        reference.close()


def test_async_batches_carry_the_infos_of_their_own_envs():
    serial = SerialVecEnv([InfoEnv] * 4)
    envs = MultiprocessingVecEnv([InfoEnv] * 4, num_workers=4, batch_size=2)
    try:
        def trace(vec, recvs):
            """Per env: the (cost, sub count or None, is_success or None) of each of its steps."""
            seen: list[list] = [[] for _ in range(4)]
            vec.reset(seed=1)
            vec.send(np.zeros(4, dtype=np.int64))
            for _ in range(recvs):
                *_, infos, ids = vec.recv()
                for k, i in enumerate(ids):
                    final = infos.get("final_info", {})
                    success = final["is_success"][k] if "is_success" in final and final["_is_success"][k] else None
                    # at an episode end the step's own info is the final info
                    step_info = final if infos["_final_obs"][k] else infos
                    count = step_info["sub"]["count"][k] if "sub" in step_info and step_info["_sub"][k] else None
                    seen[i].append((float(step_info["cost"][k]), count, success))
                vec.send(np.zeros(len(ids), dtype=np.int64), None if vec.batch_size == 4 else ids)
            vec.recv()
            return seen

        reference, batched = trace(serial, 40), trace(envs, 40)
        for env_reference, env_batched in zip(reference, batched, strict=True):
            assert len(env_batched) >= 10 and env_batched == env_reference[: len(env_batched)]
    finally:
        serial.close()
        envs.close()


@pytest.mark.parametrize("make", [
    pytest.param(lambda: SerialVecEnv([SilentEnv] * 2), id="serial"),
    pytest.param(lambda: MultiprocessingVecEnv([SilentEnv] * 2, num_workers=2), id="multiprocessing"),
])
def test_envs_that_report_no_info_add_nothing(make):
    envs = make()
    try:
        _, infos = envs.reset(seed=0)
        for _ in range(20):
            infos = envs.step(np.zeros(2, dtype=np.int64))[4]
        assert set(infos) == THRUST_KEYS
    finally:
        envs.close()


def test_values_that_do_not_fit_widen_the_array():
    final_mask = np.zeros(3, dtype=bool)
    infos: dict = {}
    writer = InfoArrays(infos, final_mask)
    writer.write([(0, {"x": 1, "y": 2.0}, False)])
    assert infos["x"].dtype == np.int64 and infos["y"].dtype == np.float64
    writer.clear()
    writer.write([(1, {"x": 2.5, "y": "many"}, False), (2, {"x": True}, False)])
    np.testing.assert_array_equal(infos["_x"], [False, True, True])
    assert infos["x"].dtype == np.float64 and list(infos["x"][1:]) == [2.5, 1.0]
    assert infos["y"].dtype == object and infos["y"][1] == "many" and infos["y"][0] == 2.0
    writer.write([(0, {"episode": {"r": 1.0}, "final_obs": 0}, True)])  # Thrust's own keys are not copied
    assert infos["final_info"] == {} and infos["_final_info"] is final_mask


class UnpicklableInfoEnv(SilentEnv):
    def step(self, action):
        return (*super().step(action)[:4], {"callback": lambda: None})


def test_an_info_that_cannot_travel_is_a_clear_error():
    envs = MultiprocessingVecEnv([UnpicklableInfoEnv] * 2, num_workers=2)
    envs.reset(seed=0)
    with pytest.raises(TypeError, match=r"info dicts of envs \[0\] cannot be pickled"):
        envs.step(np.zeros(2, dtype=np.int64))
    assert envs.closed
