"""IMPALA and APPO against synchronous PPO: steps/s and time to solve, (a) native CartPole, (b) a 1 ms CPU env.

(a) Native CartPole-v1, each system with its CartPole preset, its actors in lockstep (policy lag 0),
    a segment ahead (`policy_lag=1`: stepping the next batch while the learner updates, lag exactly 1,
    reproducible) and asynchronous (`asynchronous=True`): wall-clock seconds until the mean return of
    the last 20 episodes reaches 475, steps, SPS, a greedy evaluation.
(b) Gymnasium's CartPole-v1 made slow: every step first spins 1 ms of the thread's CPU time (a Python
    busy loop on `time.thread_time`, as a simulator written in Python would spend it: on a loaded
    machine a step takes longer, as real work does), 16 envs in 2 worker processes (multiprocessing
    backend). Every system has the same batch shape (16 envs × 32 steps; the actor-learners: 2 actor
    threads, one worker process each) and its CartPole preset's other hyperparameters, for a fixed
    budget of steps: SPS, the last-20 return it reached, its policy lag, and the share of the cores
    its process tree kept busy (CPU seconds of the learner process and its reaped workers over wall
    seconds × cores: what is left idle is the most any overlap can win).

Sample Factory's APPO (`benchmarks/peers/sample_factory_appo.py`) runs on both in its own venv: the
python of `THRUST_SF_PYTHON` (default `/tmp/sfvenv/bin/python`); its rows are skipped, with the reason,
where that is missing. Make it with `python3 -m venv /tmp/sfvenv && /tmp/sfvenv/bin/pip install
torch==2.13.0 sample-factory==2.1.1`.

Every run is a fresh subprocess; the machine is the shared 2-core one, so compare rows of one run
(each row gives the 1-minute load average when it finished).

    python benchmarks/async_throughput.py            # 2 seeds on (a), 30K steps on (b)
    python benchmarks/async_throughput.py --quick    # 1 seed, 10K steps
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

import gymnasium as gym
from workers import machine_info, run_worker, spawn

SOLVED, WINDOW = 475.0, 20
SLOW_ID = "ThrustBench/SpinningCartPole-v1"
SLOW = dict(num_envs=16, num_steps=32, num_workers=2, backend="multiprocessing")
SF_PYTHON = Path(os.environ.get("THRUST_SF_PYTHON", "/tmp/sfvenv/bin/python"))
SF_DRIVER = Path(__file__).resolve().parent / "peers" / "sample_factory_appo.py"


class SpinningCartPole(gym.Wrapper):
    """CartPole-v1 whose every step first costs 1 ms of the calling thread's CPU time."""

    def __init__(self) -> None:
        super().__init__(gym.make("CartPole-v1"))

    def step(self, action):
        deadline = time.thread_time() + 0.001
        while time.thread_time() < deadline:
            pass
        return self.env.step(action)


def register() -> None:
    if SLOW_ID not in gym.registry:
        gym.register(SLOW_ID, entry_point=f"{__name__}:SpinningCartPole" if __name__ != "__main__"
                     else "async_throughput:SpinningCartPole")


def solved(returns) -> bool:
    recent = list(returns)[-WINDOW:]
    return len(recent) == WINDOW and sum(recent) / WINDOW >= SOLVED


def cpu_seconds(pids: list[int]) -> float:
    """CPU seconds of this process and of the processes `pids` (its env workers, read from /proc)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return usage.ru_utime + usage.ru_stime + ticks / os.sysconf("SC_CLK_TCK")


def worker_pids(model) -> list[int]:
    """The env worker processes of a model (PPO's envs, or every actor's)."""
    sets = [actor.envs for actor in model.envs.actors] if hasattr(model.envs, "actors") else [model.envs]
    return [process.pid for envs in sets for process in getattr(envs, "_processes", [])]


def run(system: str, workload: str, seed: int, steps: int) -> dict:
    import numpy as np

    import thrust
    import thrust.algorithms
    from thrust.presets import preset

    algorithm, mode = system.split("-") if "-" in system else (system, None)
    overrides = {"sync": dict(asynchronous=False), "ahead": dict(asynchronous=False, policy_lag=1),
                 "async": dict(asynchronous=True), None: {}}[mode]
    if algorithm == "impala" and mode in ("ahead", "async"):
        overrides["ent_coef"] = 0.01  # what its preset's comment says actors ahead need
    if workload == "slow":
        register()
        overrides = {**preset(algorithm, "CartPole-v1"), **overrides, **SLOW, "total_timesteps": steps}
        if algorithm != "ppo":
            overrides["num_actors"] = 2
    env_id = "CartPole-v1" if workload == "native" else SLOW_ID
    start, cpu_start, state, lags = time.perf_counter(), cpu_seconds([]), {}, []
    split = dict.fromkeys(("time/env", "time/inference", "time/learning"), 0.0)

    def watch(model, metrics):
        lags.append(metrics.get("charts/policy_lag", 0.0))
        for key in split:
            split[key] += metrics[key]
        if workload == "native" and solved(model.recent_returns):
            state["time"], state["steps"] = time.perf_counter() - start, model.global_step
            return False
        return True

    model = thrust.algorithms.get(algorithm)(env_id, seed=seed, **overrides)
    model.learn(callback=watch)
    seconds = time.perf_counter() - start
    result = {"seconds": state.get("time", seconds), "steps": state.get("steps", model.global_step),
              "solved": bool(state), "lag": float(np.mean(lags)),
              "last20": float(np.mean(list(model.recent_returns)[-WINDOW:])), **split}
    if workload == "native":
        result["eval"] = thrust.evaluate(model, num_episodes=100, seed=10_000 + seed)["mean_return"]
    result["busy"] = (cpu_seconds(worker_pids(model)) - cpu_start) / (time.perf_counter() - start) / os.cpu_count()
    model.close()
    return result


def spawn_run(*args: str) -> dict:
    """`run(*args)` in a fresh process, with the load average as it ended."""
    return {**spawn(__file__, *args), "load": os.getloadavg()[0]}


def sample_factory(workload: str, seed: int, steps: int) -> dict:
    command = [str(SF_PYTHON), str(SF_DRIVER), "--workload", workload, "--seed", str(seed), "--steps", str(steps),
               "--timeout", "400"]
    return {**run_worker(command, f"Sample Factory ({workload})"), "load": os.getloadavg()[0]}


SYSTEMS = [("PPO", "ppo"), ("IMPALA, lockstep", "impala-sync"), ("APPO, lockstep", "appo-sync"),
           ("IMPALA, a segment ahead, ent_coef 0.01", "impala-ahead"), ("APPO, a segment ahead", "appo-ahead"),
           ("IMPALA, asynchronous, ent_coef 0.01", "impala-async"), ("APPO, asynchronous", "appo-async")]
SF_NAME = "Sample Factory 2.1.1 APPO"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed on (a), 10K steps on (b)")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        import torch._dynamo  # noqa: F401  (torch.optim imports it at the first optimizer: an import, not training)

        system, workload, seed, steps = args.worker
        print("RESULT " + json.dumps(run(system, workload, int(seed), int(steps))), flush=True)
        return


    seeds, slow_steps = (range(1, 2), 10_000) if args.quick else (range(1, 3), 30_000)
    with_sf = SF_PYTHON.is_file()
    spawn_run("ppo", "native", "1000", "0")  # warm-up: numba compiles the native CartPole's kernels into its cache
    print("### IMPALA and APPO against synchronous PPO\n")
    print(f"Machine: {machine_info()}  ")
    print(f"Command: `python benchmarks/async_throughput.py{' --quick' if args.quick else ''}`, each run in a "
          f"fresh process; load: the 1-minute load average as each row's run ended (2 cores)\n")
    print(f"(a) Native CartPole-v1 (Sample Factory: Gymnasium's), the presets, {len(seeds)} seed(s): time to solve "
          f"(last 20 episodes ≥ 475)\n")
    print("| system | solved | wall s (median) | steps (median) | SPS (median) | eval (100 ep.) | policy lag "
          "| time vs PPO | load |")
    print("|---|---|---|---|---|---|---|---|---|")
    native = {}
    for name, system in SYSTEMS:
        native[name] = runs = [spawn_run(system, "native", str(seed), "0") for seed in seeds]
        print(f"{name} (a): {runs}", file=sys.stderr, flush=True)
        seconds = statistics.median(r["seconds"] for r in runs)
        evals = ", ".join(f"{r['eval']:.0f}" for r in runs)
        reference = statistics.median(r["seconds"] for r in native["PPO"])
        print(f"| {name} | {sum(r['solved'] for r in runs)}/{len(runs)} | {seconds:.1f} | "
              f"{statistics.median(r['steps'] for r in runs):,.0f} | "
              f"{statistics.median(r['steps'] / r['seconds'] for r in runs):,.0f} | "
              f"{evals} | {statistics.mean(r['lag'] for r in runs):.2f} | "
              f"{seconds / reference:.2f}× | {statistics.mean(r['load'] for r in runs):.1f} |")
    if with_sf:
        result = sample_factory("native", 1, 1_000_000)
        print(f"{SF_NAME} (a): {result}", file=sys.stderr, flush=True)
        lag = "—" if result["lag"] is None else f"{result['lag']:.2f}"
        print(f"| {SF_NAME}, seed 1 | {int(result['solved'])}/1 | {result['seconds']:.1f} "
              f"({result['seconds_from_first_episode']:.1f} from its first episode) | {result['steps']:,} | "
              f"{result['steps'] / result['seconds_from_first_episode']:,.0f} | — | {lag} | "
              f"{result['seconds'] / statistics.median(r['seconds'] for r in native['PPO']):.2f}× | "
              f"{result['load']:.1f} |")
    print(f"\n(b) CartPole-v1 spinning 1 ms of CPU per step, 16 envs in 2 worker processes, {slow_steps:,} steps, "
          f"seed 1, the CartPole presets' other hyperparameters\n")
    print("| system | SPS | vs PPO | cores busy | last-20 return at the end | policy lag | load |")
    print("|---|---|---|---|---|---|---|")
    slow = {}
    for name, system in SYSTEMS:
        if system.endswith("-sync"):
            continue  # lockstep actors step the envs as PPO does: nothing to hide the update behind
        slow[name] = result = spawn_run(system, "slow", "1", str(slow_steps))
        print(f"{name} (b): {result}", file=sys.stderr, flush=True)
        sps = result["steps"] / result["seconds"]
        reference = slow["PPO"]["steps"] / slow["PPO"]["seconds"]
        print(f"| {name} | {sps:,.0f} | {sps / reference:.2f}× | {result['busy']:.0%} | {result['last20']:.0f} | "
              f"{result['lag']:.2f} | {result['load']:.1f} |")
    if with_sf:
        result = sample_factory("slow", 1, slow_steps)
        print(f"{SF_NAME} (b): {result}", file=sys.stderr, flush=True)
        sps = result["steps"] / result["seconds_from_first_episode"]
        lag = "—" if result["lag"] is None else f"{result['lag']:.2f}"
        print(f"| {SF_NAME} | {sps:,.0f} | {sps / reference:.2f}× | — | {result['last20']:.0f} | {lag} | "
              f"{result['load']:.1f} |")
        print(f"\n{SF_NAME}: its documented CartPole-v1 settings (APPO, no V-trace, batch 512, 2 rollout workers "
              "on these 2 cores, 16 envs on (b)), its own venv (gymnasium 0.29, numpy 1.26); wall seconds from the "
              "launch of its process tree, which starts its workers before the first step, and its SPS from its first "
              "finished episode on; steps are those of finished episodes; cores busy is not measured for it (its "
              "processes are not the driver's children).")
    else:
        print(f"\n{SF_NAME} is not in this table: no Python at {SF_PYTHON} (set THRUST_SF_PYTHON). Sample Factory "
              "pins gymnasium 0.29 and numpy 1.26, so it runs in a venv of its own: `python3 -m venv /tmp/sfvenv && "
              "/tmp/sfvenv/bin/pip install torch==2.13.0 sample-factory==2.1.1`.")
    ppo = slow["PPO"]
    env, learner = ppo["time/env"], ppo["time/inference"] + ppo["time/learning"]
    print(f"\nWhat overlap can win on these 2 cores: synchronous PPO's workers stepped the envs for {env:.1f} s "
          f"(both cores busy), and its learner ran inference and updates for {learner:.1f} s while they waited (one "
          f"core busy, one idle). Overlapped perfectly, the same CPU work takes max(E + L/2, L) = "
          f"{max(env + learner / 2, learner):.1f} s instead of E + L = {env + learner:.1f} s: at most "
          f"{(env + learner) / max(env + learner / 2, learner):.2f}× PPO's SPS, whatever the actor machinery (1.5× "
          f"needs L = 2E).")


if __name__ == "__main__":
    main()
