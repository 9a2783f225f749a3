"""PPO: API contract, reproducibility, exact resume, checkpoint errors, bad input."""

import copy
import math

import gymnasium
import numpy as np
import pytest
import torch

import thrust
from thrust.algorithms.ppo import PPO, PPOConfig
from thrust.checkpoint import CheckpointError
from thrust.vector.base import VecEnv
from thrust.vector.serial import SerialVecEnv

SHORT = dict(num_envs=4, num_steps=32, total_timesteps=4 * 32 * 6, num_minibatches=2, update_epochs=2)
READY = {key: value for key, value in SHORT.items() if key != "num_envs"}  # for a ready VecEnv, which has its own


def run_short(**overrides):
    """Six iterations of a small PPO; returns the model and every iteration's metrics."""
    model = PPO("CartPole-v1", seed=7, **{**SHORT, **overrides})
    history = []
    model.learn(callback=lambda ppo, metrics: history.append(metrics))
    return model, history


def weights(model):
    return [p.detach().clone() for p in model.policy.parameters()]


def test_metrics_and_attributes_follow_the_contract():
    model, history = run_short()
    assert model.global_step == SHORT["total_timesteps"] and model.iteration == 6 and len(history) == 6
    expected = {
        "global_step", "charts/learning_rate", "charts/SPS", "losses/value_loss", "losses/policy_loss",
        "losses/entropy", "losses/old_approx_kl", "losses/approx_kl", "losses/clipfrac",
        "losses/explained_variance", "time/env", "time/inference", "time/learning",
    }
    for metrics in history:
        assert expected <= set(metrics)
        assert all(isinstance(v, float) for v in metrics.values())
    assert any("charts/episodic_return" in m and "charts/episodic_length" in m for m in history)
    # Linear annealing: iteration k uses lr × (1 − (k − 1)/num_iterations).
    lr = model.config.learning_rate
    assert [m["charts/learning_rate"] for m in history] == pytest.approx([lr * (1 - k / 6) for k in range(6)])
    assert isinstance(model.config, PPOConfig) and model.envs.num_envs == 4


def test_same_seed_is_bit_identical_and_another_seed_is_not():
    model_a, history_a = run_short()
    model_b, history_b = run_short()
    keys = [k for k in history_a[0] if k.startswith(("losses/", "charts/episodic"))]
    assert [[m.get(k) for k in keys] for m in history_a] == [[m.get(k) for k in keys] for m in history_b]
    assert list(model_a.recent_returns) == list(model_b.recent_returns)
    assert all(torch.equal(a, b) for a, b in zip(weights(model_a), weights(model_b), strict=True))
    model_c = PPO("CartPole-v1", seed=8, **SHORT).learn()
    assert not all(torch.equal(a, c) for a, c in zip(weights(model_a), weights(model_c), strict=True))


def test_initial_weights_do_not_depend_on_the_thread_count_before_construction():
    torch.set_num_threads(2)
    first = weights(PPO("CartPole-v1", seed=5, **SHORT))
    assert torch.get_num_threads() == 1  # the model applies its own config.num_threads
    torch.set_num_threads(2)  # torch's orthogonal init gives different bits with 1 and 2 threads
    second = weights(PPO("CartPole-v1", seed=5, **SHORT))
    torch.set_num_threads(1)
    assert all(torch.equal(a, b) for a, b in zip(first, weights(PPO("CartPole-v1", seed=5, **SHORT)), strict=True))
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("env_id,extra", [("CartPole-v1", {}), ("Pendulum-v1", {"normalize_obs": True,
                                                                              "normalize_reward": True})])
def test_save_load_resume_matches_an_uninterrupted_run(tmp_path, env_id, extra):
    config = {**SHORT, **extra}
    uninterrupted = PPO(env_id, seed=3, **config).learn()

    interrupted = PPO(env_id, seed=3, **config)
    interrupted.learn(callback=lambda ppo, metrics: ppo.iteration < 2)  # stop after iteration 2, as Ctrl-C would
    assert interrupted.iteration == 2 and interrupted.global_step == 2 * 4 * 32
    interrupted.save(tmp_path / "run" / "model.pt")
    # Disturb every global random source in between: the resumed run must not depend on them.
    torch.rand(10), np.random.rand(10)  # noqa: NPY002
    resumed = PPO.load(tmp_path / "run" / "model.pt")
    assert resumed.iteration == 2 and resumed.global_step == 2 * 4 * 32
    resumed.learn()
    assert resumed.global_step == uninterrupted.global_step
    assert all(torch.equal(a, b) for a, b in zip(weights(uninterrupted), weights(resumed), strict=True))
    if extra:
        assert torch.equal(uninterrupted.obs_normalizer.mean, resumed.obs_normalizer.mean)
        assert torch.equal(uninterrupted.reward_scaler.return_stats.var, resumed.reward_scaler.return_stats.var)
    assert not list(tmp_path.joinpath("run").glob("*.tmp"))  # the atomic write left nothing behind


def test_checkpoint_errors_are_clear(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        PPO.load(tmp_path / "missing.pt")
    model = PPO("CartPole-v1", **SHORT)
    model.save(tmp_path / "good.pt")
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated, corrupt"):
        PPO.load(tmp_path / "truncated.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        PPO.load(tmp_path / "text.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a Thrust checkpoint"):
        PPO.load(tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="does not fit"):
        PPO.load(tmp_path / "good.pt", env="Acrobot-v1")
    assert issubclass(CheckpointError, ValueError)


@pytest.mark.parametrize("overrides,field", [
    (dict(num_minibatches=3), "num_minibatches"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(learning_rate=-1e-3), "learning_rate"),
    (dict(num_envs=0), "num_envs"),
    (dict(gamma=1.5), "gamma"),
    (dict(total_timesteps=10), "total_timesteps"),
    (dict(target_kl=0.0), "target_kl"),
    (dict(clip_coef=-0.1), "clip_coef"),
    (dict(learning_rat=1e-3), "learning_rate"),  # a typo gets the close match
    (dict(device="cuda:99" if torch.cuda.is_available() else "cuda"), "device"),
])
def test_inconsistent_hyperparameters_name_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        PPO("CartPole-v1", **overrides)


def test_unknown_env_id_suggests_close_matches():
    with pytest.raises(ValueError, match="CartPole-v1"):
        PPO("CartPol-v1")


@pytest.mark.parametrize("on_device", [False, True])
def test_nan_loss_stops_training_naming_the_update(on_device):
    model = PPO("CartPole-v1", **SHORT)
    model.loss_check_on_device = on_device  # True: the accelerators' sync-free check, here on the CPU
    model.learn(callback=lambda ppo, metrics: False)  # one good iteration first
    before = weights(model)
    with torch.no_grad():
        model.policy.critic[-1].bias.fill_(math.nan)
    with pytest.raises(FloatingPointError, match="nan at update 2 \\(epoch 1, minibatch 1"):
        model.learn()
    # The bad loss was not applied: the actor's weights are untouched.
    assert all(torch.equal(a, b) for a, b in zip(before[:6], weights(model)[:6], strict=True))


def test_predict_and_evaluate_use_fresh_envs():
    model, _ = run_short()
    training_obs = model.envs.observations.copy()
    obs = np.zeros((5, 4), np.float32)
    actions = model.predict(obs)
    assert actions.shape == (5,) and actions.dtype == np.int64
    assert model.predict(obs[0]).shape == ()
    varied = np.random.default_rng(0).normal(0.0, 1.0, (256, 4)).astype(np.float32)
    with torch.no_grad():  # the mode: the action the policy gives the higher log-probability
        observed = model.collector.observe(varied, update_statistics=False)  # as predict sees them
        log_probs = [model.policy.evaluate(observed, torch.full((256,), a))[0] for a in (0, 1)]
    mode = (log_probs[1] > log_probs[0]).numpy().astype(np.int64)
    assert 0 < mode.sum() < 256 and np.array_equal(model.predict(varied), mode)  # the default is deterministic
    assert not np.array_equal(model.predict(varied, deterministic=False), mode)
    result = thrust.evaluate(model, num_episodes=6, seed=0)
    assert set(result) == {"mean_return", "std_return", "mean_length", "std_length", "episodes", "sampled", "warning"}
    assert len(result["episodes"]) == 6
    assert result["mean_return"] == pytest.approx(np.mean([r for r, _ in result["episodes"]]))
    assert np.array_equal(model.envs.observations, training_obs)  # the training envs were not touched
    assert thrust.evaluate(model, num_episodes=6, seed=0) == result


def test_gymnasium_env_ids_and_ready_vecenvs_work():
    model = PPO("MountainCar-v0", backend="serial", **SHORT).learn()
    assert type(model.envs).__name__ == "SerialVecEnv" and model.global_step == SHORT["total_timesteps"]
    envs = thrust.make("CartPole-v1", num_envs=2, seed=0)
    model = PPO(envs, **READY)  # num_envs is the VecEnv's
    assert model.config.num_envs == 2 and model.config.env_id == "CartPole-v1"
    with pytest.raises(ValueError, match="num_envs=99 but the VecEnv given has 2 envs"):
        PPO(envs, **{**SHORT, "num_envs": 99})
    with pytest.raises(ValueError, match="env_kwargs apply to envs that thrust.make makes"):
        PPO(envs, env_kwargs={"max_episode_steps": 5})
    model.learn(total_timesteps=2 * 32 * 2)
    assert model.global_step == 128


def test_box_actions_are_clipped_for_the_env_only():
    model = PPO("Pendulum-v1", log_std_init=2.0, **SHORT)
    seen = []
    step = model.envs.step
    model.envs.step = lambda actions: (seen.append(actions.copy()), step(actions))[1]
    model.learn(callback=lambda ppo, metrics: False)
    sent = np.concatenate(seen)
    stored = model.storage.actions.flatten(0, 1).numpy()
    assert np.abs(sent).max() <= 2.0 and np.abs(stored).max() > 2.0
    np.testing.assert_array_equal(sent, np.clip(stored, -2.0, 2.0))


def test_target_kl_stops_epochs_early():
    counts = []
    model = PPO("CartPole-v1", target_kl=1e-9, **SHORT)
    original = model.optimizer.step
    model.optimizer.step = lambda *a, **k: (counts.append(1), original(*a, **k))[1]
    model.learn(callback=lambda ppo, metrics: False)
    assert len(counts) == SHORT["num_minibatches"]  # one epoch, then the KL check stopped the update


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_shapes_and_learns():
    model = PPO("CartPole-v1", device="cuda", **SHORT).learn()
    assert model.storage.obs.device.type == "cuda" and model.global_step == SHORT["total_timesteps"]
    assert model.predict(np.zeros((3, 4), np.float32)).shape == (3,)


class TinyImageEnv(gymnasium.Env):
    """Random 4×84×84 uint8 frames, three actions, reward 1 for action 0, ten-step episodes."""

    observation_space = gymnasium.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    action_space = gymnasium.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.steps = 0
        return self.np_random.integers(0, 256, (4, 84, 84), dtype=np.uint8), {}

    def step(self, action):
        self.steps += 1
        frame = self.np_random.integers(0, 256, (4, 84, 84), dtype=np.uint8)
        return frame, float(action == 0), False, self.steps >= 10, {}


def test_image_observations_train_with_a_shared_nature_cnn():
    envs = SerialVecEnv([TinyImageEnv] * 2)
    model = PPO(envs, env_id="TinyImage", num_steps=8, total_timesteps=32, num_minibatches=2, update_epochs=1)
    obs = model.storage.obs
    assert obs.dtype == torch.uint8 and obs.shape == (8, 2, 4, 84, 84)  # frames stored as bytes
    before = weights(model)
    model.learn()
    assert model.global_step == 32 and model.policy.trunk is not None
    assert not all(torch.equal(a, b) for a, b in zip(before, weights(model), strict=True))
    assert model.predict(np.zeros((3, 4, 84, 84), np.uint8)).shape == (3,)


class RandomWalkEnv(gymnasium.Env):
    """Random observations of a chosen dtype, two actions, reward 1 for action 0; ends at random (p = 0.1)."""

    action_space = gymnasium.spaces.Discrete(2)

    def __init__(self, dtype=np.float64):
        self.observation_space = gymnasium.spaces.Box(-10, 10, (3,), dtype)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._observation(), {}

    def _observation(self):
        return (self.np_random.normal(size=3) * 3).astype(self.observation_space.dtype)

    def step(self, action):
        return self._observation(), float(action == 0), bool(self.np_random.random() < 0.1), False, {}


def random_walks(num_envs, dtype=np.float64, time_limit=7):
    """A SerialVecEnv of RandomWalkEnvs cut by a time limit, so that truncations and terminations both occur."""
    return SerialVecEnv([lambda: gymnasium.wrappers.TimeLimit(RandomWalkEnv(dtype), time_limit)] * num_envs)


@pytest.mark.parametrize("dtype", [np.float64, np.int64])
def test_observations_of_any_dtype_train_and_predict(dtype):
    # float64 (every MuJoCo env) and integer observations reach the float32 networks as float32,
    # including the final observations of time-limited episodes.
    model = PPO(random_walks(4, dtype), env_id="RandomWalk", **{**SHORT, "total_timesteps": 2 * 4 * 32})
    model.learn()
    assert model.storage.obs.dtype == torch.float32 and model.storage.truncations.any()
    assert model.predict(np.ones((5, 3), dtype)).shape == (5,)
    assert model.predict(np.ones(3, dtype), deterministic=False).shape == ()


def test_truncated_steps_bootstrap_from_the_value_of_the_final_observation():
    model = PPO(random_walks(4), env_id="RandomWalk", num_steps=32, total_timesteps=4 * 32, num_minibatches=1,
                update_epochs=1, gamma=0.9, gae_lambda=0.8)
    rollout_policy = copy.deepcopy(model.policy)  # the weights the rollout acts with
    final_observations = []
    step = model.envs.step
    model.envs.step = lambda actions: (result := step(actions), final_observations.append(
        result[4]["final_obs"].copy()))[0]
    model.learn()

    time_limited = (model.storage.truncations & ~model.storage.terminations).numpy()
    # Envs are out of phase: some but not all envs hit the time limit at some step (a wrong row would show).
    assert any(0 < row.sum() < 4 for row in time_limited) and model.storage.terminations.any()
    with torch.no_grad():
        for t, i in zip(*np.nonzero(time_limited), strict=True):
            final_obs = torch.from_numpy(final_observations[t][i]).float()
            assert not torch.equal(final_obs, model.storage.obs[t + 1, i] if t + 1 < 32 else model.storage.next_obs[i])
            expected = rollout_policy.value(final_obs[None])[0]
            torch.testing.assert_close(model.storage.final_values[t, i], expected, rtol=1e-6, atol=1e-6)
            # ... and the advantage of that step bootstraps from it, cutting the trace.
            target = model.storage.rewards[t, i] + 0.9 * model.storage.final_values[t, i] - model.storage.values[t, i]
            torch.testing.assert_close(model.storage.advantages[t, i], target, rtol=1e-6, atol=1e-6)
    storage = model.storage
    terminated = storage.terminations.numpy()
    torch.testing.assert_close(storage.advantages[terminated], (storage.rewards - storage.values)[terminated])


def test_observation_normalization_is_frozen_when_predicting_and_evaluating():
    model = PPO("Pendulum-v1", normalize_obs=True, **SHORT)
    model.learn(callback=lambda ppo, metrics: False)
    before = {k: v.clone() for k, v in model.obs_normalizer.state_dict().items()}
    assert before["count"].item() > 1
    model.predict(np.random.default_rng(0).normal(size=(7, 3)) * 100)
    model.predict(np.ones(3, np.float32), deterministic=False)
    thrust.evaluate(model, num_episodes=2, seed=0)
    after = model.obs_normalizer.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_resume_without_env_state_warns_and_takes_fresh_episodes(tmp_path):
    model = PPO("CartPole-v1", backend="serial", seed=7, **SHORT)
    model.learn(callback=lambda ppo, metrics: False)
    model.save(tmp_path / "model.pt")
    resumed = PPO.load(tmp_path / "model.pt")
    seeds = []
    reset = resumed.envs.reset
    resumed.envs.reset = lambda seed=None, options=None: (seeds.append(seed), reset(seed=seed, options=options))[1]
    with pytest.warns(UserWarning, match="reset rather than restored.*seed \\+ global_step = 135"):
        resumed.learn(callback=lambda ppo, metrics: False)
    assert seeds == [7 + 128] and resumed.global_step == 256


def test_load_makes_no_training_envs_for_predicting_and_evaluating(tmp_path):
    trained = PPO("CartPole-v1", backend="serial", **SHORT)
    trained.learn(callback=lambda ppo, metrics: False)
    trained.save(tmp_path / "model.pt")
    model = PPO.load(tmp_path / "model.pt")
    model.predict(np.zeros(4, np.float32))
    thrust.evaluate(model, num_episodes=2)
    assert model._envs is None


def test_all_backends_and_num_workers_reach_thrust_make():
    with PPO("CartPole-v1", backend="multiprocessing", num_workers=2, **SHORT) as model:
        model.learn(total_timesteps=4 * 32)
        envs = model.envs
        assert type(envs).__name__ == "MultiprocessingVecEnv" and envs.num_workers == 2
    assert envs.closed and model._envs is None  # closed by the context manager
    for overrides, field in [(dict(backend="threads"), "backend"), (dict(num_workers=0), "num_workers"),
                             (dict(backend="native", num_workers=2), "num_workers")]:
        with pytest.raises(ValueError, match=field):
            PPO("CartPole-v1", **overrides)


def test_ready_envs_must_be_thrust_vecenvs_in_lockstep():
    with pytest.raises(ValueError, match="Thrust VecEnv.*SyncVectorEnv"):
        PPO(gymnasium.vector.SyncVectorEnv([lambda: gymnasium.make("CartPole-v1")] * 2))
    space = gymnasium.spaces.Box(-1, 1, (3,))
    with pytest.raises(ValueError, match="batch_size=1 < num_envs=2"):
        PPO(VecEnv(space, gymnasium.spaces.Discrete(2), num_envs=2, batch_size=1), env_id="Async")
    envs = random_walks(2)
    model = PPO(envs, env_id="RandomWalk", **READY)
    model.close()
    assert not envs.closed  # a VecEnv passed in is the caller's to close


def test_evaluate_reuses_env_kwargs_or_takes_envs(tmp_path):
    model = PPO("CartPole-v1", backend="serial", env_kwargs={"max_episode_steps": 12}, **SHORT)
    assert max(length for _, length in thrust.evaluate(model, num_episodes=4)["episodes"]) <= 12
    model.save(tmp_path / "model.pt")
    loaded = PPO.load(tmp_path / "model.pt")
    assert loaded.env_kwargs == {"max_episode_steps": 12}
    assert max(length for _, length in thrust.evaluate(loaded, num_episodes=4)["episodes"]) <= 12

    custom = PPO(random_walks(2), env_id="RandomWalk", **READY)
    with pytest.raises(ValueError, match="pass envs="):
        thrust.evaluate(custom, num_episodes=2)
    envs = random_walks(3, time_limit=5)
    result = thrust.evaluate(custom, num_episodes=6, envs=envs)
    assert len(result["episodes"]) == 6 and max(length for _, length in result["episodes"]) <= 5
    assert not envs.closed


def test_learn_validates_total_timesteps_before_changing_the_config():
    model = PPO("CartPole-v1", **SHORT)
    with pytest.raises(ValueError, match="total_timesteps"):
        model.learn(total_timesteps=10)
    assert model.config.total_timesteps == SHORT["total_timesteps"]


def test_saved_env_state_that_does_not_fit_is_a_checkpoint_error(tmp_path):
    model = PPO("CartPole-v1", **SHORT)
    model.learn(callback=lambda ppo, metrics: False)
    model.save(tmp_path / "model.pt")
    with pytest.raises(CheckpointError, match="num_envs=8"):
        PPO.load(tmp_path / "model.pt", num_envs=8)


def test_staging_path_of_accelerators_gives_the_same_run(monkeypatch):
    # The accelerator path (pinned staging buffers, sliced to the number of truncated envs, copied into
    # storage) run on the CPU, where pinning is a plain copy: it must train exactly as the direct path.
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda tensor: tensor.clone())
    config = dict(num_steps=32, total_timesteps=3 * 4 * 32, num_minibatches=2, update_epochs=2)
    direct = PPO(random_walks(4), env_id="RandomWalk", **config).learn()
    staged = PPO(random_walks(4), env_id="RandomWalk", **config)
    staged.collector.pinned = True
    staged.learn()
    assert {"obs", "rewards", "terminations", "truncations", "final_obs", "rows"} <= set(staged.collector.staging)
    assert staged.collector.staging["final_obs"].shape == (4, 3)  # full size, sliced per step
    assert all(torch.equal(a, b) for a, b in zip(weights(direct), weights(staged), strict=True))
    assert torch.equal(direct.storage.final_values, staged.storage.final_values) and staged.storage.truncations.any()
    assert np.array_equal(direct.predict(np.ones((9, 3))), staged.predict(np.ones((9, 3))))


class BitsEnv(gymnasium.Env):
    """MultiBinary(3) actions: reward is the number of bits matching (1, 0, 1); eight-step episodes."""

    observation_space = gymnasium.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gymnasium.spaces.MultiBinary(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.steps = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.steps += 1
        assert action.shape == (3,) and set(np.unique(action)) <= {0, 1}
        reward = float((action == np.array([1, 0, 1])).sum())
        return np.zeros(2, np.float32), reward, False, self.steps >= 8, {}


def test_multibinary_actions_learn():
    envs = SerialVecEnv([BitsEnv] * 4)
    model = PPO(envs, env_id="Bits", num_steps=16, total_timesteps=4 * 16 * 12, learning_rate=3e-3,
                num_minibatches=1, update_epochs=4, ent_coef=0.0)
    assert model.storage.actions.shape == (16, 4, 3) and model.storage.actions.dtype == torch.int64
    model.learn()
    assert model.predict(np.zeros(2, np.float32)).tolist() == [1, 0, 1]


@pytest.mark.parametrize("overrides,message", [
    (dict(seed="1"), "seed must be int, got '1'"),
    (dict(num_envs=8.5), "num_envs must be int, got 8.5"),
    (dict(hidden_sizes=64), r"hidden_sizes must be tuple\[int, ...\], got 64"),
    (dict(normalize_obs="yes"), "normalize_obs must be bool"),
    (dict(target_kl="0.1"), r"target_kl must be float \| None"),
])
def test_wrong_types_name_the_argument(overrides, message):
    with pytest.raises(ValueError, match=message):
        PPO("CartPole-v1", **overrides)


@pytest.mark.parametrize("algorithm", ["PPO", "APPO"])
@pytest.mark.parametrize("value", [True, "std", None])
def test_norm_adv_names_its_values_and_cleanrls(algorithm, value):
    """CleanRL's boolean (or any other value) is told the three names, and which one CleanRL's True is."""
    with pytest.raises(ValueError, match=r"norm_adv must be one of 'standardize', 'center', 'none', got .*"
                                         r"CleanRL's norm_adv=True is 'standardize'"):
        getattr(thrust, algorithm)("CartPole-v1", norm_adv=value)


def test_integral_floats_become_ints():
    model = PPO("CartPole-v1", total_timesteps=1e5, num_envs=8.0)
    assert model.config.total_timesteps == 100_000 and isinstance(model.config.total_timesteps, int)
    assert model.config.num_envs == 8 and isinstance(model.config.num_envs, int)


def test_predict_checks_shapes_and_finiteness():
    model = PPO("CartPole-v1", **SHORT)
    with pytest.raises(ValueError, match=r"observations must have shape \(4,\) or \[B, 4\], got \(3, 5\)"):
        model.predict(np.zeros((3, 5), np.float32))
    with pytest.raises(ValueError, match="must be finite"):
        model.predict(np.array([0.0, np.nan, 0.0, 0.0]))


class ColourEnv(gymnasium.Env):
    """A 6×6 float image in [0, 1], channels last (Gymnasium's usual layout): red means action 0, green 1."""

    observation_space = gymnasium.spaces.Box(0.0, 1.0, (6, 6, 3), np.float32)
    action_space = gymnasium.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.steps = 0
        return self._draw(), {}

    def _draw(self):
        self.colour = int(self.np_random.integers(2))
        image = np.zeros((6, 6, 3), np.float32)
        image[..., self.colour] = 1.0
        return image

    def step(self, action):
        self.steps += 1
        reward = float(action == self.colour)
        return self._draw(), reward, False, self.steps >= 16, {}


def test_small_channels_last_float_images_learn():
    model = PPO(SerialVecEnv([ColourEnv] * 4), env_id="Colour", num_steps=16, total_timesteps=4 * 16 * 10,
                learning_rate=1e-3, num_minibatches=2, update_epochs=4, ent_coef=0.0)
    assert model.storage.obs.dtype == torch.float32 and model.storage.obs.shape == (16, 4, 6, 6, 3)
    model.learn()
    images = np.zeros((2, 6, 6, 3), np.float32)
    images[0, ..., 0] = images[1, ..., 1] = 1.0  # red, green
    assert model.predict(images).tolist() == [0, 1]
