"""Native classic-control envs against Gymnasium's own: identical states and actions, identical trajectories."""

import gymnasium as gym
import numpy as np
import pytest

import thrust
from thrust.envs import registry

NUM_ENVS = 8
STEPS = 1300  # NUM_ENVS * STEPS >= 10,000 env steps per env id


def policy(env_id: str, obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A goal-seeking heuristic mixed with random actions (more random for higher env indices), so that
    episodes end both by termination and by the time limit; continuous actions go out of range too."""
    n = len(obs)
    explore = rng.random(n) < np.linspace(0.0, 1.0, n)
    if env_id == "CartPole-v1":  # push toward where the pole falls
        heuristic = (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64)
        return np.where(rng.random(n) < 0.05, rng.integers(0, 2, n), heuristic)
    if env_id == "Acrobot-v1":  # torque along the second joint's swing pumps energy in
        return np.where(explore, rng.integers(0, 3, n), np.where(obs[:, 5] > 0, 2, 0))
    if env_id == "MountainCar-v0":  # push along the velocity to rock higher
        return np.where(explore, rng.integers(0, 3, n), np.where(obs[:, 1] > 0, 2, 0))
    if env_id == "MountainCarContinuous-v0":
        heuristic = np.where(obs[:, 1] > 0, 1.0, -1.0) * rng.uniform(0.5, 1.5, n)
        return np.where(explore, rng.uniform(-1.5, 1.5, n), heuristic).astype(np.float32)[:, None]
    if env_id == "Pendulum-v1":
        return rng.uniform(-3.0, 3.0, (n, 1)).astype(np.float32)
    raise KeyError(env_id)


@pytest.mark.parametrize("env_id", sorted(i for i, env in registry.items() if env.gymnasium_id))
def test_trajectories_match_gymnasium(env_id):
    envs = thrust.make(env_id, num_envs=NUM_ENVS, seed=0)
    reference = [gym.make(env_id) for _ in range(NUM_ENVS)]
    obs, _ = envs.reset()

    def sync(i):  # copy env i's fresh state into the reference env
        reference[i].reset(seed=i)
        reference[i].unwrapped.state = envs.gymnasium_state(envs.states[i])

    for i in range(NUM_ENVS):
        sync(i)
    rng = np.random.default_rng(0)
    ends = {"terminated": 0, "truncated": 0}
    for _ in range(STEPS):
        actions = policy(env_id, obs, rng)
        obs, rewards, terminations, truncations, infos = envs.step(actions)
        for i, env in enumerate(reference):
            ref_obs, ref_reward, ref_terminated, ref_truncated, _ = env.step(actions[i])
            done = ref_terminated or ref_truncated
            assert bool(terminations[i]) == ref_terminated and bool(truncations[i]) == ref_truncated
            assert bool(infos["_final_obs"][i]) == done
            got = infos["final_obs"][i] if done else obs[i]
            # bit-exact: the same float32 observation, and the reward Gymnasium computes, as the float32
            # reward buffer of every Thrust backend stores it
            assert got.dtype == ref_obs.dtype and np.array_equal(got, ref_obs), (i, got, ref_obs)
            assert rewards[i] == np.float32(ref_reward), (i, rewards[i], ref_reward)
            if done:
                ends["terminated"] += ref_terminated
                ends["truncated"] += ref_truncated
                sync(i)
    assert ends["truncated"] > 0, ends
    assert ends["terminated"] > 0 or env_id == "Pendulum-v1", ends  # Pendulum never terminates
