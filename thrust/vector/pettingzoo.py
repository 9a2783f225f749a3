"""The PettingZoo backend: `E` PettingZoo `ParallelEnv`s stepped in this process, agents as rows.

Row `e·A + a` is agent `possible_agents[a]` of env `e` (see `thrust.vector.multiagent`). Each step hands
every present agent its row's action; the rows of agents that are absent (not yet in `env.agents`, or
removed from it after their termination or truncation) get zero observations, zero rewards and
`row_masks` false. When an env has no agents left it resets in the same step (same-step autoreset): the
rows then hold its next episode's first observations, and the final ones are in `final_observations`
(where `final_mask`). `reset(seed=s)` seeds env `e` with `s + e`; its later episodes continue the env's
own random stream.

Thrust shares one network across an env's agents, so every agent must have the same observation space
and the same action space. Agents with different spaces get a `ValueError`: pad them to one first, e.g.
with SuperSuit's `pad_observations_v0` and `pad_action_space_v0` (which wrap a ParallelEnv:
`lambda: pad_action_space_v0(pad_observations_v0(my_env()))`), or give the agents spaces of one shape.
An `AECEnv` (turn by turn) goes through `pettingzoo.utils.conversions.aec_to_parallel` first.

`pettingzoo` itself is not imported: any object with PettingZoo's Parallel API is stepped.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from thrust.vector.base import VecEnv
from thrust.vector.multiagent import MultiAgentRows
from thrust.vector.spec import EnvSpec, check_backend


def constructor_from_id(env_id: str) -> Callable[..., Any] | None:
    """The ParallelEnv constructor `env_id` names as "module:attribute" (the attribute callable, or a PettingZoo
    env module with a `parallel_env` function, as PettingZoo's own are: "pettingzoo.butterfly:pistonball_v6");
    None otherwise."""
    module_name, colon, attribute = env_id.partition(":")
    if not colon or not attribute.isidentifier():
        return None
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    found = getattr(module, attribute, None)
    if found is None:
        try:
            found = importlib.import_module(f"{module_name}.{attribute}")
        except ImportError:
            return None
    found = getattr(found, "parallel_env", found)
    is_vec_env = isinstance(found, type) and issubclass(found, VecEnv)  # a native env class: found by its registered id
    return found if callable(found) and not is_vec_env else None


def id_of(constructor: Callable[..., Any]) -> str | None:
    """"module:qualname" of `constructor` when that names it back (then `thrust.make` can make it again)."""
    module, name = getattr(constructor, "__module__", None), getattr(constructor, "__qualname__", "")
    if module is None or not name.isidentifier():
        return None
    env_id = f"{module}:{name}"
    return env_id if constructor_from_id(env_id) is constructor else None


def check_parallel_env(env: Any, what: str) -> list[str]:
    """`env`'s `possible_agents`, after checking it has PettingZoo's Parallel API and one space for every agent."""
    if hasattr(env, "agent_iter") and hasattr(env, "last"):
        raise TypeError(f"{what} is a PettingZoo AECEnv (agents in turn); Thrust steps ParallelEnvs: wrap it with "
                        "pettingzoo.utils.conversions.aec_to_parallel")
    missing = [name for name in ("possible_agents", "observation_space", "action_space", "reset", "step")
               if not hasattr(env, name)]
    if missing:
        raise TypeError(f"{what} must return a PettingZoo ParallelEnv; got {type(env).__name__}, without {missing}")
    agents = list(env.possible_agents)
    if not agents:
        raise ValueError(f"{what}: the ParallelEnv has no possible_agents")
    for kind in ("observation_space", "action_space"):
        spaces = {agent: getattr(env, kind)(agent) for agent in agents}
        if any(space != spaces[agents[0]] for space in spaces.values()):
            listed = ", ".join(f"{agent}: {space}" for agent, space in spaces.items())
            raise ValueError(
                f"{what}: the agents have different {kind.replace('_', ' ')}s ({listed}). Thrust shares one network "
                "across agents, which needs one space: pad them to one, e.g. with SuperSuit's pad_observations_v0 "
                "and pad_action_space_v0 around the ParallelEnv"
            )
    return agents


class PettingZooVecEnv(MultiAgentRows, VecEnv):
    """`num_envs` ParallelEnvs from `env_fn(**env_kwargs)`, `num_envs × len(possible_agents)` rows."""

    def __init__(
        self, env_fn: Callable[..., Any], num_envs: int, env_spec: EnvSpec | None = None, **env_kwargs: Any
    ) -> None:
        what = f"the PettingZoo env constructor {getattr(env_fn, '__qualname__', env_fn)!r}"
        self.games = [env_fn(**env_kwargs) for _ in range(num_envs)]
        agents = check_parallel_env(self.games[0], what)
        first = self.games[0]
        env_spec = EnvSpec(id=id_of(env_fn), kwargs=env_kwargs, backend="pettingzoo") if env_spec is None \
            else check_backend(env_spec, "pettingzoo")
        super().__init__(first.observation_space(agents[0]), first.action_space(agents[0]), num_envs * len(agents),
                         env_spec=env_spec)
        self.init_agents(agents, num_envs)
        self.num_games = num_envs
        self.agent_index = {agent: a for a, agent in enumerate(agents)}
        self.running_returns = np.zeros(self.num_envs, dtype=np.float64)
        self.running_lengths = np.zeros(self.num_envs, dtype=np.int64)
        self.env_ended = np.zeros(num_envs, dtype=np.bool_)
        self._actions: Any = None

    def _row(self, e: int, agent: str) -> int:
        """The row of `agent` of env `e`; `ValueError` for an agent that is not one of `possible_agents`."""
        index = self.agent_index.get(agent)
        if index is None:
            raise ValueError(f"env {e} has an agent {agent!r} that is not in its possible_agents {self.agent_names}: "
                             "a ParallelEnv's possible_agents must list every agent that may appear")
        return e * self.agents_per_env + index

    def _rows(self, e: int, agents: Any) -> list[int]:
        return [self._row(e, agent) for agent in agents]

    def _write_start(self, e: int, observations: dict[str, Any]) -> None:
        """Env `e`'s rows at the start of an episode: its agents' first observations, the others zero and absent."""
        A = self.agents_per_env
        self.observations[e * A:(e + 1) * A] = 0
        self.row_masks[e * A:(e + 1) * A] = False
        for agent, obs in observations.items():
            row = self._row(e, agent)
            self.observations[row] = obs
            self.row_masks[row] = True

    def _reset(self, seed: int | None, options: dict[str, Any] | None) -> None:
        for e, game in enumerate(self.games):
            observations, _ = game.reset(seed=None if seed is None else seed + e, options=options)
            self._write_start(e, observations)
        self.running_returns[:] = 0.0
        self.running_lengths[:] = 0

    def _send(self, actions: Any, env_ids: np.ndarray | None) -> None:
        if env_ids is not None and not np.array_equal(env_ids, np.arange(self.num_envs)):
            raise ValueError("the PettingZoo backend steps all envs at once: pass env_ids=None")
        self._actions = actions

    def _recv(self):
        A, actions = self.agents_per_env, self._actions
        for name in ("rewards", "terminations", "truncations", "final_mask", "episode_mask"):
            self.buffers[name][:] = 0
        self.env_ended[:] = False
        for e, game in enumerate(self.games):
            present = list(game.agents)
            step_actions = {agent: actions[row] for agent, row in zip(present, self._rows(e, present), strict=True)}
            observations, rewards, terminations, truncations, _ = game.step(step_actions)
            for agent, obs in observations.items():
                row = self._row(e, agent)
                self.observations[row] = obs
                self.rewards[row] = rewards.get(agent, 0.0)
                self.terminations[row] = terminations.get(agent, False)
                self.truncations[row] = truncations.get(agent, False)
            for row in self._rows(e, present):
                self.running_returns[row] += self.rewards[row]
                self.running_lengths[row] += 1
                if self.terminations[row] or self.truncations[row]:
                    self.final_observations[row] = self.observations[row]
                    self.final_mask[row] = self.episode_mask[row] = True
                    self.episode_returns[row], self.episode_lengths[row] = self.running_returns[row], \
                        self.running_lengths[row]
                    self.running_returns[row], self.running_lengths[row] = 0.0, 0
            remaining = set(game.agents)
            for agent, a in self.agent_index.items():
                self.row_masks[e * A + a] = agent in remaining
                if agent not in remaining:
                    self.observations[e * A + a] = 0
            if not game.agents:  # every agent is done: the next episode starts in this step
                self.env_ended[e] = True
                observations, _ = game.reset()
                self._write_start(e, observations)
        self.statistics.record(self.episode_mask.reshape(self.num_games, A),
                               self.episode_returns.reshape(self.num_games, A), self.env_ended)
        return self.observations, self.rewards, self.terminations, self.truncations, self.infos, \
            np.arange(self.num_envs)

    def close_extras(self, **kwargs: Any) -> None:
        for game in self.games:
            game.close()
