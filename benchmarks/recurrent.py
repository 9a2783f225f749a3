"""Recurrent PPO on CartPole-v1 without velocities: Thrust's LSTM PPO vs SB3-contrib's RecurrentPPO (RL-Zoo).

The velocities are observed as 0 (Thrust's native `observe_velocity=False`; for SB3-contrib, RL-Zoo's
CartPoleNoVel-v1, a velocity-masking wrapper around Gymnasium's CartPole), so the task needs memory.
For every system and seed, in a fresh subprocess each:

- **time to solve**: wall-clock seconds from before env creation to the first moment the mean return of
  the last 20 finished episodes reaches 475 (checked after every iteration by Thrust, at every step by
  SB3-contrib); imports and numba compilation (cached by a warm-up run) are not counted;
- **steps** used and **SPS** (steps / time to solve), and a greedy **evaluation** over 100 episodes;
- a feed-forward Thrust PPO with the same settings and budget, to show that the task needs the memory.

SB3-contrib runs RL-Zoo's tuned `ppo_lstm` entry for CartPoleNoVel-v1 (8 envs × 32 steps, 20 epochs,
batch 256, λ 0.8, γ 0.98, linear lr 1e-3 and clip 0.2, VecNormalize, LSTM 64 for actor and critic),
with Thrust's process-wide torch settings (one thread, denormals flushed).

    python benchmarks/recurrent.py            # 3 seeds
    python benchmarks/recurrent.py --quick    # 1 seed
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from workers import machine_info, spawn

SOLVED, WINDOW, BUDGET = 475.0, 20, 300_000

# Thrust's settings (README): 16 envs × 32 steps, sequences of the whole rollout, 2 minibatches × 10 epochs, λ 0.8,
# γ 0.98, lr 2e-3, observation normalization; greedy evaluation 497-500 on seeds 1-6 after 150K steps.
THRUST = dict(recurrent="lstm", recurrent_size=64, num_envs=16, num_steps=32, num_minibatches=2, update_epochs=10,
              gae_lambda=0.8, gamma=0.98, learning_rate=2e-3, ent_coef=0.0, normalize_obs=True,
              norm_adv="standardize")


def solved(returns) -> bool:
    recent = list(returns)[-WINDOW:]
    return len(recent) == WINDOW and sum(recent) / WINDOW >= SOLVED


def run_thrust(seed: int, recurrent: bool) -> dict:
    import thrust

    start, state = time.perf_counter(), {}

    def stop_when_solved(model, metrics):
        if solved(model.recent_returns):
            state["time"], state["steps"] = time.perf_counter() - start, model.global_step
            return False
        return True

    settings = THRUST if recurrent else {key: value for key, value in THRUST.items() if not key.startswith("recurrent")}
    model = thrust.PPO("CartPole-v1", seed=seed, env_kwargs={"observe_velocity": False}, total_timesteps=BUDGET,
                       **settings)
    model.learn(callback=stop_when_solved)
    if not state:
        state["time"], state["steps"] = time.perf_counter() - start, model.global_step
    result = thrust.evaluate(model, num_episodes=100, seed=10_000 + seed)
    return {"solved": solved(model.recent_returns), "seconds": state["time"], "steps": state["steps"],
            "eval": result["mean_return"]}


def run_sb3_contrib(seed: int) -> dict:
    import gymnasium as gym
    import numpy as np
    import torch
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(1)
    torch.set_flush_denormal(True)

    class MaskVelocity(gym.ObservationWrapper):
        def observation(self, obs):
            return obs * np.array([1.0, 0.0, 1.0, 0.0], dtype=np.float32)

    class StopWhenSolved(BaseCallback):
        def _on_step(self) -> bool:
            return not solved(info["r"] for info in self.model.ep_info_buffer)

    start = time.perf_counter()
    envs = VecNormalize(make_vec_env("CartPole-v1", n_envs=8, seed=seed, wrapper_class=MaskVelocity))
    model = RecurrentPPO(
        "MlpLstmPolicy", envs, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
        learning_rate=lambda progress: progress * 1e-3, clip_range=lambda progress: progress * 0.2, seed=seed,
        policy_kwargs=dict(ortho_init=False, activation_fn=torch.nn.ReLU, lstm_hidden_size=64,
                           enable_critic_lstm=True, net_arch=dict(pi=[64], vf=[64])),
    )
    model.learn(BUDGET, callback=StopWhenSolved())
    seconds, steps = time.perf_counter() - start, model.num_timesteps
    is_solved = solved(info["r"] for info in model.ep_info_buffer)

    envs.training, envs.norm_reward = False, False  # evaluation: frozen statistics, raw rewards
    env, returns = MaskVelocity(gym.make("CartPole-v1")), []
    for episode in range(100):
        obs, _ = env.reset(seed=10_000 + seed * 1000 + episode)
        lstm_state, episode_start, total, done = None, np.ones(1, dtype=bool), 0.0, False
        while not done:
            action, lstm_state = model.predict(envs.normalize_obs(obs[None]), state=lstm_state,
                                               episode_start=episode_start, deterministic=True)
            obs, reward, terminated, truncated, _ = env.step(int(action[0]))
            episode_start[:] = False
            total, done = total + float(reward), terminated or truncated
        returns.append(total)
    return {"solved": is_solved, "seconds": seconds, "steps": steps, "eval": float(np.mean(returns))}


def worker(kind: str, seed: int) -> None:
    import torch._dynamo  # noqa: F401  (torch.optim imports it at the first optimizer: an import, not training)

    result = run_sb3_contrib(seed) if kind == "sb3_contrib" else run_thrust(seed, recurrent=kind == "thrust_lstm")
    print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]))
        return


    seeds = range(1, 2 if args.quick else 4)
    systems = [("Thrust PPO, LSTM", "thrust_lstm"), ("Thrust PPO, feed-forward (same settings)", "thrust_mlp")]
    try:
        import sb3_contrib  # noqa: F401

        systems.append(("SB3-contrib RecurrentPPO, RL-Zoo hyperparameters", "sb3_contrib"))
    except ImportError:
        print("sb3-contrib is not installed (pip install -e '.[bench]'): its row is missing", file=sys.stderr)
    spawn(__file__, "thrust_lstm", "1000")  # warm-up: numba compiles the native CartPole's kernels into its cache
    rows = {}
    for name, kind in systems:
        rows[name] = [spawn(__file__, kind, str(seed)) for seed in seeds]
        for seed, run in zip(seeds, rows[name], strict=True):
            print(f"{name} seed {seed}: {run}", file=sys.stderr, flush=True)

    print("### Recurrent PPO on CartPole-v1 without velocities: time to solve (last 20 episodes ≥ 475)\n")
    print(f"Machine: {machine_info('stable_baselines3', 'sb3_contrib')}  ")
    print(f"Command: `python benchmarks/recurrent.py{' --quick' if args.quick else ''}`, {len(seeds)} seed(s) "
          f"per system, each in a fresh process, budget {BUDGET:,} steps\n")
    reference = rows[systems[0][0]]
    thrust_seconds = statistics.median(run["seconds"] for run in reference)
    thrust_sps = statistics.median(run["steps"] / run["seconds"] for run in reference)
    print("| system | solved | wall s (median) | steps (median) | SPS (median) | eval mean (100 ep.) "
          "| Thrust LSTM's speed-up: time | SPS |")
    print("|---|---|---|---|---|---|---|---|")
    for name, _ in systems:
        runs = rows[name]
        seconds = statistics.median(run["seconds"] for run in runs)
        sps = statistics.median(run["steps"] / run["seconds"] for run in runs)
        evals = ", ".join(f"{run['eval']:.1f}" for run in runs)
        time_ratio = f"{seconds / thrust_seconds:.1f}×" if all(run["solved"] for run in runs) else "not solved"
        print(f"| {name} | {sum(run['solved'] for run in runs)}/{len(runs)} | {seconds:.1f} | "
              f"{statistics.median(run['steps'] for run in runs):,.0f} | {sps:,.0f} | {evals} | {time_ratio} | "
              f"{thrust_sps / sps:.1f}× |")


if __name__ == "__main__":
    main()
