"""Self-play for two-player games: the learner against frozen snapshots of itself.

`SelfPlay(games)` turns a two-agent VecEnv (`thrust.make("Race-v0", num_envs=E)`: `E × 2` rows, every agent
acting at every step) into a single-agent VecEnv of `E` rows, the learner's seat (agent 0) of each game. The
other seat is played by the opponent: uniformly random actions until the first snapshot, then a frozen copy
of the learner's policy from the pool of snapshots, drawn at random (each iteration, one for every game).
`callback` (give it to `learn`) adds a snapshot every `snapshot_every` iterations (the oldest leaves a full
pool of `pool_size`), measures the learner's win rate against a random player on fresh games, and draws the
next opponent:

    selfplay = SelfPlay(thrust.make("Race-v0", num_envs=32), snapshot_every=5)
    model = thrust.PPO(selfplay, seed=1)
    model.learn(callback=selfplay.callback)
    win_rate(model.policy, selfplay.games.env_spec)   # against random play

`episode_metrics()` (read by the training loop each iteration) reports `selfplay/win_rate` and
`selfplay/draw_rate` against the opponents of the last iteration, `selfplay/win_rate_vs_random` at the last
snapshot and `selfplay/pool_size`. A game is won by the seat with the higher episode return (zero-sum games:
a positive return). Both seats share the observation convention (each sees itself first), so one policy plays
either; the learner always sits in seat 0, which symmetric games (Race-v0) make no loss.
"""

from __future__ import annotations

import copy
from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from thrust.env_factory import make
from thrust.policies import ActorCritic
from thrust.vector.base import VecEnv
from thrust.vector.multiagent import MultiAgentRows
from thrust.vector.spec import EnvSpec


def check_two_player(games: object) -> None:
    """`ValueError` unless `games` is a two-agent VecEnv with a Discrete action space (random play needs one)."""
    if not isinstance(games, MultiAgentRows) or games.agents_per_env != 2:
        raise ValueError(f"self-play needs a two-agent VecEnv (e.g. thrust.make('Race-v0', num_envs=E)), got "
                         f"{type(games).__name__}" + (f" with {games.agents_per_env} agents per env"
                                                      if isinstance(games, MultiAgentRows) else ""))
    if not isinstance(games.single_action_space, gym.spaces.Discrete):
        raise ValueError(f"self-play's random opponent needs a Discrete action space, got {games.single_action_space}")


class SelfPlay(VecEnv):
    """Seat 0 of every game of `games`, for the learner; seat 1 played by the opponent (see the module docstring).

    `seed` seeds the random opponent and the draws from the pool.
    """

    def __init__(self, games: VecEnv, snapshot_every: int = 5, pool_size: int = 8, seed: int = 0) -> None:
        check_two_player(games)
        if snapshot_every < 1 or pool_size < 1:
            raise ValueError(f"snapshot_every and pool_size must be >= 1, got {snapshot_every} and {pool_size}")
        self.games, self.snapshot_every = games, snapshot_every
        num_games = games.num_envs // 2
        super().__init__(games.single_observation_space, games.single_action_space, num_games,
                         env_spec=EnvSpec(id=games.env_spec.id, backend="custom", seed=games.env_spec.seed))
        self.pool: deque[dict[str, torch.Tensor]] = deque(maxlen=pool_size)
        self.opponent: ActorCritic | None = None  # None: random play
        self.rng = np.random.default_rng(seed)
        self.generator = torch.Generator().manual_seed(seed)
        self.game_actions = np.zeros(games.num_envs, dtype=np.int64)
        self.results = np.zeros(3, dtype=np.int64)  # wins, draws, losses since the last episode_metrics()
        self.win_rate_vs_random = float("nan")

    # -- the learner's view ----------------------------------------------------------------------------

    def _copy_learner_rows(self) -> None:
        for name in ("observations", "rewards", "terminations", "truncations", "final_observations", "final_mask",
                     "episode_returns", "episode_lengths"):
            np.copyto(self.buffers[name], self.games.buffers[name][0::2])

    def _reset(self, seed: int | None, options: dict[str, Any] | None) -> None:
        self.games.reset(seed=seed, options=options)
        self._copy_learner_rows()

    def _send(self, actions: Any, env_ids: np.ndarray | None) -> None:
        if env_ids is not None and not np.array_equal(env_ids, np.arange(self.num_envs)):
            raise ValueError("self-play steps all games at once: pass env_ids=None")
        self.game_actions[0::2] = actions
        self.game_actions[1::2] = self.opponent_actions(self.games.observations[1::2])

    def _recv(self):
        self.games.step(self.game_actions)
        self._copy_learner_rows()
        ended = self.final_mask
        if ended.any():
            mine, theirs = self.episode_returns[ended], self.games.episode_returns[1::2][ended]
            self.results += ((mine > theirs).sum(), (mine == theirs).sum(), (mine < theirs).sum())
        return self.observations, self.rewards, self.terminations, self.truncations, self.infos, \
            np.arange(self.num_envs)

    def opponent_actions(self, observations: np.ndarray) -> np.ndarray:
        """Seat 1's actions: the opponent's stochastic policy, or uniform random play before any snapshot."""
        if self.opponent is None:
            return self.rng.integers(self.single_action_space.n, size=len(observations))
        with torch.no_grad():
            return self.opponent.act(torch.from_numpy(observations).float(), self.generator)[0].numpy()

    def close_extras(self, **kwargs: Any) -> None:
        self.games.close()

    # -- the pool ----------------------------------------------------------------------------------------

    def callback(self, model: Any, metrics: dict[str, float]) -> None:
        """After every iteration of `model.learn`: every `snapshot_every` iterations, a snapshot of `model.policy`
        joins the pool and the win rate against random play is measured; then the next opponent is drawn."""
        if model.iteration % self.snapshot_every == 0:
            self.pool.append({key: value.detach().cpu().clone() for key, value in model.policy.state_dict().items()})
            self.win_rate_vs_random = win_rate(model.policy, self.games.env_spec, seed=int(self.rng.integers(2**31)))
            if self.opponent is None:
                self.opponent = copy.deepcopy(model.policy).cpu().eval()
        if self.pool:
            self.opponent.load_state_dict(self.pool[int(self.rng.integers(len(self.pool)))])

    def episode_metrics(self) -> dict[str, float]:
        """Win and draw rates against the opponents since the last call, the last win rate against random play,
        the pool's size."""
        games = int(self.results.sum())
        metrics = {"selfplay/pool_size": float(len(self.pool)), "selfplay/win_rate_vs_random": self.win_rate_vs_random}
        if games:
            metrics["selfplay/win_rate"] = float(self.results[0] / games)
            metrics["selfplay/draw_rate"] = float(self.results[1] / games)
        self.results[:] = 0
        return metrics


def win_rate(policy: ActorCritic, game_spec: EnvSpec, num_games: int = 200, seed: int = 0,
             opponent: ActorCritic | None = None, deterministic: bool = True) -> float:
    """The fraction of `num_games` fresh games (of `game_spec`, one episode each) that `policy` wins from seat 0,
    against `opponent` (None: uniformly random play): the first episode of every game, to its end."""
    games = make(game_spec, num_envs=num_games, seed=seed)
    try:
        check_two_player(games)
        rng, generator = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
        device = next(policy.parameters()).device
        actions = np.zeros(games.num_envs, dtype=np.int64)
        result = np.zeros(num_games, dtype=np.int64)  # 0: playing, 1: won, 2: drawn or lost
        observations, _ = games.reset()
        while not result.all():
            with torch.no_grad():
                mine = torch.from_numpy(observations[0::2]).float().to(device)
                actions[0::2] = (policy.deterministic_action(mine) if deterministic
                                 else policy.act(mine, generator)[0]).cpu().numpy()
                actions[1::2] = rng.integers(games.single_action_space.n, size=num_games) if opponent is None \
                    else opponent.act(torch.from_numpy(observations[1::2]).float(), generator)[0].numpy()
            observations, *_, infos = games.step(actions)
            ended = infos["_episode"][0::2] & (result == 0)
            won = infos["episode"]["r"][0::2] > infos["episode"]["r"][1::2]
            result[ended] = np.where(won[ended], 1, 2)
        return float((result == 1).mean())
    finally:
        games.close()
