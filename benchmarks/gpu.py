"""Native envs and PPO on the GPU against the same code on the CPU, in one run.

1. Env steps/s of native CartPole stepped as CUDA kernels (`thrust.make(..., device="cuda")`) at
   N ∈ {4096, 65536, 1M} envs, random actions drawn on the device before timing, against the same env's
   CPU kernels (numba threads) at the same N.
2. End-to-end PPO SPS (CartPole, MLP 64×64, learning included) at large N: `thrust.PPO(device="cuda")` on
   GPU envs (rollout, GAE and update on the device) against `thrust.PPO(device="cpu")` on CPU envs, torch
   and numba on every core.
3. Wall time to solve CartPole (mean of the last 20 episodes ≥ 475) on the GPU after warm-up.

Without a CUDA GPU it says so and exits cleanly (status 0). Under numba's CUDA simulator
(NUMBA_ENABLE_CUDASIM=1) `--quick` runs the whole script at toy sizes, to check it, not to measure.

    python benchmarks/gpu.py            # the full table (a few minutes on a GPU)
    python benchmarks/gpu.py --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numba
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a fresh clone without installing
import thrust  # noqa: E402
from thrust.cuda import cuda_available, simulated, tensor_device  # noqa: E402


def synchronize() -> None:
    if not simulated():
        torch.cuda.synchronize()


def env_rate(num_envs: int, device: str, window: float) -> float:
    """Steps/s of native CartPole on `device` under random actions, over at least `window` seconds."""
    envs = thrust.make("CartPole-v1", num_envs, device=device, seed=0)
    envs.reset()
    generator = torch.Generator(tensor_device() if device == "cuda" else "cpu").manual_seed(0)
    batches = [torch.randint(0, 2, (num_envs,), generator=generator, device=generator.device) for _ in range(8)]
    if device == "cpu":
        batches = [batch.numpy() for batch in batches]
    for batch in batches:  # compile and warm up
        envs.step(batch)
    synchronize()
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < window:
        for batch in batches:
            envs.step(batch)
        steps += len(batches)
        synchronize()
    return num_envs * steps / (time.perf_counter() - start)


def ppo_rate(num_envs: int, num_steps: int, device: str, iterations: int) -> float:
    """End-to-end SPS of PPO on CartPole, timed over `iterations` after one warm-up iteration."""
    backend = "cuda" if device == "cuda" else "native"
    learner = "cpu" if simulated() else device
    model = thrust.PPO("CartPole-v1", seed=1, device=learner, backend=backend, num_envs=num_envs,
                       num_steps=num_steps, total_timesteps=num_envs * num_steps * (iterations + 1),
                       hidden_sizes=(64, 64), num_minibatches=4, update_epochs=4, num_threads=os.cpu_count() or 1)
    times: list[float] = []

    def tick(agent, metrics):
        synchronize()
        times.append(time.perf_counter())

    model.learn(callback=tick)
    return num_envs * num_steps * iterations / (times[-1] - times[0])


def time_to_solve(num_envs: int, num_steps: int, budget: int) -> tuple[float | None, int]:
    """Wall seconds (after a warm-up run of the same size) until the mean of the last 20 episodes ≥ 475."""
    learner = "cpu" if simulated() else "cuda"

    def run(total: int) -> tuple[float | None, int]:
        model = thrust.PPO("CartPole-v1", seed=1, device=learner, backend="cuda", num_envs=num_envs,
                           num_steps=num_steps, total_timesteps=total)
        start, solved = time.perf_counter(), [None]

        def check(agent, metrics):
            recent = list(agent.recent_returns)[-20:]
            if len(recent) == 20 and np.mean(recent) >= 475:
                synchronize()
                solved[0] = time.perf_counter() - start
                return False
            return None

        model.learn(callback=check)
        return solved[0], model.global_step

    run(num_envs * num_steps * 2)  # warm-up: kernels compiled, CUDA initialized
    return run(budget)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="toy sizes: a smoke run")
    args = parser.parse_args()
    if not cuda_available() or (simulated() and not args.quick):
        print("### Native CartPole and PPO on the GPU against the same code on the CPU\n")
        print("No CUDA GPU on the machine that ran `python benchmarks/gpu.py` (numba sees one: "
              f"{not simulated() and numba.cuda.is_available()}, torch sees one: {torch.cuda.is_available()}): "
              "nothing measured. Run it on a machine with a GPU (or with NUMBA_ENABLE_CUDASIM=1 and --quick to "
              "check the script on the CPU).")
        return
    sizes = [64, 256] if args.quick else [4096, 65536, 1 << 20]
    window = 0.2 if args.quick else 3.0
    name = "numba CUDA simulator (not a measurement)" if simulated() else torch.cuda.get_device_name()
    print("### Native CartPole and PPO on the GPU against the same code on the CPU\n")
    print(f"GPU: {name}; CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"torch {torch.__version__}, numba {numba.__version__}  ")
    print(f"Command: `python benchmarks/gpu.py{' --quick' if args.quick else ''}`\n")
    print("| envs | GPU env steps/s | CPU env steps/s | GPU / CPU |")
    print("|---|---|---|---|")
    for n in sizes:
        gpu, cpu = env_rate(n, "cuda", window), env_rate(n, "cpu", window)
        print(f"| {n:,} | {gpu:,.0f} | {cpu:,.0f} | {gpu / cpu:.1f}× |", flush=True)

    envs, steps, iterations = (64, 8, 1) if args.quick else (65536, 16, 3)
    gpu_sps = ppo_rate(envs, steps, "cuda", iterations)
    cpu_sps = ppo_rate(envs, steps, "cpu", iterations)
    print(f"\nPPO end to end, {envs:,} envs × {steps} steps, MLP 64×64, 4 epochs × 4 minibatches "
          f"({iterations} timed iterations after a warm-up one):\n")
    print("| learner and envs | SPS |")
    print("|---|---|")
    print(f"| GPU (device='cuda') | {gpu_sps:,.0f} |")
    print(f"| CPU (device='cpu', native envs) | {cpu_sps:,.0f} |")
    envs, steps, budget = (64, 8, 64 * 8 * 2) if args.quick else (4096, 16, 20_000_000)
    seconds, used = time_to_solve(envs, steps, budget)
    solved = f"{seconds:.2f} s ({used:,} steps)" if seconds is not None else f"not solved in {used:,} steps"
    print(f"\nCartPole solved on the GPU ({envs:,} envs × {steps} steps, preset otherwise), after warm-up: {solved}")


if __name__ == "__main__":
    main()
