"""Sample Factory 2's APPO on CartPole-v1 and on the 1 ms CartPole of benchmarks/async_throughput.py.

Runs in Sample Factory's own venv (it pins gymnasium 0.29 and numpy 1.26; see BENCHMARKS.md), never
imports Thrust, and prints one `RESULT {json}` line:

    /tmp/sfvenv/bin/python benchmarks/peers/sample_factory_appo.py --workload native --seed 1
    /tmp/sfvenv/bin/python benchmarks/peers/sample_factory_appo.py --workload slow --seed 1 --steps 30000

Sample Factory trains in a process tree of its own (rollout workers, an inference worker, a learner),
so its episodes are observed from outside: every env is wrapped to append `time return length steps`
to a file per process as each episode ends. The driver watches those files and stops the run when
the mean return of the last 20 episodes reaches 475 (native) or when the env steps reach `--steps`
(slow); the policy lag is the average of the "lag" that Sample Factory prints with its reports.

Settings: Sample Factory's documented CartPole-v1 command (APPO, no RNN, 20 envs per worker, 2 policy
workers, no V-trace, batch 512, reward scale 0.1) on this machine's 2 cores (2 rollout workers, CPU);
for the slow env the batch shape of async_throughput.py (16 envs in 2 processes: 8 per worker, the
two halves stepped alternately, Sample Factory's double-buffered sampling).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym

BENCHMARKS = Path(__file__).resolve().parent.parent
SOLVED, WINDOW = 475.0, 20
COMMON = ["--algo=APPO", "--use_rnn=False", "--recurrence=1", "--with_vtrace=False", "--batch_size=512",
          "--reward_scale=0.1", "--num_workers=2", "--device=cpu", "--save_every_sec=100000",
          "--save_best_every_sec=100000", "--experiment_summaries_interval=1000", "--with_wandb=False",
          "--heartbeat_interval=60"]
WORKLOADS = {"native": ["--num_envs_per_worker=20", "--policy_workers_per_policy=2"],
             "slow": ["--num_envs_per_worker=8", "--policy_workers_per_policy=1"]}
LAG = re.compile(r"lag: \(min: [-\d.]+, avg: ([-\d.]+), max: [-\d.]+\)")


class EpisodeLog(gym.Wrapper):
    """Appends `time return length steps` to `EPISODE_DIR/<pid>.txt` whenever an episode ends."""

    def __init__(self, env: gym.Env, folder: str) -> None:
        super().__init__(env)
        self.file = open(os.path.join(folder, f"{os.getpid()}-{id(self)}.txt"), "a", buffering=1)  # noqa: SIM115
        self.episode_return, self.episode_length, self.steps = 0.0, 0, 0

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.episode_return += float(reward)
        self.episode_length += 1
        self.steps += 1
        if terminated or truncated:
            self.file.write(f"{time.time()} {self.episode_return} {self.episode_length} {self.steps}\n")
            self.episode_return, self.episode_length = 0.0, 0
        return obs, reward, terminated, truncated, info


def make_env(full_env_name, cfg=None, env_config=None, render_mode=None):
    folder = os.environ["EPISODE_DIR"]
    if full_env_name == "slow":
        sys.path.insert(0, str(BENCHMARKS))
        from async_throughput import SpinningCartPole  # the same 1 ms env as Thrust's rows

        return EpisodeLog(SpinningCartPole(), folder)
    return EpisodeLog(gym.make("CartPole-v1", render_mode=render_mode), folder)


def train_in_this_process(argv: list[str]) -> int:
    """Sample Factory's own entry point, with the two envs registered (the child process)."""
    from sample_factory.cfg.arguments import parse_full_cfg, parse_sf_args
    from sample_factory.envs.env_utils import register_env
    from sample_factory.train import run_rl

    for name in WORKLOADS:
        register_env(name, make_env)
    parser, _ = parse_sf_args(argv=argv)
    return run_rl(parse_full_cfg(parser, argv))


def read_episodes(folder: str) -> tuple[list[tuple[float, float]], int, float | None]:
    """Every finished episode `(time, return)` in time order, the env steps so far, the first episode's time."""
    episodes, steps = [], 0
    for path in Path(folder).glob("*.txt"):
        last = 0
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 4:
                episodes.append((float(parts[0]), float(parts[1])))
                last = int(parts[3])
        steps += last
    episodes.sort()
    return episodes, steps, episodes[0][0] if episodes else None


def run(workload: str, seed: int, steps: int, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        episode_dir = os.path.join(folder, "episodes")
        os.mkdir(episode_dir)
        argv = [*COMMON, *WORKLOADS[workload], f"--env={workload}", f"--seed={seed}", f"--train_dir={folder}",
                "--experiment=run", f"--train_for_env_steps={steps}"]
        log_path = os.path.join(folder, "log.txt")
        start = time.time()
        with open(log_path, "w") as log:
            child = subprocess.Popen([sys.executable, __file__, "--train", *argv], stdout=log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "EPISODE_DIR": episode_dir}, start_new_session=True)
        solved_at = None
        try:
            while child.poll() is None and time.time() - start < timeout:
                time.sleep(0.2)
                episodes, env_steps, _ = read_episodes(episode_dir)
                recent = [r for _, r in episodes[-WINDOW:]]
                if workload == "native" and len(recent) == WINDOW and sum(recent) / WINDOW >= SOLVED:
                    solved_at = (time.time(), env_steps)
                    break
                if workload == "slow" and env_steps >= steps:
                    break
        finally:
            end = time.time()
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        episodes, env_steps, first = read_episodes(episode_dir)
        log_text = Path(log_path).read_text(errors="replace")
        lags = [float(m) for m in LAG.findall(log_text) if float(m) >= 0]  # -1: no sample trained on yet
        if not episodes:
            raise RuntimeError(f"Sample Factory ran no episode; its log ends:\n{log_text[-3000:]}")
        recent = [r for _, r in episodes[-WINDOW:]]
        finish = solved_at[0] if solved_at else end
        return {"seconds": finish - start, "seconds_from_first_episode": finish - first,
                "steps": solved_at[1] if solved_at else env_steps, "solved": solved_at is not None,
                "last20": sum(recent) / len(recent), "lag": sum(lags) / len(lags) if lags else None}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--train":
        sys.exit(train_in_this_process(sys.argv[2:]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=list(WORKLOADS), required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--steps", type=int, default=200_000, help="slow: the budget; native: the most to train")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before the run is stopped")
    args = parser.parse_args()
    print("RESULT " + json.dumps(run(args.workload, args.seed, args.steps, args.timeout)), flush=True)


if __name__ == "__main__":
    main()
