"""IMPALA and APPO: actor threads, segments, V-trace learners; faults, cleanup, the CLI, learning.

Risky calls run under `deadline`, which fails the test instead of letting it hang.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import threading
import time
from collections import defaultdict

import gymnasium as gym
import numpy as np
import pytest
import torch
from processes import deadline, wait_until_gone

import thrust
from thrust.actors import ActorError
from thrust.cli import main

ALGORITHMS = [thrust.IMPALA, thrust.APPO]
TINY = dict(num_envs=4, num_steps=8, total_timesteps=4 * 8 * 4)


def actor_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("thrust-actor")]


def same_parameters(a, b) -> bool:
    return all(torch.equal(p, q) for p, q in zip(a.policy.parameters(), b.policy.parameters(), strict=True))


# -- test envs (Gymnasium envs, registered so that thrust.make and the actors make them by id) -------------


class CounterEnv(gym.Env):
    """Observation [env id, count]: the id is the seed of its first reset, the count numbers every
    observation it has emitted. No episode ends, so the observations acted on count 0, 1, 2, ... per env."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self) -> None:
        self.id, self.count = None, 0

    def _obs(self):
        obs = np.array([self.id, self.count], np.float32)
        self.count += 1
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if self.id is None:
            self.id = seed
        return self._obs(), {}

    def step(self, action):
        return self._obs(), float(action), False, False, {}


RAISED_AT: list[float] = []


class FailingEnv(CounterEnv):
    """Raises ValueError on its 40th step, noting when."""

    def step(self, action):
        if self.count == 40:
            RAISED_AT.append(time.monotonic())
            raise ValueError("the simulator diverged at step 40")
        return super().step(action)


FAILED_ONCE: list[int] = []


class FailingOnceEnv(CounterEnv):
    """Raises on its 40th step, the first time in this process only."""

    def step(self, action):
        if self.count == 40 and not FAILED_ONCE:
            FAILED_ONCE.append(self.id)
            raise ValueError("the simulator diverged once")
        return super().step(action)


class MultiDiscreteEnv(gym.Env):
    """Two choices of 3 and 2; reward for matching the observation's signs; 10-step episodes."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = gym.spaces.MultiDiscrete([3, 2])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.steps = 0
        return self.np_random.uniform(-1, 1, 3).astype(np.float32), {}

    def step(self, action):
        self.steps += 1
        obs = self.np_random.uniform(-1, 1, 3).astype(np.float32)
        return obs, float(action[0] == 1) + float(action[1] == 0), False, self.steps >= 10, {}


class TinyFrames(gym.Env):
    """Random 4×36×36 uint8 frames, three actions, reward for action 0, six-step episodes."""

    observation_space = gym.spaces.Box(0, 255, (4, 36, 36), np.uint8)
    action_space = gym.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.steps = 0
        return self.np_random.integers(0, 256, (4, 36, 36), dtype=np.uint8), {}

    def step(self, action):
        self.steps += 1
        frame = self.np_random.integers(0, 256, (4, 36, 36), dtype=np.uint8)
        return frame, float(action == 0), False, self.steps >= 6, {}


for name, entry_point in [("Counter", CounterEnv), ("Failing", FailingEnv), ("FailingOnce", FailingOnceEnv),
                          ("MultiDiscrete", MultiDiscreteEnv), ("TinyFrames", TinyFrames)]:
    if f"ThrustTest/{name}-v0" not in gym.registry:
        gym.register(f"ThrustTest/{name}-v0", entry_point=entry_point)


# -- the actor machinery ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [dict(asynchronous=True, num_slots=3), dict(asynchronous=False, policy_lag=1)],
                         ids=["asynchronous", "a segment ahead"])
def test_no_segment_is_lost_or_consumed_twice(mode):
    """Three actors, asynchronous with three slots each or a segment ahead: every observation of every env
    reaches the learner exactly once, in order, until the last batch; the counts of written, read and dropped
    segments add up."""
    seen = defaultdict(list)

    def record(model, metrics):
        obs = model.storage.obs.numpy()
        for column in range(obs.shape[1]):
            seen[int(obs[0, column, 0])].extend(obs[:, column, 1].astype(int).tolist())

    with deadline(60):
        model = thrust.APPO("ThrustTest/Counter-v0", backend="serial", num_envs=6, num_steps=5, num_actors=3,
                            total_timesteps=6 * 5 * 40, **mode)
        model.learn(callback=record)
        pool = model.envs
        assert pool.consumed == 3 * 40 and pool.produced == pool.consumed + len(pool.ready)
        model.close()
    assert pool.consumed + pool.discarded == pool.produced
    assert sorted(seen) == [1 + i for i in range(6)]  # env i of the whole set is seeded with seed + i
    for counts in seen.values():
        assert sorted(counts) == list(range(len(counts))) and len(counts) >= 5  # no gap, no repeat
    assert actor_threads() == []


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.name)
def test_synchronous_mode_is_reproducible_and_resumes_exactly(algorithm, tmp_path):
    short = dict(num_envs=8, num_steps=8, total_timesteps=8 * 8 * 6, asynchronous=False, num_actors=2)
    lags = []

    def log_lag(model, metrics):
        lags.append(metrics["charts/policy_lag"])
        return model.iteration != 2

    with algorithm("CartPole-v1", seed=3, **short) as first, algorithm("CartPole-v1", seed=3, **short) as again:
        first.learn()
        again.learn()
        assert same_parameters(first, again)
        interrupted = algorithm("CartPole-v1", seed=3, **short)
        interrupted.learn(callback=log_lag)
        interrupted.save(tmp_path / "model.pt")
        interrupted.close()
        with thrust.load(tmp_path / "model.pt") as resumed:
            resumed.learn(callback=log_lag)  # native envs restored: no warning, the same run
            assert type(resumed) is algorithm and same_parameters(first, resumed)
    assert lags == [0.0] * 6 and actor_threads() == []


@pytest.mark.parametrize("mode", [dict(asynchronous=False, policy_lag=1), dict(asynchronous=True, num_slots=2)],
                         ids=["a segment ahead", "asynchronous"])
def test_stored_logprobs_are_those_of_the_weights_that_acted(mode):
    """Every column of every batch holds the log-probs of the weights of its behaviour version (the learner's
    weights after that many updates), which the learner's version minus the logged lag names; a segment ahead,
    the lag is exactly 1, and the weights one update newer would not have given those log-probs."""
    weights = []  # weights[v]: the learner's after v updates

    def check(model, metrics):
        weights.append(copy.deepcopy(model.policy.state_dict()))  # after this batch's update
        storage, collector = model.storage, model.collector
        n = model.config.num_envs // model.config.num_actors
        learner_version = collector.version - 1  # at the collect that made this batch
        assert [learner_version - int(v) for v in collector.behaviour_versions[::n]] == collector.policy_lags
        if mode["asynchronous"] is False and model.iteration > 1:
            assert collector.policy_lags == [1] * model.config.num_actors
        for column in range(storage.num_envs):
            version = int(collector.behaviour_versions[column])
            for candidate in {version, version + 1}:
                probe.load_state_dict(weights[candidate])
                with torch.no_grad():
                    logprob = probe.evaluate(storage.obs[:, column], storage.actions[:, column])[0]
                matches = torch.allclose(logprob, storage.logprobs[:, column], atol=1e-5)
                assert matches == (candidate == version), (model.iteration, column, version, candidate)

    with deadline(60), thrust.APPO("CartPole-v1", seed=5, num_envs=8, num_steps=16, num_actors=2, update_epochs=4,
                                   learning_rate=1e-2, total_timesteps=8 * 16 * 12, **mode) as model:
        probe = copy.deepcopy(model.policy)
        weights.append(copy.deepcopy(model.policy.state_dict()))
        model.learn(callback=check)
    assert len(weights) == 13


def test_a_segment_ahead_is_reproducible_and_resumes_from_fresh_envs(tmp_path):
    short = dict(num_envs=8, num_steps=8, total_timesteps=8 * 8 * 6, asynchronous=False, policy_lag=1, num_actors=2)
    with deadline(60), thrust.IMPALA("CartPole-v1", seed=3, **short) as first, \
            thrust.IMPALA("CartPole-v1", seed=3, **short) as again:
        first.learn()
        again.learn()
        assert same_parameters(first, again)
        first.save(tmp_path / "model.pt")  # a segment is in flight: the envs' state is not saved
        with thrust.load(tmp_path / "model.pt") as resumed, \
                pytest.warns(UserWarning, match="on envs reset rather than restored"):
            resumed.learn(total_timesteps=2 * short["total_timesteps"])
            assert resumed.global_step == 2 * short["total_timesteps"]
    with pytest.raises(ValueError, match="policy_lag=1 is for synchronous actors"):
        thrust.APPO("CartPole-v1", asynchronous=True, policy_lag=1)
    with pytest.raises(ValueError, match="policy_lag must be 0 or 1, got 2"):
        thrust.APPO("CartPole-v1", asynchronous=False, policy_lag=2)


def test_asynchronous_actors_run_ahead_and_log_their_lag():
    lags = []
    with deadline(60), thrust.APPO("CartPole-v1", num_envs=8, num_steps=8, num_actors=2, num_slots=2,
                                   asynchronous=True, update_epochs=4, total_timesteps=8 * 8 * 20) as model:
        model.learn(callback=lambda model, metrics: lags.append(
            (metrics["charts/policy_lag"], metrics["charts/policy_lag_max"], metrics["time/waiting"])))
        assert len(lags) == 20 and all(0 <= lag <= lag_max <= 2 * 2 for lag, lag_max, _ in lags)
        assert lags[0][0] == 0 and max(lag for lag, _, _ in lags) >= 1  # the actors went ahead of the learner
        state = model.extra_state()
        assert state["version"] == 20


def test_actor_exception_is_reported_within_a_second_and_stops_training():
    RAISED_AT.clear()
    with deadline(30):
        model = thrust.IMPALA("ThrustTest/Failing-v0", backend="serial", num_envs=4, num_steps=8, num_actors=2,
                              total_timesteps=10_000)
        with pytest.raises(ActorError, match="actor [01] .*ValueError: the simulator diverged at step 40") as info:
            model.learn()
        caught = time.monotonic()
    assert caught - RAISED_AT[0] < 1.0
    assert isinstance(info.value.__cause__, ValueError)
    assert 0 < model.global_step < 10_000
    model.close()
    assert actor_threads() == []


@pytest.mark.parametrize("asynchronous", [True, False])
def test_a_failed_actor_restarts_with_fresh_envs_when_allowed(asynchronous):
    FAILED_ONCE.clear()
    with deadline(30), thrust.APPO("ThrustTest/FailingOnce-v0", backend="serial", num_envs=4, num_steps=8,
                                   num_actors=2, actor_restarts=1, asynchronous=asynchronous,
                                   total_timesteps=4 * 8 * 12) as model:
        with pytest.warns(UserWarning, match="actor [01] failed .ValueError: the simulator diverged once.; restarting"):
            model.learn()
        assert model.global_step == 4 * 8 * 12 and model.envs.restarts == 1 and FAILED_ONCE
        assert model.envs.consumed == 2 * 12
    RAISED_AT.clear()
    model = thrust.APPO("ThrustTest/Failing-v0", backend="serial", num_envs=4, num_steps=8, num_actors=2,
                        actor_restarts=2, asynchronous=asynchronous, total_timesteps=10_000)
    with deadline(30), model, pytest.raises(ActorError, match="training stopped .after 2 restart"), \
            pytest.warns(UserWarning):
        model.learn()
    assert actor_threads() == []


def test_killed_env_worker_is_reported_and_nothing_is_left(tmp_path, shared_memory_left):
    with deadline(60):
        model = thrust.APPO("CartPole-v1", backend="multiprocessing", num_envs=4, num_workers=2, num_actors=2,
                            asynchronous=True, num_steps=8, total_timesteps=100_000)
        pids = []

        def kill_a_worker(model, metrics):
            if model.iteration == 3:
                pids.extend(p.pid for actor in model.envs.actors for p in actor.envs._processes)
                os.kill(pids[1], signal.SIGKILL)
                kill_a_worker.at = time.monotonic()

        with pytest.raises(ActorError, match="actor 1 .*WorkerDiedError: worker 0 .* killed by signal SIGKILL"):
            model.learn(callback=kill_a_worker)
        assert time.monotonic() - kill_a_worker.at < 1.5
        model.close()
    assert wait_until_gone(pids) == [] and actor_threads() == []
    assert shared_memory_left() == set()


def test_close_and_keyboard_interrupt_leave_no_thread_process_or_shared_memory(shared_memory_left):

    def interrupt(model, metrics):
        if model.iteration == 3:
            interrupt.pids = [p.pid for actor in model.envs.actors for p in actor.envs._processes]
            raise KeyboardInterrupt

    with deadline(60):
        with pytest.raises(KeyboardInterrupt), thrust.IMPALA(
            "CartPole-v1", backend="multiprocessing", num_envs=4, num_workers=2, num_actors=2, num_steps=8,
            asynchronous=True, total_timesteps=100_000,
        ) as model:
            model.learn(callback=interrupt)
        assert model._envs is None
        assert wait_until_gone(interrupt.pids) == [] and actor_threads() == []

        with thrust.APPO("CartPole-v1", **TINY, num_actors=2, asynchronous=True) as model:
            model.learn()
            assert len(actor_threads()) == 2  # still there: waiting for the next learn
        assert actor_threads() == []
    assert shared_memory_left() == set()


def test_a_ready_vecenv_is_stepped_by_one_actor_and_left_open():
    envs = thrust.make("CartPole-v1", num_envs=4, seed=0)
    given = {key: value for key, value in TINY.items() if key != "num_envs"}
    with deadline(30), thrust.APPO(envs, asynchronous=True, **given) as model:
        assert model.config.num_actors == 1
        model.learn()
        model.close()
        assert actor_threads() == [] and not envs.closed
        model.learn(total_timesteps=2 * TINY["total_timesteps"])  # the same envs, new threads
        assert model.global_step == 2 * TINY["total_timesteps"]
    envs.step(np.zeros(4, dtype=np.int64))
    envs.close()
    with pytest.raises(ValueError, match="stepped by one actor: num_actors must be 1"):
        thrust.IMPALA(thrust.make("CartPole-v1", num_envs=4), num_actors=2)


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="num_actors=3 must divide num_envs=4"):
        thrust.IMPALA("CartPole-v1", num_envs=4, num_actors=3)
    with pytest.raises(ValueError, match="num_actors=2 must divide num_workers=3"):
        thrust.IMPALA("CartPole-v1", num_envs=6, num_actors=2, num_workers=3, backend="multiprocessing")
    with pytest.raises(ValueError, match="normalize_obs is not supported"):
        thrust.APPO("CartPole-v1", normalize_obs=True)
    with pytest.raises(ValueError, match="rho_bar must be positive"):
        thrust.IMPALA("CartPole-v1", rho_bar=0.0)
    with pytest.raises(ValueError, match="num_minibatches=3 must divide the batch"):
        thrust.APPO("CartPole-v1", num_envs=4, num_steps=8, num_minibatches=3)
    with pytest.raises(ValueError, match="num_slots must be positive"):
        thrust.APPO("CartPole-v1", num_slots=0)
    with pytest.raises(ValueError, match="actor_restarts must be a whole number >= 0"):
        thrust.APPO("CartPole-v1", actor_restarts=-1)


# -- spaces and backends ---------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.name)
@pytest.mark.parametrize("env_id, backend", [
    ("CartPole-v1", "native"),  # Discrete
    ("ThrustTest/MultiDiscrete-v0", "serial"),  # MultiDiscrete
    ("Pendulum-v1", "native"),  # Box: a Gaussian policy, actions clipped for the env
    ("ThrustTest/TinyFrames-v0", "serial"),  # uint8 frames: the Nature CNN
    ("CartPole-v1", "envpool"),
])
def test_spaces_and_backends(algorithm, env_id, backend):
    if backend == "envpool":
        pytest.importorskip("envpool")
    with deadline(60), algorithm(env_id, backend=backend, num_envs=4, num_steps=8, num_actors=2,
                                 total_timesteps=4 * 8 * 3) as model:
        model.learn()
        assert model.global_step == 96
        eval_envs = model.make_envs(2, seed=0)
        action = model.predict(eval_envs.reset(seed=0)[0])
        eval_envs.close()
        assert action.shape == (2, *model.action_space.shape) and model.action_space.contains(action[0])
        assert np.isfinite(model.storage.advantages.numpy()).all()


# -- the CLI ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, mode", [("impala", "--no-asynchronous"), ("appo", "--asynchronous")])
def test_train_stop_resume_eval_plot_through_the_cli(name, mode, tmp_path, capsys):
    run_dir = tmp_path / "run"
    flags = ["--env", "CartPole-v1", "--num-envs", "8", "--num-steps", "8", "--num-actors", "2", mode,
             "--total-timesteps", "640", "--eval-episodes", "2", "--quiet"]
    with deadline(120):
        assert main(["train", name, *flags, "--run-dir", str(run_dir), "--stop-after", "4"]) == 0
        assert "resume: thrust train --resume" in capsys.readouterr().out
        assert actor_threads() == []
        assert main(["train", "--resume", str(run_dir)]) == 0
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["algo"] == name and summary["finished"] and summary["global_step"] == 640
        header = (run_dir / "progress.csv").read_text().splitlines()[0].split(",")
        assert "charts/policy_lag" in header and "time/waiting" in header
        assert (run_dir / "learning_curve.png").is_file()
        capsys.readouterr()
        assert main(["eval", str(run_dir), "--episodes", "2"]) == 0
        assert "CartPole-v1: return" in capsys.readouterr().out
        assert main(["plot", str(run_dir), "--output", str(tmp_path / "curve.png")]) == 0
    with pytest.raises(SystemExit):
        main(["train", name, "--help"])
    help_text = capsys.readouterr().out
    assert "--num-actors" in help_text and "--rho-bar" in help_text
    assert ("--clip-coef" in help_text) == (name == "appo")
    assert actor_threads() == []


def test_ctrl_c_in_the_cli_saves_stops_the_actors_and_resumes(tmp_path, capsys):
    run_dir = tmp_path / "run"
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT))
    with deadline(60):
        timer.start()
        status = main(["train", "appo", "--env", "CartPole-v1", "--num-envs", "8", "--num-steps", "8", "--asynchronous",
                       "--num-actors", "2", "--total-timesteps", "10000000", "--quiet", "--run-dir", str(run_dir)])
        assert status == 130 and "Ctrl-C: stopping after this iteration" in capsys.readouterr().out
        assert actor_threads() == [] and (run_dir / "checkpoint.pt").is_file()
        assert main(["train", "--resume", str(run_dir), "--stop-after", "2"]) == 0
        assert actor_threads() == []


# -- learning ------------------------------------------------------------------------------------------


def solves(model) -> dict:
    """Train until the mean return of the last 20 episodes reaches 475 (or the budget ends)."""
    state = {}

    def stop_when_solved(model, metrics):
        recent = list(model.recent_returns)[-20:]
        if len(recent) == 20 and np.mean(recent) >= 475:
            state["step"] = model.global_step
            return False
        return True

    model.learn(callback=stop_when_solved)
    return state


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.name)
def test_preset_solves_cartpole(algorithm):
    """The CartPole presets (synchronous: reproducible) solve within budget."""
    with deadline(120), algorithm("CartPole-v1", seed=1) as model:
        state = solves(model)
        assert state, f"not solved in {model.global_step} steps: last 20 {np.mean(list(model.recent_returns)[-20:])}"


# Actors ahead of the learner: IMPALA needs an entropy bonus (without one, lag 1 collapsed seed 4 to a
# deterministic policy, return 9, entropy 0.002 after 20K steps); APPO's preset as it is. See the presets'
# comments for the seeds measured.
AHEAD = {thrust.IMPALA: dict(ent_coef=0.01), thrust.APPO: {}}


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=lambda a: a.name)
def test_actors_ahead_of_the_learner_solve_cartpole(algorithm):
    """A segment ahead (policy lag exactly 1, reproducible) the preset solves; asynchronous (lag 1-2, as thread
    timing has it) it solves too, on the first of three seeds that does: asynchronous runs differ, and one in
    five or six of IMPALA's ended its budget short of 475 in the runs measured (APPO's seed 1 always at 461)."""
    with deadline(120), algorithm("CartPole-v1", seed=2, asynchronous=False, policy_lag=1,
                                  **AHEAD[algorithm]) as model:
        state = solves(model)
        assert state, f"lag 1: not solved in {model.global_step} steps: last 20 " \
                      f"{np.mean(list(model.recent_returns)[-20:])}"
    failures = []
    for seed in (3, 4, 5):
        with deadline(120), algorithm("CartPole-v1", seed=seed, asynchronous=True, **AHEAD[algorithm]) as model:
            state = solves(model)
            if state:
                return
            failures.append(f"seed {seed}: last 20 {np.mean(list(model.recent_returns)[-20:])} after "
                            f"{model.global_step} steps")
    pytest.fail(f"asynchronous {algorithm.name} did not solve CartPole: {'; '.join(failures)}")
