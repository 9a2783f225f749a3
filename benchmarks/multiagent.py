"""Multi-agent throughput: the native Meet-v0 against the same task through PettingZoo's Parallel API, and PPO.

- **Env agent-steps/s** under random actions (drawn before timing): the native multi-agent env
  (`thrust.make("Meet-v0", num_envs=E)`, numba kernels), the same task as a PettingZoo ParallelEnv
  (`thrust.envs.meet_parallel`) through Thrust's PettingZoo backend (`thrust.make(parallel_env, num_envs=E)`,
  agents as rows), and one such ParallelEnv stepped bare with dict actions (PettingZoo's own loop, no batching).
- **PPO SPS** (env steps/s; agent-steps are 2×) training on each of the two batched versions, same settings.
One run each, in this process.

    python benchmarks/multiagent.py            # ~1 minute
    python benchmarks/multiagent.py --quick    # shorter
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import thrust  # noqa: E402
from thrust.envs.meet_parallel import parallel_env  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workers import machine_info  # noqa: E402

PETTINGZOO_ID = "thrust.envs.meet_parallel:parallel_env"


def batched_agent_steps_per_second(env_id: str, num_envs: int, seconds: float) -> float:
    """Agent-steps/s of `thrust.make(env_id, num_envs)` (rows are agents) under random actions."""
    envs = thrust.make(env_id, num_envs=num_envs, seed=0)
    actions = np.random.default_rng(0).integers(0, 5, (16, envs.num_envs))
    envs.reset()
    envs.step(actions[0])  # warm-up (compiles a native env's kernels when not cached)
    steps, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        envs.step(actions[steps % 16])
        steps += 1
    envs.close()
    return steps * envs.num_envs / elapsed


def bare_agent_steps_per_second(seconds: float) -> float:
    """Agent-steps/s of one Meet ParallelEnv stepped by PettingZoo's own loop (dict actions, reset when done)."""
    env = parallel_env()
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    agent_steps, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        env.step({agent: int(rng.integers(5)) for agent in env.agents})
        agent_steps += 2
        if not env.agents:
            env.reset()
    return agent_steps / elapsed


def ppo_sps(env_id: str, num_envs: int, steps: int) -> tuple[float, float]:
    """PPO's env steps/s on `env_id` (after one warm-up iteration) and its final team return."""
    model = thrust.PPO(env_id, seed=1, num_envs=num_envs, num_steps=64, learning_rate=3e-3, total_timesteps=steps)
    returns: list[float] = []
    model.learn(total_timesteps=num_envs * 64)  # warm-up: numba and torch's first calls
    start, done = time.perf_counter(), model.global_step
    model.learn(total_timesteps=steps, callback=lambda m, metrics: returns.append(metrics.get("charts/team_return")))
    sps = (model.global_step - done) / (time.perf_counter() - start)
    model.close()
    return sps, next((r for r in reversed(returns) if r is not None), float("nan"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timings and training")
    args = parser.parse_args()
    seconds, ppo_steps = (0.5, 8192) if args.quick else (2.0, 32768)
    native_envs, pettingzoo_envs = 4096, 64
    native = batched_agent_steps_per_second("Meet-v0", native_envs, seconds)
    print(f"native: {native:,.0f} agent-steps/s", file=sys.stderr, flush=True)
    pettingzoo = batched_agent_steps_per_second(PETTINGZOO_ID, pettingzoo_envs, seconds)
    print(f"pettingzoo backend: {pettingzoo:,.0f} agent-steps/s", file=sys.stderr, flush=True)
    bare = bare_agent_steps_per_second(seconds)
    print(f"bare pettingzoo: {bare:,.0f} agent-steps/s", file=sys.stderr, flush=True)
    ppo = {name: ppo_sps(env_id, 16, ppo_steps) for name, env_id in (("native", "Meet-v0"),
                                                                     ("PettingZoo", PETTINGZOO_ID))}

    print("### Multi-agent: native Meet-v0 against the same task through PettingZoo's Parallel API\n")
    print(f"Machine: {machine_info()}  ")
    print(f"Command: `python benchmarks/multiagent.py{' --quick' if args.quick else ''}`, one run each, "
          f"random actions drawn before timing, {seconds:g} s per env figure\n")
    print("| env | envs × agents | agent-steps/s | vs the PettingZoo backend |")
    print("|---|---|---|---|")
    print(f"| native `Meet-v0` (numba) | {native_envs} × 2 | {native:,.0f} | {native / pettingzoo:,.0f}× |")
    print(f"| PettingZoo ParallelEnv, Thrust's backend (agents as rows) | {pettingzoo_envs} × 2 | {pettingzoo:,.0f} "
          f"| 1.00× |")
    print(f"| PettingZoo ParallelEnv, bare loop (dict actions) | 1 × 2 | {bare:,.0f} | {bare / pettingzoo:.2f}× |")
    print(f"\nPPO on each (16 envs × 2 agents, 64 steps per rollout, {ppo_steps:,} env steps after one warm-up "
          "iteration; SPS counts env steps, each 2 agent-steps):\n")
    print("| env | PPO SPS (env steps/s) | agent-steps/s | team return at the end (of 2) |")
    print("|---|---|---|---|")
    for name, (sps, team_return) in ppo.items():
        print(f"| {name} | {sps:,.0f} | {2 * sps:,.0f} | {team_return:.2f} |")


if __name__ == "__main__":
    main()
