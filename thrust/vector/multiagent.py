"""What every multi-agent `VecEnv` shares: agents as rows, a mask of the rows that count, per-agent statistics.

A multi-agent VecEnv of `E` envs with `A` agents each (the PettingZoo backend, `thrust.vector.pettingzoo`;
native multi-agent envs, `thrust.envs.multiagent`) is a `VecEnv` of `E·A` rows: row `e·A + a` is agent `a`
of env `e`, so one policy forward serves every agent of every env (parameter sharing). Its `num_envs` is
the number of rows, as for any VecEnv; `agents_per_env` says how many of them one env holds.

`row_masks[r]` is true where agent `r` is present in the observation last returned: an agent not yet
spawned, already done, or waiting for its turn is absent, its action is ignored by the env, and the
training loop leaves its row out of the loss, the advantages and the statistics
(`RolloutStorage(row_masks=True)`). An agent whose episode ends is present at that step (its reward,
its `terminations`/`truncations` flag and its final observation are real) and absent from the next one
until it is present again; so no advantage ever reads an absent row.

Episode statistics: `infos["episode"]` holds one agent's episode (its return and length) where
`infos["_episode"]` is true, as for single-agent envs; `episode_metrics()` adds each agent's mean return
and the team's (the sum over an env's agents of one episode), since the last call.
"""

from __future__ import annotations

import numpy as np


class AgentStatistics:
    """Per-agent and team episode returns of `num_envs` envs with `agent_names`, summed until `drain`.

    `record` reads the rows of one step in place (with a preallocated scratch array): no allocation the size
    of the batch per step."""

    def __init__(self, agent_names: list[str], num_envs: int) -> None:
        self.agent_names = list(agent_names)
        self.return_sums = np.zeros(len(agent_names), dtype=np.float64)
        self.episode_counts = np.zeros(len(agent_names), dtype=np.int64)
        self.scratch = np.zeros((num_envs, len(agent_names)), dtype=np.float64)
        self.team_running = np.zeros(num_envs, dtype=np.float64)  # this episode's finished agents, per env
        self.team_sum, self.team_count = 0.0, 0

    def record(self, ended: np.ndarray, returns: np.ndarray, env_ended: np.ndarray) -> None:
        """One step: the agents `[E, A]` whose episodes ended (`ended`) with their `returns`, and the envs `[E]`
        whose episode ended (all their agents done)."""
        if not ended.any():
            return
        np.multiply(returns, ended, out=self.scratch)
        self.return_sums += self.scratch.sum(axis=0)
        self.episode_counts += ended.sum(axis=0)
        self.team_running += self.scratch.sum(axis=1)
        if env_ended.any():
            self.team_sum += float(self.team_running[env_ended].sum())
            self.team_count += int(env_ended.sum())
            self.team_running[env_ended] = 0.0

    def drain(self) -> dict[str, float]:
        """`charts/episodic_return/<agent>` and `charts/team_return` since the last call (where any ended)."""
        metrics = {
            f"charts/episodic_return/{name}": float(total / count)
            for name, total, count in zip(self.agent_names, self.return_sums, self.episode_counts, strict=True)
            if count
        }
        if self.team_count:
            metrics["charts/team_return"] = self.team_sum / self.team_count
        self.forget()
        return metrics

    def move_into(self, other: AgentStatistics) -> None:
        """Add the episodes ended here to `other`'s and forget them here (unfinished episodes run on here):
        how actor threads hand theirs to the learner with each segment."""
        other.return_sums += self.return_sums
        other.episode_counts += self.episode_counts
        other.team_sum += self.team_sum
        other.team_count += self.team_count
        self.forget()

    def forget(self) -> None:
        """Drop the ended episodes' sums (not the running team returns of unfinished ones)."""
        self.return_sums[:] = 0.0
        self.episode_counts[:] = 0
        self.team_sum, self.team_count = 0.0, 0


class MultiAgentRows:
    """Mixed into a `VecEnv` whose rows are agents: `agents_per_env`, `agent_names`, `row_masks`, `episode_metrics`.

    The VecEnv calls `init_agents` in its constructor, writes `row_masks` in `reset` and `step`, and feeds
    `statistics` as episodes end.
    """

    agents_per_env: int
    agent_names: list[str]
    row_masks: np.ndarray
    statistics: AgentStatistics

    def init_agents(self, agent_names: list[str], num_envs: int) -> None:
        """`num_envs` envs of `agent_names` (one row each, in this order)."""
        self.agents_per_env, self.agent_names = len(agent_names), list(agent_names)
        self.row_masks = np.ones(num_envs * len(agent_names), dtype=np.bool_)
        self.statistics = AgentStatistics(agent_names, num_envs)

    def episode_metrics(self) -> dict[str, float]:
        """Each agent's mean episode return and the team's, over the episodes ended since the last call."""
        return self.statistics.drain()


def agents_per_env(envs: object) -> int:
    """Rows per env of `envs`: its agents for a multi-agent VecEnv, else 1."""
    return envs.agents_per_env if isinstance(envs, MultiAgentRows) else 1
