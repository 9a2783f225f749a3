"""Multi-agent envs, agents as rows: the PettingZoo backend's row semantics and masks, the native multi-agent
harness, masking that is exact in PPO's, APPO's and IMPALA's updates, PPO and APPO learning Meet-v0, self-play on
Race-v0, the CLI."""

import copy
import csv
import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from pettingzoo import ParallelEnv

import thrust
from thrust.cli import main
from thrust.envs import Meet, NativeMultiAgentVecEnv
from thrust.envs.meet_parallel import parallel_env as meet_parallel_env
from thrust.selfplay import SelfPlay, win_rate


class Relay(ParallelEnv):
    """Agents that come and go: "runner" acts at steps 1-3 and terminates at 3; "late" joins at step 2 (observed,
    acting from step 3) and is truncated at step 5; then no agent is left. Rewards: the action taken plus 10 × the
    agent's index; observations: [step, index]."""

    metadata = {"name": "relay"}
    possible_agents = ["runner", "late"]

    def observation_space(self, agent):
        return gym.spaces.Box(0.0, 100.0, (2,), dtype=np.float32)

    def action_space(self, agent):
        return gym.spaces.Discrete(3)

    def _obs(self, agent):
        return np.array([self.t, self.possible_agents.index(agent)], dtype=np.float32)

    def reset(self, seed=None, options=None):
        self.t, self.agents = 0, ["runner"]
        return {"runner": self._obs("runner")}, {"runner": {}}

    def step(self, actions):
        assert set(actions) == set(self.agents), (actions, self.agents)
        self.t += 1
        rewards = {agent: float(actions[agent]) + 10.0 * self.possible_agents.index(agent) for agent in self.agents}
        terminations = {agent: agent == "runner" and self.t == 3 for agent in self.agents}
        truncations = {agent: agent == "late" and self.t == 5 for agent in self.agents}
        if self.t == 2:
            self.agents = [*self.agents, "late"]
            rewards["late"], terminations["late"], truncations["late"] = 0.0, False, False
        observations = {agent: self._obs(agent) for agent in self.agents}
        self.agents = [a for a in self.agents if not (terminations[a] or truncations[a])]
        return observations, rewards, terminations, truncations, {agent: {} for agent in observations}


def test_pettingzoo_rows_masks_final_observations_and_statistics():
    envs = thrust.make(Relay, num_envs=2, seed=0)
    assert (envs.num_envs, envs.agents_per_env, envs.env_spec.backend) == (4, 2, "pettingzoo")
    obs, _ = envs.reset()
    np.testing.assert_array_equal(envs.row_masks, [True, False, True, False])
    np.testing.assert_array_equal(obs[1], [0, 0])  # an absent agent's row: zeros
    masks, rewards = [], []
    for _ in range(5):
        obs, reward, terminated, truncated, infos = envs.step(np.array([1, 2, 2, 0]))
        masks.append(envs.row_masks.copy())
        rewards.append(reward.copy())
        if envs.row_masks[1]:
            assert obs[1, 0] == envs.games[0].t
    # the mask after each step: "late" present from step 2 to its truncation at 5, "runner" until it ends at 3
    np.testing.assert_array_equal(np.array(masks)[:, :2], [[1, 0], [1, 1], [0, 1], [0, 1], [1, 0]])
    np.testing.assert_array_equal(np.array(rewards)[:, 1], [0, 0, 12, 12, 12])  # absent: no reward, its action unused
    np.testing.assert_array_equal(np.array(rewards)[:, 2], [2, 2, 2, 0, 0])
    # step 5: "late" truncated (final observation kept), the env reset in the same step ("runner" back, at step 0)
    assert truncated[1] and not terminated[1] and infos["_final_obs"][1]
    np.testing.assert_array_equal(infos["final_obs"][1], [5, 1])
    np.testing.assert_array_equal(obs[:2], [[0, 0], [0, 0]])
    assert infos["_episode"][1] and infos["episode"]["r"][1] == 36 and infos["episode"]["l"][1] == 3
    metrics = envs.episode_metrics()
    assert metrics == {"charts/episodic_return/runner": 3 * 1.5, "charts/episodic_return/late": 36 - 3,
                       "charts/team_return": (3 + 36 + 6 + 30) / 2}
    assert envs.episode_metrics() == {}  # drained


def test_pettingzoo_absent_agents_actions_do_not_matter_and_seeds_repeat():
    def run(seed: int) -> np.ndarray:
        envs = thrust.make(meet_parallel_env, num_envs=3)
        envs.reset(seed=seed)
        rng = np.random.default_rng(0)
        return np.array([envs.step(rng.integers(0, 5, envs.num_envs))[0].copy() for _ in range(40)])

    np.testing.assert_array_equal(run(7), run(7))
    assert not np.array_equal(run(7), run(8))
    # Relay checks that only present agents get actions; the absent rows' actions change nothing
    plain, junked = thrust.make(Relay, num_envs=1), thrust.make(Relay, num_envs=1)
    plain.reset(), junked.reset()
    for _ in range(12):
        absent = ~junked.row_masks
        first = plain.step(np.array([1, 2]))
        second = junked.step(np.where(absent, [0, 0], [1, 2]))
        for a, b in zip(first[:4], second[:4], strict=True):
            np.testing.assert_array_equal(a, b)


def test_pettingzoo_errors_name_what_is_wrong():
    class Mixed(Relay):
        def observation_space(self, agent):
            return gym.spaces.Box(0.0, 1.0, (2 if agent == "runner" else 3,), dtype=np.float32)

    with pytest.raises(ValueError, match="different observation spaces.*pad_observations_v0"):
        thrust.make(Mixed, num_envs=2)
    class Stranger(Relay):
        def reset(self, seed=None, options=None):
            return {"stranger": np.zeros(2, np.float32)}, {}

    with pytest.raises(ValueError, match="'stranger' that is not in its possible_agents"):
        thrust.make(Stranger, num_envs=1).reset()
    with pytest.raises(TypeError, match="must return a PettingZoo ParallelEnv"):
        thrust.make(lambda: object(), num_envs=2)
    with pytest.raises(ValueError, match="runs in this process on the CPU"):
        thrust.make(Relay, num_envs=2, backend="multiprocessing")
    with pytest.raises(ValueError, match="normalize_obs and normalize_reward"):
        thrust.PPO(thrust.make(Relay, num_envs=4), normalize_obs=True)


def test_native_multi_agent_harness():
    envs = thrust.make("Meet-v0", num_envs=3, seed=0)
    assert (envs.num_envs, envs.agents_per_env, envs.agent_names) == (6, 2, ["walker_0", "walker_1"])
    envs.reset()
    envs.states[0] = [0, 0, 3, 0]  # env 0: the walkers three cells apart on a row
    envs.states[1] = [0, 0, 6, 6]
    obs, rewards, terminated, truncated, infos = envs.step(np.array([4, 3, 0, 0, 0, 0]))  # env 0: towards each other
    np.testing.assert_allclose(rewards[:4], [1, 1, -0.03, -0.03], rtol=1e-6)
    np.testing.assert_array_equal(terminated[:4], [True, True, False, False])
    np.testing.assert_allclose(infos["final_obs"][0], [-2 / 3, -1, -1 / 3, -1], atol=1e-6)  # (1, 0) and (2, 0)
    np.testing.assert_allclose(obs[2], [-1, -1, 1, 1])  # each agent sees itself first
    np.testing.assert_allclose(obs[3], [1, 1, -1, -1])
    assert envs.row_masks.all() and infos["episode"]["r"][0] == 1
    metrics = envs.episode_metrics()
    assert metrics["charts/team_return"] == 2 and metrics["charts/episodic_return/walker_1"] == 1

    with pytest.raises(TypeError, match="agents must be a non-empty tuple"):
        class NoAgents(NativeMultiAgentVecEnv):
            single_observation_space, single_action_space, state_size = Meet.single_observation_space, \
                Meet.single_action_space, 1
    with pytest.raises(TypeError, match="step_env must take 4 arguments"):
        class WrongStep(NativeMultiAgentVecEnv):
            agents = ("a", "b")
            single_observation_space, single_action_space, state_size = Meet.single_observation_space, \
                Meet.single_action_space, 1
            reset_env, observe = staticmethod(Meet.reset_env), staticmethod(Meet.observe)

            @staticmethod
            def step_env(state, action, rng):
                return 0.0, False


def junk_rows(storage, rows: torch.Tensor, generator: torch.Generator) -> None:
    """Overwrite what `storage` holds at `rows` ([T, N] bool) with finite junk (valid actions)."""
    count = int(rows.sum())
    storage.obs[rows] = 50 * torch.randn((count, *storage.obs.shape[2:]), generator=generator)
    storage.actions[rows] = torch.randint(0, 3, (count,), generator=generator)
    storage.logprobs[rows] = torch.randn(count, generator=generator)
    for tensor in (storage.head_values, storage.head_rewards, storage.head_final_values):
        tensor[:, rows] = 100 * torch.randn((tensor.shape[0], count), generator=generator)


def assert_absent_rows_change_nothing(model, envs) -> None:
    """`model.update()` on the rollout in its storage: bit-identical weights and metrics with finite junk in the
    absent agents' rows, and (the control) different weights with junk in one present row."""
    storage = model.storage
    absent = storage.row_masks.logical_not()
    assert absent.any() and storage.row_masks.any()
    saved = {name: getattr(storage, name).clone() for name in
             ("obs", "actions", "logprobs", "head_values", "head_rewards", "head_final_values", "next_obs")}
    start = (copy.deepcopy(model.policy.state_dict()), copy.deepcopy(model.optimizer.state_dict()),
             model.generator.get_state())
    absent_next = torch.from_numpy(~envs.row_masks)

    def update(junk: torch.Tensor | None) -> tuple[list[torch.Tensor], dict]:
        for name, tensor in saved.items():
            getattr(storage, name).copy_(tensor)
        model.policy.load_state_dict(start[0])
        model.optimizer.load_state_dict(start[1])
        model.generator.set_state(start[2])
        if junk is not None:
            junk_rows(storage, junk, torch.Generator().manual_seed(1))
            storage.next_obs[absent_next] = 1e3
        metrics = model.update()
        return [p.detach().clone() for p in model.policy.parameters()], metrics

    clean, clean_metrics = update(None)
    junked, junk_metrics = update(absent)
    assert all(torch.equal(a, b) for a, b in zip(clean, junked, strict=True))
    assert clean_metrics == junk_metrics
    one_present = torch.zeros_like(absent)
    one_present.view(-1)[int(storage.row_masks.view(-1).nonzero()[0])] = True
    changed, _ = update(one_present)  # the control: junk in one present row changes the update
    assert not all(torch.equal(a, b) for a, b in zip(clean, changed, strict=True))


def test_absent_rows_give_exactly_no_gradient():
    envs = thrust.make(Relay, num_envs=4)
    model = thrust.PPO(envs, seed=0, num_steps=16, num_minibatches=2, update_epochs=2, num_threads=1)
    model.collector.reset(envs, seed=0)
    model.collector.collect(envs)
    assert_absent_rows_change_nothing(model, envs)


@pytest.mark.parametrize("algorithm, options", [(thrust.APPO, dict(num_minibatches=2, update_epochs=2)),
                                               (thrust.IMPALA, {})], ids=["appo", "impala"])
def test_actor_learners_absent_rows_give_exactly_no_gradient(algorithm, options):
    envs = thrust.make(Relay, num_envs=4)
    model = algorithm(envs, seed=0, num_steps=16, asynchronous=False, num_threads=1, **options)
    model.collector.reset(model.envs, seed=0)
    model.collector.collect(model.envs)
    model.envs.stop()
    assert_absent_rows_change_nothing(model, envs)
    model.close()


@pytest.mark.parametrize("seed", [3, 4])
def test_appo_learns_the_cooperative_meet_task(seed):
    model = thrust.APPO("Meet-v0", seed=seed, num_envs=16, num_steps=32, total_timesteps=16384, learning_rate=3e-3,
                        asynchronous=False, num_threads=1)
    untrained = thrust.evaluate(model, num_episodes=64)["mean_return"]
    model.learn()
    assert thrust.evaluate(model, num_episodes=64)["mean_return"] > 0.85 > untrained
    model.close()


def meet_return(model: thrust.PPO) -> float:
    log = []
    model.learn(callback=lambda m, metrics: log.append(metrics.get("charts/team_return", np.nan)))
    return float(np.nanmean(log[-3:]))


@pytest.mark.parametrize("seed", [3, 4])
def test_ppo_learns_the_cooperative_meet_task(seed):
    model = thrust.PPO("Meet-v0", seed=seed, num_envs=16, num_steps=32, total_timesteps=16384,
                       learning_rate=3e-3, num_threads=1)
    untrained = thrust.evaluate(model, num_episodes=64)["mean_return"]
    assert meet_return(model) > 1.7  # of 2: both meet in a few steps (random walkers: about 0)
    assert thrust.evaluate(model, num_episodes=64)["mean_return"] > 0.85 > untrained


def test_self_play_beats_random_play():
    selfplay = SelfPlay(thrust.make("Race-v0", num_envs=32), snapshot_every=3, seed=3)
    model = thrust.PPO(selfplay, seed=3, num_steps=32, total_timesteps=20480, learning_rate=3e-3, num_threads=1)
    assert win_rate(model.policy, selfplay.games.env_spec, seed=11) < 0.3  # untrained
    log = []

    def callback(model, metrics):
        selfplay.callback(model, metrics)
        log.append(metrics)

    model.learn(callback=callback)
    assert len(selfplay.pool) == 6 and log[-1]["selfplay/pool_size"] == 6
    assert log[-1]["selfplay/win_rate_vs_random"] >= 0.9 and 0 <= log[-1]["selfplay/draw_rate"] <= 1
    assert win_rate(model.policy, selfplay.games.env_spec, seed=11, num_games=400) >= 0.9
    with pytest.raises(ValueError, match="two-agent VecEnv"):
        SelfPlay(thrust.make("CartPole-v1", num_envs=2))


@pytest.mark.parametrize("algorithm, env_id", [("ppo", "thrust.envs.meet_parallel:parallel_env"),
                                               ("ppo", "Meet-v0"), ("appo", "Meet-v0")])
def test_thrust_train_on_multi_agent_envs(tmp_path, algorithm, env_id):
    run_dir = tmp_path / "run"
    assert main(["train", algorithm, "--env", env_id, "--num-envs", "4", "--num-steps", "32", "--total-timesteps",
                 "256", "--update-epochs", "1", "--run-dir", str(run_dir), "--eval-episodes", "4", "--no-plot",
                 "--quiet"]) == 0
    with open(run_dir / "progress.csv") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 2 and float(rows[-1]["global_step"]) == 256
    assert {"charts/team_return", "charts/episodic_return/walker_0", "charts/episodic_return/walker_1"} <= set(rows[0])
    model = thrust.load(run_dir / "checkpoint.pt")
    assert model.storage.num_envs == 8 and model.storage.row_masks is not None


def test_masked_ppo_loss_is_the_loss_of_the_present_rows():
    from thrust.algorithms.ppo import PPOConfig, ppo_loss

    generator = torch.Generator().manual_seed(0)
    ratio, entropy, new_values, advantages, returns, old_values = (
        torch.rand(64, generator=generator) + 0.5 for _ in range(6))
    mask = torch.rand(64, generator=generator) < 0.6
    for clip_vloss in (True, False):
        config = PPOConfig(clip_vloss=clip_vloss)
        present = ppo_loss(ratio[mask], entropy[mask], new_values[mask], advantages[mask], returns[mask],
                           old_values[mask], config)
        masked = ppo_loss(ratio, entropy, new_values, advantages, returns, old_values, config, mask=mask)
        for a, b in zip(present, masked, strict=True):
            torch.testing.assert_close(a, b)
        unmasked = ppo_loss(ratio, entropy, new_values, advantages, returns, old_values, config)
        assert not torch.allclose(unmasked[0], masked[0])


def test_pettingzoo_ids_name_constructors_or_env_modules():
    for env_id in ("thrust.envs.meet_parallel:parallel_env", "thrust.envs:meet_parallel"):
        envs = thrust.make(env_id, num_envs=2, seed=0)
        assert envs.env_spec.id == env_id and envs.env_spec.backend == "pettingzoo" and envs.num_envs == 4
        again = thrust.make(envs.env_spec, num_envs=3)  # the spec makes them again
        assert again.num_envs == 6 and again.env_spec.id == env_id
    with pytest.raises(gym.error.NameNotFound, match="unknown env id"):
        thrust.make("thrust.envs.meet_parallel:nothing_here")


class Opposites(ParallelEnv):
    """Team "left" is rewarded for action 0, team "right" for action 1, from the same observation: one shared
    policy earns at most 0.5 per step on average, a policy per team 1."""

    metadata = {"name": "opposites"}
    possible_agents = ["left_0", "left_1", "right_0"]

    def observation_space(self, agent):
        return gym.spaces.Box(0.0, 1.0, (1,), dtype=np.float32)

    def action_space(self, agent):
        return gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        self.t, self.agents = 0, list(self.possible_agents)
        return {agent: np.zeros(1, np.float32) for agent in self.agents}, {agent: {} for agent in self.agents}

    def step(self, actions):
        self.t += 1
        rewards = {agent: float(actions[agent] == (0 if agent.startswith("left") else 1)) for agent in self.agents}
        done = {agent: self.t == 4 for agent in self.agents}
        observations = {agent: np.zeros(1, np.float32) for agent in self.agents}
        if self.t == 4:
            self.agents = []
        return observations, rewards, {a: False for a in done}, done, {agent: {} for agent in observations}


def test_team_policies_route_every_row_to_its_team_network():
    from thrust.teams import TeamActorCritic, teams_of

    assert teams_of(["predator_0", "predator_1", "prey", "prey_x_2"]) == (["predator", "prey", "prey_x"], [0, 0, 1, 2])
    model = thrust.PPO(thrust.make(Opposites, num_envs=2), seed=0, team_policies=True, num_threads=1)
    policy = model.policy
    assert isinstance(policy, TeamActorCritic) and len(policy.networks) == 2
    obs = torch.randn(6, 1, generator=torch.Generator().manual_seed(0))
    left, right = torch.tensor([0, 1, 3, 4]), torch.tensor([2, 5])  # rows of agents left_0, left_1; right_0
    expected = torch.zeros(6)
    expected[left], expected[right] = policy.networks[0].value(obs[left]), policy.networks[1].value(obs[right])
    torch.testing.assert_close(policy.value(obs), expected, rtol=0, atol=0)
    order = torch.tensor([5, 0, 2, 3])  # some rows, in another order
    torch.testing.assert_close(policy.value(obs[order], rows=order), expected[order])
    assert not torch.allclose(policy.value(obs[order]), expected[order])  # without rows: taken for rows 0-3
    with pytest.raises(ValueError, match="need a multi-agent env"):
        thrust.PPO("CartPole-v1", team_policies=True)


def test_team_policies_learn_what_a_shared_policy_cannot():
    returns = {}
    for teams in (False, True):
        model = thrust.PPO(thrust.make(Opposites, num_envs=8), seed=1, team_policies=teams, num_steps=16,
                           learning_rate=1e-2, total_timesteps=4096, num_threads=1)
        last = {}
        model.learn(callback=lambda m, metrics, last=last: last.update(metrics))
        returns[teams] = {key: last[f"charts/episodic_return/{key}"] for key in ("left_0", "right_0")}
        path = Path(tempfile.mkdtemp()) / "model.pt"
        model.save(path)
        assert type(thrust.load(path, env=thrust.make(Opposites, num_envs=8)).policy) is type(model.policy)
    assert min(returns[True].values()) > 3.5  # of 4: each team takes its own action
    assert min(returns[False].values()) < 3  # one policy for both: one team at least loses


def test_a_native_env_class_is_no_pettingzoo_constructor():
    with pytest.raises(gym.error.NameNotFound, match="unknown env id 'thrust.envs.meet:Meet'"):
        thrust.make("thrust.envs.meet:Meet", num_envs=2)
