"""Data-parallel scaling: PPO's steps per second at 1 and 2 ranks (torchrun, gloo on the CPU; NCCL with --device cuda).

The workload is one that the CPU does not bound: Gymnasium's CartPole-v1 where every step first sleeps
1 ms (an env waiting on a simulator, a robot or a remote service), 16 envs per rank stepped serially in
the rank's own process, so one rank waits 16 ms per step. Each world size trains the same per-rank
config for a fixed number of iterations; SPS is the whole run's (all ranks' env steps per second) over
the iterations after the first two (set-up and warm-up excluded). Every run is a fresh torchrun.

    python benchmarks/distributed_scaling.py                  # 2 repeats, 12 iterations each
    python benchmarks/distributed_scaling.py --quick          # 1 repeat, 6 iterations
    python benchmarks/distributed_scaling.py --device cuda    # NCCL, a GPU per rank (so 2 GPUs for 2 ranks)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import gymnasium as gym

ROOT = Path(__file__).resolve().parent.parent
SLEEPY_ID = "ThrustBench/SleepyCartPole-v1"
CONFIG = dict(num_envs=16, num_steps=32, backend="serial", num_minibatches=1, update_epochs=2, seed=1)
WARMUP = 2


class SleepyCartPole(gym.Wrapper):
    """CartPole-v1 whose every step first sleeps 1 ms."""

    def __init__(self) -> None:
        super().__init__(gym.make("CartPole-v1"))

    def step(self, action):
        time.sleep(0.001)
        return self.env.step(action)


def worker(iterations: int, device: str) -> None:
    """One rank (started by torchrun): train, then rank 0 prints the SPS after the warm-up iterations."""
    import torch._dynamo  # noqa: F401  (torch.optim imports it at the first optimizer: an import, not training)

    import thrust

    gym.register(SLEEPY_ID, entry_point=SleepyCartPole)
    marks: list[tuple[float, int]] = []
    split = {"time/env": 0.0, "time/inference": 0.0, "time/learning": 0.0}

    def clock(model, metrics):
        marks.append((time.perf_counter(), model.global_step))
        if len(marks) > WARMUP:
            for key in split:
                split[key] += metrics[key]

    steps = iterations * CONFIG["num_envs"] * CONFIG["num_steps"]
    model = thrust.PPO(SLEEPY_ID, device=device, total_timesteps=steps, **CONFIG)
    model.learn(callback=clock)
    (start, first), (end, last) = marks[WARMUP - 1], marks[-1]
    if model.world.is_main:
        shares = {key.split("/")[1]: value / (end - start) for key, value in split.items()}
        print("RESULT " + json.dumps({"sps": model.world.size * (last - first) / (end - start),
                                      "world_size": model.world.size, **shares}), flush=True)
    model.close()


def launch(ranks: int, iterations: int, device: str) -> dict:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(ranks), "--master-port",
               str(29_500 + ranks), __file__, "--worker", str(iterations), "--device", device]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    output = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    for line in output.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{ranks} rank(s) failed:\n{output.stdout[-3000:]}\n{output.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat of 6 iterations")
    parser.add_argument("--device", default="cpu", help="cpu (gloo) or cuda (NCCL, rank r on cuda:r: needs 2 GPUs)")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.device)
        return

    sys.path.insert(0, str(Path(__file__).parent))
    from workers import machine_info

    repeats, iterations = (1, 6) if args.quick else (2, 12)
    runs = {ranks: [launch(ranks, iterations, args.device) for _ in range(repeats)] for ranks in (1, 2)}
    results = {ranks: [run["sps"] for run in runs[ranks]] for ranks in runs}
    print(f"results: {results}", file=sys.stderr)
    print("### Data-parallel scaling (torchrun)\n")
    print(f"Machine: {machine_info()}  ")
    print(f"Command: `python benchmarks/distributed_scaling.py{' --quick' if args.quick else ''}"
          f"{'' if args.device == 'cpu' else ' --device ' + args.device}`, each world size a fresh torchrun\n")
    backend = "gloo" if args.device == "cpu" else "NCCL"
    print(f"PPO on CartPole-v1 sleeping 1 ms per step, per rank {CONFIG['num_envs']} envs (serial) × "
          f"{CONFIG['num_steps']} steps, {iterations} iterations ({WARMUP} of warm-up not timed), {backend}, "
          f"device {args.device}; SPS counts all ranks' steps, median of {repeats} run(s)\n")
    print("| ranks | SPS (median) | SPS of each run | vs 1 rank | rank 0's time: env / inference / learning |")
    print("|---|---|---|---|---|")
    one = statistics.median(results[1])
    for ranks, sps_runs in results.items():
        sps = statistics.median(sps_runs)
        shares = " / ".join(f"{statistics.mean(run[key] for run in runs[ranks]):.0%}"
                            for key in ("env", "inference", "learning"))
        print(f"| {ranks} | {sps:,.0f} | {', '.join(f'{r:,.0f}' for r in sps_runs)} | {sps / one:.2f}× | {shares} |")


if __name__ == "__main__":
    main()
