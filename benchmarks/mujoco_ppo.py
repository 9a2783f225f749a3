"""PPO on MuJoCo (HalfCheetah-v5): Thrust at CleanRL's settings against a CleanRL-style ppo_continuous_action.py.

Each run is a fresh subprocess (torch threads, caches and RNGs never leak between runs) that trains for a fixed
number of env steps, learning included, and reports env steps per second of wall-clock time from before the
envs are made to the end of the last update (Python imports and numba compilation not counted: a warm-up
run caches Thrust's kernels first). The systems take turns in `--rounds` rounds; the ratio is the median
of each round's Thrust / CleanRL ratio (the shared machine's load drifts, and taking turns exposes both to it),
for wall-clock time and for CPU time (the process's, EnvPool's threads included), which other jobs on the cores
disturb less. Then the parts of a 1-env step, each timed on its own (`step_costs`).

- **Thrust, CleanRL's settings**: `thrust.PPO("HalfCheetah-v5")`, the preset (1 env × 2048 steps, 32
  minibatches, 10 epochs, lr 3e-4 annealed, γ 0.99, λ 0.95, observation and reward normalization);
- **CleanRL-style**: `benchmarks/peers/cleanrl_ppo_continuous.py`, the same settings through Gymnasium's
  wrappers and `torch.distributions.Normal`, as CleanRL's file does them;
- **Thrust, wall-clock preset**: `thrust.presets.PPO_WALL_CLOCK_PRESETS` (16 envs on EnvPool's threads, 8
  minibatches of 256), SPS only: whether it reaches CleanRL's returns at 1M steps is not measured here.

Both systems get the torch settings Thrust's PPO applies to itself (one intra-op thread, denormals flushed).

    python benchmarks/mujoco_ppo.py            # 3 rounds of 20,480 steps each (a few minutes)
    python benchmarks/mujoco_ppo.py --quick    # 1 round of 8,192 steps
    python benchmarks/mujoco_ppo.py --returns 150000   # both Thrust presets trained to the end: time, returns
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from workers import machine_info, spawn

ENV_ID = "HalfCheetah-v5"


def run_thrust(steps: int, wall_clock: bool) -> dict:
    import thrust
    from thrust.presets import PPO_WALL_CLOCK_PRESETS

    settings = dict(PPO_WALL_CLOCK_PRESETS[ENV_ID]) if wall_clock else {}
    start, cpu_start = time.perf_counter(), time.process_time()
    splits: list[dict] = []
    model = thrust.PPO(ENV_ID, seed=1, **settings)
    model.learn(callback=lambda m, metrics: splits.append(metrics) or m.global_step < steps)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    split = {key: sum(m[key] for m in splits) / seconds for key in ("time/env", "time/inference", "time/learning")}
    result = {"steps": model.global_step, "seconds": seconds, "cpu_seconds": cpu_seconds, **split,
              "num_envs": model.config.num_envs, "backend": model.env_spec.backend}
    model.close()
    return result


def run_cleanrl(steps: int) -> dict:
    import torch

    torch.set_num_threads(1)
    torch.set_flush_denormal(True)
    sys.path.insert(0, str(Path(__file__).parent / "peers"))
    import cleanrl_ppo_continuous

    start, cpu_start = time.perf_counter(), time.process_time()
    global_step, _ = cleanrl_ppo_continuous.train(ENV_ID, seed=1, total_timesteps=steps)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    return {"steps": global_step, "seconds": seconds, "cpu_seconds": cpu_seconds}


def run_to_the_end(steps: int, wall_clock: bool) -> dict:
    """A whole run of `steps` steps (its learning-rate schedule annealed over them): time, and the returns reached."""
    import numpy as np

    import thrust
    from thrust.presets import PPO_WALL_CLOCK_PRESETS

    settings = dict(PPO_WALL_CLOCK_PRESETS[ENV_ID]) if wall_clock else {}
    start, cpu_start = time.perf_counter(), time.process_time()
    model = thrust.PPO(ENV_ID, seed=1, **{**settings, "total_timesteps": steps})
    model.learn()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    evaluation = thrust.evaluate(model, num_episodes=5, seed=1000)
    result = {"steps": model.global_step, "seconds": seconds, "cpu_seconds": cpu_seconds,
              "last_20": float(np.mean(list(model.recent_returns)[-20:])), "greedy": evaluation["mean_return"]}
    model.close()
    return result


def step_costs(repeats: int = 2000) -> dict[str, float]:
    """CPU µs of each part of a 1-env rollout step of the preset, each timed in a loop of its own (best of 5
    loops): warmer caches than inside the rollout, so a floor rather than the rollout's own split; and of one
    gradient step of the preset's update (best of 5 updates)."""
    import numpy as np

    import thrust

    # the preset's settings spelled out, so that the same function times code from before the preset existed
    model = thrust.PPO(ENV_ID, seed=1, num_envs=1, num_steps=64, num_minibatches=4, normalize_obs=True,
                       normalize_reward=True)
    model.learn(callback=lambda m, metrics: False)
    collector, storage, envs = model.collector, model.storage, model.envs
    actions = envs.single_action_space.sample()[None]
    obs, rewards, terminations, truncations, infos = envs.step(actions)
    action, logprob, value = collector.policy.act(storage.obs[0], collector.generator)
    parts = {
        "env step (Gymnasium's HalfCheetah-v5 through the serial VecEnv)": lambda: envs.step(actions),
        "the policy's actor forward alone (64×64 MLP, batch 1)": lambda: collector.policy.deterministic_action(
            storage.obs[0]),
        "act: actor and critic forwards, Gaussian sample, log-prob": lambda: collector.policy.act(
            storage.obs[0], collector.generator),
        "env step and act, one after the other (the rows above in one loop)": lambda: (
            envs.step(actions), collector.policy.act(storage.obs[0], collector.generator)),
        "observation normalization (statistics and normalized row into storage)": lambda: collector.observe(
            obs, update_statistics=True, out=storage.obs[1]),
        "reward scaling": lambda: collector.reward_scaler(rewards, terminations | truncations),
        "action to the env (numpy, clipped)": lambda: collector.env_actions(action),
        "storage writes (action, log-prob, value, reward, 2 flags)": lambda: (
            storage.actions[0].copy_(action), storage.logprobs[0].copy_(logprob), storage.values[0].copy_(value),
            collector.to_device(rewards, "rewards", out=storage.rewards[0]),
            collector.to_device(terminations, "terminations", out=storage.terminations[0]),
            collector.to_device(truncations, "truncations", out=storage.truncations[0])),
        "episode bookkeeping (final values, episode statistics)": lambda: (
            collector.value_final_observations(0, infos, truncations & ~terminations, False),
            collector.record_episodes(0, infos, thrust.collector.RolloutStatistics(), False)),
    }
    costs = {}
    for name, part in parts.items():
        best = np.inf
        for _ in range(5):
            start = time.process_time()
            for _ in range(repeats):
                part()
            best = min(best, (time.process_time() - start) / repeats * 1e6)
        costs[name] = best
    model.close()
    # The update, per gradient step: the preset's 10 epochs × 32 minibatches of 64 on one rollout of 2048 steps.
    model = thrust.PPO(ENV_ID, seed=1, num_envs=1, num_steps=2048, num_minibatches=32, update_epochs=10,
                       normalize_obs=True, normalize_reward=True)
    model.learn(callback=lambda m, metrics: False)
    best = np.inf
    for _ in range(5):
        start = time.process_time()
        model.update()
        best = min(best, (time.process_time() - start) / 320 * 1e6)
    costs["update, per gradient step (minibatch of 64: forward, loss, backward, clipping, Adam; GAE shared)"] = best
    model.close()
    return costs


def worker(argv: list[str]) -> None:
    import torch._dynamo  # noqa: F401  (torch.optim imports it at the first optimizer: an import, not training)

    kind, steps = argv[0], int(argv[1])
    if kind == "costs":
        result = step_costs()
    elif kind.startswith("returns-"):
        result = run_to_the_end(steps, wall_clock=kind == "returns-wall-clock")
    else:
        result = run_cleanrl(steps) if kind == "cleanrl" else run_thrust(steps, wall_clock=kind == "wall-clock")
    print("RESULT " + json.dumps(result), flush=True)


def print_returns(steps: int) -> None:
    runs = {kind: spawn(__file__, f"returns-{kind}", str(steps)) for kind in ("preset", "wall-clock")}
    print(f"Command: `python benchmarks/mujoco_ppo.py --returns {steps}`: {ENV_ID}, seed 1, one run each in turn; "
          f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} at the end\n")
    print("| Thrust preset | steps | wall s | CPU s | last 20 training episodes | greedy evaluation (5 episodes) |")
    print("|---|---|---|---|---|---|")
    for kind, run in runs.items():
        print(f"| {kind} | {run['steps']:,} | {run['seconds']:.0f} | {run['cpu_seconds']:.0f} | {run['last_20']:.0f} | "
              f"{run['greedy']:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round of 8,192 steps")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20_480, help="env steps per run (a multiple of 2048)")
    parser.add_argument("--no-wall-clock", action="store_true", help="leave out the wall-clock preset's row")
    parser.add_argument("--returns", type=int, metavar="STEPS",
                        help="instead: whole runs of STEPS steps of both Thrust presets, their time and returns")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    if args.returns:
        print_returns(args.returns)
        return
    rounds, steps = (1, 8192) if args.quick else (args.rounds, args.steps)
    spawn(__file__, "thrust", "2048")  # warm-up: compiles and caches Thrust's numba kernels
    kinds = ["thrust", "cleanrl"] + ([] if args.no_wall_clock else ["wall-clock"])
    runs: dict[str, list[dict]] = {kind: [] for kind in kinds}
    for round_index in range(rounds):
        order = kinds if round_index % 2 == 0 else [kinds[1], kinds[0], *kinds[2:]]
        for kind in order:
            runs[kind].append(spawn(__file__, kind, str(steps)))
            print(f"round {round_index + 1} {kind}: {runs[kind][-1]}", file=sys.stderr, flush=True)

    def sps(run: dict, clock: str = "seconds") -> float:
        return run["steps"] / run[clock]

    def median_ratio(kind: str, clock: str) -> str:
        ratios = [sps(run, clock) / sps(peer, clock) for run, peer in zip(runs[kind], runs["cleanrl"], strict=True)]
        return f"{statistics.median(ratios):.2f}× ({', '.join(f'{ratio:.2f}' for ratio in ratios)})"

    labels = {"thrust": "Thrust PPO, CleanRL's settings (preset: 1 env × 2048 steps)",
              "cleanrl": "CleanRL-style ppo_continuous_action.py (benchmarks/peers)",
              "wall-clock": "Thrust PPO, wall-clock preset"}
    print(f"### PPO on {ENV_ID}: steps/s, learning included\n")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Machine: {machine_info('mujoco')}; load average {load} at the end  ")
    print(f"Command: `python benchmarks/mujoco_ppo.py{' --quick' if args.quick else ''}`: {rounds} round(s) of "
          f"{steps:,} env steps per system, each run a fresh process. Ratios: median of the same-round ratios "
          "(each round's in brackets), of wall-clock SPS and of SPS per CPU second (steadier on shared cores)\n")
    print("| system | envs (backend) | SPS (median) | SPS of each run | vs CleanRL | vs CleanRL, CPU time | "
          "time: env / inference / learning |")
    print("|---|---|---|---|---|---|---|")
    for kind in kinds:
        rates = [sps(run) for run in runs[kind]]
        if kind == "cleanrl":
            envs, versus, cpu_versus, split = "1 (Gymnasium SyncVectorEnv)", "1.00×", "1.00×", "—"
        else:
            last = runs[kind][-1]
            envs = f"{last['num_envs']} ({last['backend']})"
            versus, cpu_versus = median_ratio(kind, "seconds"), median_ratio(kind, "cpu_seconds")
            split = " / ".join(f"{100 * statistics.median(run[key] for run in runs[kind]):.0f}%"
                               for key in ("time/env", "time/inference", "time/learning"))
        print(f"| {labels[kind]} | {envs} | {statistics.median(rates):,.0f} | "
              f"{', '.join(f'{r:,.0f}' for r in rates)} | {versus} | {cpu_versus} | {split} |")

    print("\nWhat a 1-env rollout step of Thrust's preset costs, part by part (CPU µs, each part timed in a loop of "
          "its own, best of 5: a floor; inside the rollout caches are colder):\n")
    print("| part | µs |")
    print("|---|---|")
    for name, cost in spawn(__file__, "costs", "0").items():
        print(f"| {name} | {cost:.1f} |")


if __name__ == "__main__":
    main()
