"""Native envs compiled for CUDA against the same envs' CPU kernels: every registered native env and the
user-written example, same seed, a few hundred steps across episode ends.

Under the simulator the kernels run the env functions as Python on NumPy scalars, which compute what the
CPU kernels compute to the bit: every output is compared exactly. On a GPU, CUDA's sin/cos/pow may differ
from the CPU's libm in the last bit, so the envs that call them are compared within a tolerance over the
steps before their first episode end (integer-only envs stay exact).
"""

import importlib.util
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from cuda_target import SIMULATED, requires_cuda_target

import thrust
from thrust.envs import CartPole, NativeMultiAgentVecEnv, registry
from thrust.envs.native_cuda import NativeCudaVecEnv

pytestmark = requires_cuda_target

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "native_gridworld.py"
# Short time limits where an env's own would not end an episode within the steps compared.
KWARGS = {"Acrobot-v1": {"max_episode_steps": 40}, "MountainCar-v0": {"max_episode_steps": 50},
          "MountainCarContinuous-v0": {"max_episode_steps": 50}, "Pendulum-v1": {"max_episode_steps": 50},
          "CartPole-v1": {}, "CueRecall-v0": {"delay": 3}, "LockedCorridor-v0": {}, "FarCorner-v0": {},
          "GridWorld-v0": {}}
# no transcendental functions (FarCorner's one division is correctly rounded on a GPU too): exact everywhere
INTEGER_ONLY = {"CueRecall-v0", "LockedCorridor-v0", "FarCorner-v0", "GridWorld-v0"}
NUM_ENVS, STEPS = 4, 160


@pytest.fixture(scope="module", autouse=True)
def example():
    spec = importlib.util.spec_from_file_location("native_gridworld", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["native_gridworld"] = module
    spec.loader.exec_module(module)  # registers GridWorld-v0
    return module


def random_actions(space: gym.Space, rng: np.random.Generator, num_envs: int) -> np.ndarray:
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(space.start, space.start + space.n, num_envs)
    return rng.uniform(space.low, space.high, (num_envs, *space.shape)).astype(space.dtype)


def host(x):
    return x.cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def outputs(result) -> dict[str, np.ndarray]:
    obs, rewards, terminations, truncations, infos = result
    mask = host(infos["_final_obs"])
    return {"obs": host(obs), "rewards": host(rewards), "terminations": host(terminations),
            "truncations": host(truncations), "final_mask": mask, "final_obs": host(infos["final_obs"])[mask],
            "episode_r": host(infos["episode"]["r"])[mask], "episode_l": host(infos["episode"]["l"])[mask]}


# Native multi-agent envs run on the CPU only (NativeCudaVecEnv refuses them, tested below).
SINGLE_AGENT = sorted(env_id for env_id, env_class in registry.items()
                      if not issubclass(env_class, NativeMultiAgentVecEnv))


@pytest.mark.parametrize("env_id", [*SINGLE_AGENT, "GridWorld-v0"])
def test_same_seed_same_trajectories_as_the_cpu_kernels(env_id):
    kwargs = KWARGS[env_id]
    cpu = thrust.make(env_id, NUM_ENVS, **kwargs)
    gpu = thrust.make(env_id, NUM_ENVS, device="cuda", **kwargs)
    assert isinstance(gpu, NativeCudaVecEnv) and gpu.env_spec.backend == "cuda"
    exact = SIMULATED or env_id in INTEGER_ONLY
    compare = np.testing.assert_array_equal if exact else \
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    cpu_obs, _ = cpu.reset(seed=11)
    gpu_obs, _ = gpu.reset(seed=11)
    assert isinstance(gpu_obs, torch.Tensor) and gpu_obs.device == gpu.device
    compare(host(gpu_obs), cpu_obs)
    buffer = gpu.observations.data_ptr()
    rng, ends = np.random.default_rng(3), 0
    for _ in range(STEPS):
        actions = random_actions(cpu.single_action_space, rng, NUM_ENVS)
        expected = outputs(cpu.step(actions))
        result = gpu.step(torch.from_numpy(actions).to(gpu.device))
        assert result[0].data_ptr() == buffer  # the env's own device buffer, no copy
        got = outputs(result)
        if not exact and (expected["final_mask"].any() or got["final_mask"].any()):
            break  # a last-bit difference may move an episode end: compare up to the first one
        for key in expected:
            compare(got[key], expected[key])
        ends += int(expected["final_mask"].sum())
    if exact:
        assert ends >= NUM_ENVS, f"only {ends} episode ends in {STEPS} steps: the test would miss autoreset"
        cpu_state, gpu_state = cpu.state_dict(), gpu.state_dict()
        for key in cpu_state:
            np.testing.assert_array_equal(gpu_state[key], cpu_state[key], err_msg=key)


def test_constructor_state_and_unseeded_resets_follow_the_cpu_env():
    cpu = CartPole(3, observe_velocity=False)
    gpu = thrust.make("CartPole-v1", 3, device="cuda", observe_velocity=False)
    for seed in (5, None):  # a reset without a seed continues each env's stream
        cpu_obs, _ = cpu.reset(seed=seed)
        gpu_obs, _ = gpu.reset(seed=seed)
        np.testing.assert_array_equal(host(gpu_obs), cpu_obs)
    assert (host(gpu_obs)[:, [1, 3]] == 0).all()  # velocities hidden, as the constructor asked


def test_state_dicts_move_between_cpu_and_gpu_envs():
    cpu = CartPole(3)
    gpu = thrust.make("CartPole-v1", 3, device="cuda")
    cpu.reset(seed=2)
    rng = np.random.default_rng(0)
    for _ in range(30):
        cpu.step(rng.integers(0, 2, 3))
    gpu.load_state_dict(cpu.state_dict())
    for _ in range(30):
        actions = rng.integers(0, 2, 3)
        expected, got = outputs(cpu.step(actions)), outputs(gpu.step(torch.from_numpy(actions)))
        for key in expected:
            np.testing.assert_array_equal(got[key], expected[key])
    again = CartPole(3)
    again.load_state_dict(gpu.state_dict())
    np.testing.assert_array_equal(again.rng_states, cpu.rng_states)
    np.testing.assert_array_equal(again.states, cpu.states)


def test_invalid_actions_are_named_and_the_env_goes_on():
    gpu = thrust.make("CartPole-v1", 4, device="cuda")
    gpu.reset(seed=0)
    with pytest.raises(ValueError, match="must have shape"):
        gpu.step(torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="must be integers"):
        gpu.step(torch.zeros(4))
    with pytest.raises(ValueError, match="must be a torch tensor or numpy array"):
        gpu.step([0, 1, 0, 1])
    actions = torch.tensor([0, 1, 2, 1])
    if SIMULATED:  # synchronous: found at this step (on a GPU, at a later one)
        with pytest.raises(ValueError, match=r"lie in \[0, 1\]: env 2 got one"):
            gpu.step(actions)
    else:
        gpu.step(actions)
        with pytest.raises(ValueError, match="env 2 got one"):
            gpu.reset()
    gpu.reset(seed=0)
    gpu.step(torch.tensor([0, 1, 1, 1]))  # the flag is cleared
    pendulum = thrust.make("Pendulum-v1", 2, device="cuda")
    pendulum.reset(seed=0)
    with pytest.raises(ValueError, match="must be finite"):
        pendulum.step(torch.tensor([[0.5], [float("nan")]]))
        pendulum.state_dict()


def test_gpu_envs_do_not_render():
    with pytest.raises(ValueError, match="do not render"):
        thrust.make("CartPole-v1", 2, device="cuda", render_mode="rgb_array")


def test_native_multi_agent_envs_stay_on_the_cpu():
    with pytest.raises(ValueError, match="native multi-agent envs run on the CPU only"):
        thrust.make("Meet-v0", 2, device="cuda")
