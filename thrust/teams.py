"""Per-team policies: one actor-critic network per team of agents, each acting for its own agents' rows.

In a multi-agent env (agents as rows, `thrust.vector.multiagent`) agents share one network by default. With
teams (`thrust.PPO(..., team_policies=True)`), agents are grouped by the prefix of their names before the
last "_" ("predator_0", "predator_1" → "predator"; a name without "_" is a team of its own) and each team
gets a network of its own, trained only on its agents' samples.

Row `r` of a batch that holds every row in order (a rollout step) is agent `r % A`; a batch in any other order
(a minibatch, some rows) comes with `rows`, the row each sample is. `TeamActorCritic` answers the calls the
collector and the algorithms make of an `ActorCritic`, splitting the batch by team and putting the answers
back in the batch's order.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from thrust.policies import ActorCritic


def teams_of(agent_names: list[str]) -> tuple[list[str], list[int]]:
    """The teams (in the order they first appear) and each agent's team index."""
    names = [agent.rpartition("_")[0] or agent for agent in agent_names]
    teams = list(dict.fromkeys(names))
    return teams, [teams.index(name) for name in names]


class TeamActorCritic(nn.Module):
    """One `ActorCritic` from `make_network()` per team of `agent_names` (see the module docstring).

    Feed-forward only: a recurrent state per row would have to follow its row through every split.
    """

    def __init__(self, make_network: Callable[[], ActorCritic], agent_names: list[str]) -> None:
        super().__init__()
        self.teams, agent_team = teams_of(agent_names)
        self.networks = nn.ModuleList(make_network() for _ in self.teams)
        if self.networks[0].state_shape is not None:
            raise ValueError("per-team policies are feed-forward: train them without recurrent")
        self.register_buffer("agent_team", torch.tensor(agent_team), persistent=False)
        self.state_shape = None

    def initial_state(self, batch: int, device: torch.device | str | None = None) -> None:
        """None: feed-forward."""
        return None

    def _split(self, batch: int, rows: torch.Tensor | None, device: torch.device) -> list[torch.Tensor]:
        """Per team, the positions in the batch of its agents' samples."""
        rows = torch.arange(batch, device=device) if rows is None else rows
        team = self.agent_team[rows % len(self.agent_team)]
        return [(team == index).nonzero().flatten() for index in range(len(self.networks))]

    def _each(self, batch: int, rows: torch.Tensor | None, device: torch.device,
              call: Callable[[ActorCritic, torch.Tensor], tuple[torch.Tensor, ...]]) -> tuple[torch.Tensor, ...]:
        """`call(network, positions)` for every team with samples, the answers put back in the batch's order."""
        parts = [(positions, call(network, positions))
                 for network, positions in zip(self.networks, self._split(batch, rows, device), strict=True)
                 if len(positions)]
        inverse = torch.cat([positions for positions, _ in parts]).argsort()
        return tuple(torch.cat(answers)[inverse] for answers in zip(*(answer for _, answer in parts), strict=True))

    def act(self, obs: torch.Tensor, generator: torch.Generator | None = None, state: None = None,
            rows: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`(action, log_prob, value)`, each row's from its team's network (see `ActorCritic.act`)."""
        return self._each(len(obs), rows, obs.device, lambda net, at: net.act(obs[at], generator))

    def value(self, obs: torch.Tensor, state: None = None, rows: torch.Tensor | None = None) -> torch.Tensor:
        """V(obs), each row's from its team's network."""
        return self._each(len(obs), rows, obs.device, lambda net, at: (net.value(obs[at]),))[0]

    def deterministic_action(self, obs: torch.Tensor, state: None = None,
                             rows: torch.Tensor | None = None) -> torch.Tensor:
        """The mode of each row's team's policy."""
        return self._each(len(obs), rows, obs.device, lambda net, at: (net.deterministic_action(obs[at]),))[0]

    def evaluate_sequences(self, obs: torch.Tensor, action: torch.Tensor, initial_state: None = None,
                           episode_starts: None = None, rows: torch.Tensor | None = None,
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`(log_prob, entropy, value)` of sequences of one step (`obs` `[1, B, ...]`), with gradient."""
        flat_obs, flat_action = obs.flatten(0, 1), action.flatten(0, 1)
        return self._each(len(flat_obs), rows, obs.device,
                          lambda net, at: net.evaluate(flat_obs[at], flat_action[at]))
