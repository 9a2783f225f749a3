"""Videos of a trained agent, rendered by Gymnasium (`render_mode="rgb_array"`) and encoded by imageio's ffmpeg."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from thrust.atari import make_atari
from thrust.env_factory import make
from thrust.vector.base import VecEnv

Policy = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""Maps a batch of raw observations and a bool per row (true where an episode starts) to a batch of
actions: `thrust.evaluation.acting(model)`, which carries a recurrent model's state, or any function."""


def video_env(env_id: str) -> gym.Env:
    """`env_id` as the agent was trained on it, rendering rgb_array frames: for "ALE/…" ids the training
    preprocessing (stacked 84×84 observations for the policy; the frames are the full-colour screen)."""
    if env_id.startswith("ALE/"):
        return make_atari(env_id, render_mode="rgb_array")
    if env_id not in gym.registry:
        raise ValueError(f"video needs a Gymnasium env id that renders rgb_array frames; {env_id!r} is not registered")
    return gym.make(env_id, render_mode="rgb_array")


def gymnasium_frames(env: gym.Env, policy: Policy, episodes: int, seed: int) -> Iterator[np.ndarray]:
    """The frames of `episodes` episodes of a Gymnasium env (episode k reset with `seed + k`), each ending on
    its final state; for Atari whole games, the lost lives that end training episodes played through."""
    ale = getattr(env.unwrapped, "ale", None)
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        episode_start = np.ones(1, dtype=bool)
        while True:
            yield env.render()
            action = policy(np.asarray(obs)[None], episode_start)[0]
            episode_start = np.zeros(1, dtype=bool)
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                if ale is None or truncated or ale.game_over():
                    break
                obs, _ = env.reset()  # a lost life: episodic life plays on in the same game
        yield env.render()  # the final state, so the video shows how the episode ended


def native_frames(envs: VecEnv, policy: Policy, episodes: int, seed: int) -> Iterator[np.ndarray]:
    """The frames of `episodes` episodes of one native env, seeded with `seed`. Same-step autoreset has
    replaced an episode's last state when its end is known, so its last frame is the one before it."""
    obs, _ = envs.reset(seed=seed)
    for _ in range(episodes):
        episode_start = np.ones(1, dtype=bool)
        while True:
            yield envs.render()
            obs, _, terminations, truncations, _ = envs.step(policy(obs, episode_start))
            episode_start = np.zeros(1, dtype=bool)
            if terminations[0] or truncations[0]:
                break


def record_video(
    env_id: str,
    policy: Policy,
    path: Path,
    episodes: int = 1,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
) -> int:
    """Play `episodes` episodes of `env_id` with `policy` and write them as one mp4 at `path`.

    Without `env_kwargs`, Gymnasium's env plays (`gymnasium_frames`); with them, the native env made with
    them (`native_frames`): they hold options Gymnasium's env does not have, such as CartPole's
    `observe_velocity`, which change what the policy sees. Frames are streamed to the encoder, never held
    in memory. Returns the number of frames written.
    """
    import imageio.v2 as imageio

    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    # Off-screen frames need no window: SDL's dummy driver spares pygame a display (and its warnings on servers).
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    if env_kwargs:
        env = make(env_id, num_envs=1, seed=seed, render_mode="rgb_array", **env_kwargs)
        frames = native_frames(env, policy, episodes, seed)
    else:
        env = video_env(env_id)
        frames = gymnasium_frames(env, policy, episodes, seed)
    # One frame per agent step; Atari's agent acts on every 4th frame of the 60 Hz emulator: real time is 15 fps.
    fps = 15 if env_id.startswith("ALE/") else env.metadata.get("render_fps") or 30
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        # macro_block_size=2: the even sizes yuv420p needs, without rescaling 600×400-like frames to multiples of 16
        with imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=2) as writer:
            for frame in frames:
                writer.append_data(frame)
                written += 1
    finally:
        env.close()
    return written
