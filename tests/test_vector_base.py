import gymnasium as gym
import numpy as np
import pytest

import thrust


def test_unknown_env_id_suggests_close_matches():
    with pytest.raises(ValueError, match="CartPole-v1"):
        thrust.make("CartPol-v1")
    with pytest.raises(gym.error.NameNotFound):
        thrust.make("NoSuchEnv-v0")


def test_call_order_misuse_raises():
    envs = thrust.make("CartPole-v1", num_envs=2, backend="serial")
    actions = np.zeros(2, dtype=np.int64)
    with pytest.raises(RuntimeError, match="reset"):
        envs.step(actions)
    envs.reset(seed=0)
    with pytest.raises(RuntimeError, match="without a pending send"):
        envs.recv()
    envs.send(actions)
    with pytest.raises(RuntimeError, match="twice"):
        envs.send(actions)
    with pytest.raises(RuntimeError, match="pending"):
        envs.reset()
    envs.recv()


@pytest.mark.parametrize(
    "actions, message",
    [
        (np.zeros(3, dtype=np.int64), "shape"),
        (np.zeros(2, dtype=np.float32), "integers"),
        (np.array([0, 2]), r"\[0, 1\]"),
        ([0, 1], "numpy array"),
    ],
)
def test_bad_discrete_actions_raise(actions, message):
    envs = thrust.make("CartPole-v1", num_envs=2, backend="serial", seed=0)
    envs.reset()
    with pytest.raises(ValueError, match=message):
        envs.step(actions)


@pytest.mark.parametrize("backend", ["serial", "native"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_continuous_actions_raise(backend, bad):
    envs = thrust.make("Pendulum-v1", num_envs=2, backend=backend, seed=0)
    envs.reset()
    with pytest.raises(ValueError, match="must be finite"):
        envs.step(np.array([[0.0], [bad]], dtype=np.float32))


def test_out_of_range_continuous_actions_are_clipped_as_gymnasium_does():
    envs = thrust.make("Pendulum-v1", num_envs=2, backend="serial", seed=0)
    reference = gym.make("Pendulum-v1")
    envs.reset()
    reference.reset(seed=0)
    actions = np.array([[50.0], [-1e30]], dtype=np.float32)  # Pendulum's torque bound is 2
    _, rewards, _, _, _ = envs.step(actions)
    clipped = reference.step(np.array([2.0], dtype=np.float32))[1]
    assert rewards[0] == np.float32(clipped)


def test_serial_backend_matches_gymnasium_with_same_step_autoreset():
    envs = thrust.make("CartPole-v1", num_envs=2, backend="serial", seed=3)
    reference = [gym.make("CartPole-v1") for _ in range(2)]
    obs, _ = envs.reset()
    expected = [env.reset(seed=3 + i)[0] for i, env in enumerate(reference)]
    np.testing.assert_array_equal(obs, np.stack(expected))
    returns = np.zeros(2)
    ended = 0
    for _ in range(200):
        actions = np.ones(2, dtype=np.int64)
        obs, rewards, terminations, truncations, infos = envs.step(actions)
        for i, env in enumerate(reference):
            ref_obs, ref_reward, ref_term, ref_trunc, _ = env.step(1)
            returns[i] += ref_reward
            assert rewards[i] == ref_reward and terminations[i] == ref_term and truncations[i] == ref_trunc
            if ref_term or ref_trunc:
                assert infos["_final_obs"][i] and infos["_episode"][i]
                np.testing.assert_array_equal(infos["final_obs"][i], ref_obs)
                assert infos["episode"]["r"][i] == returns[i]
                returns[i] = 0
                ended += 1
                ref_obs, _ = env.reset()
            else:
                assert not infos["_final_obs"][i]
            np.testing.assert_array_equal(obs[i], ref_obs)
    assert ended > 10


@pytest.mark.parametrize("env_id, backend", [("CartPole-v1", "native"), ("CartPole-v1", "serial")])
def test_make_records_the_env_id(env_id, backend):
    envs = thrust.make(env_id, num_envs=2, backend=backend)
    assert envs.env_id == env_id
    envs.close()


def test_the_vector_layer_imports_nothing_above_it():
    """thrust.vector is below thrust.make: none of its modules imports another part of thrust, even
    inside a function (thrust.env_factory imports thrust.vector, so that would be a hidden cycle)."""
    import ast
    from pathlib import Path

    import thrust.vector

    upward = []
    for path in Path(thrust.vector.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            upward += [f"{path.name}: {name}" for name in names
                       if name.split(".")[0] == "thrust" and not name.startswith("thrust.vector")]
    assert upward == []
