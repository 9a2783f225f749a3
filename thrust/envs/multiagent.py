"""Native multi-agent envs: the native harness (`thrust.envs.native`) with `A` agents per env, agents as rows.

A native multi-agent env is a subclass of `NativeMultiAgentVecEnv` that declares `agents` (their names),
one observation space and one action space (every agent's: they share the policy), `state_size` float64
numbers of state per env, a time limit, and three static methods in numba's subset of Python:

    reset_env(state, rng)                      draw the env's initial state
    step_env(state, actions, rewards, rng) -> terminated
                                               advance `state` by the agents' `actions` (one per agent, [A]),
                                               adding each agent's reward into `rewards` ([A], zeroed first)
    observe(state, obs)                        write every agent's observation into `obs` ([A, ...])

It gets what single-agent native envs get (kernels parallel across envs, same-step autoreset, final
observations, time-limit truncation, seeding, debug mode, `state_dict`), over `num_envs × A` rows: row
`e·A + a` is agent `a` of env `e` (see `thrust.vector.multiagent`). An episode ends for all of an env's
agents at once (`terminated` or the time limit), so every agent is present at every step (`row_masks` stay
true); agents that come and go are the PettingZoo backend's (`thrust.vector.pettingzoo`). Episode statistics
per row are each agent's own return; `episode_metrics()` adds each agent's mean and the team's (their sum).
"""

from __future__ import annotations

from typing import Any, ClassVar

from thrust.envs.native import NativeVecEnv
from thrust.vector.multiagent import MultiAgentRows

# The kernels' loop body for env `i` (see `thrust.envs.native._STEP_BODY`); every per-row array is `[E, A]`.
_MULTI_AGENT_STEP_BODY = '''
        state = states[i]
        rng = rng_states[i]
        agent_rewards = rewards[i]
        for a in range(agent_rewards.shape[0]):
            agent_rewards[a] = 0.0
        terminated = {p}step_env(state, actions[i], agent_rewards, rng)
        running_lengths[i] += 1
        truncated = running_lengths[i] >= max_episode_steps
        ended = terminated or truncated
        for a in range(agent_rewards.shape[0]):
            running_returns[i, a] += agent_rewards[a]
            terminations[i, a] = terminated
            truncations[i, a] = truncated
            final_mask[i, a] = ended
        if ended:
            {p}observe(state, final_observations[i])
            for a in range(agent_rewards.shape[0]):
                episode_returns[i, a] = running_returns[i, a]
                episode_lengths[i, a] = running_lengths[i]
                running_returns[i, a] = 0.0
            running_lengths[i] = 0
            {p}reset_env(state, rng)
        {p}observe(state, observations[i])
'''


class NativeMultiAgentVecEnv(MultiAgentRows, NativeVecEnv, harness=True):
    """`num_envs` envs of `len(agents)` agents each, `num_envs × len(agents)` rows (see the module docstring).

    The constructor takes `NativeVecEnv`'s arguments; `num_envs` counts envs, not rows.
    """

    agents: ClassVar[tuple[str, ...]]
    env_functions: ClassVar[dict[str, tuple[str, ...]]] = {
        "reset_env": ("state", "rng"), "step_env": ("state", "actions", "rewards", "rng"), "observe": ("state", "obs"),
    }
    step_body: ClassVar[str] = _MULTI_AGENT_STEP_BODY
    step_returns_reward: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        agents = getattr(cls, "agents", None)
        if not isinstance(agents, tuple) or not agents or not all(isinstance(a, str) for a in agents) \
                or len(set(agents)) != len(agents):
            raise TypeError(f"{cls.__name__}.agents must be a non-empty tuple of distinct agent names (str), "
                            f"got {agents!r}")
        cls.agents_per_env = len(agents)
        super().__init_subclass__(**kwargs)

    def __init__(self, num_envs: int, **kwargs: Any) -> None:
        super().__init__(num_envs, **kwargs)
        self.init_agents(list(self.agents), num_envs)
        A = self.agents_per_env
        self._agent_episodes = self.episode_mask.reshape(num_envs, A)
        self._agent_returns = self.episode_returns.reshape(num_envs, A)

    def _recv(self):
        result = super()._recv()
        self.statistics.record(self._agent_episodes, self._agent_returns, self._agent_episodes[:, 0])
        return result
