"""Videos of a trained agent, rendered by Gymnasium (`render_mode="rgb_array"`) and encoded by imageio's ffmpeg."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np

from thrust.atari import make_atari

Policy = Callable[[np.ndarray], np.ndarray]
"""Maps a batch of raw observations to a batch of actions (e.g. `lambda obs: ppo.predict(obs)`)."""


def video_env(env_id: str) -> gym.Env:
    """`env_id` as the agent was trained on it, rendering rgb_array frames: for "ALE/…" ids the training
    preprocessing (stacked 84×84 observations for the policy; the frames are the full-colour screen)."""
    if env_id.startswith("ALE/"):
        return make_atari(env_id, render_mode="rgb_array")
    if env_id not in gym.registry:
        raise ValueError(f"video needs a Gymnasium env id that renders rgb_array frames; {env_id!r} is not registered")
    return gym.make(env_id, render_mode="rgb_array")


def record_video(env_id: str, policy: Policy, path: Path, episodes: int = 1, seed: int = 0) -> int:
    """Play `episodes` episodes of `env_id` with `policy` and write them as one mp4 at `path`.

    For Atari an episode is a whole game: the lost lives that end the training episodes are played
    through. Frames are streamed to the encoder, never held in memory. Returns the number of frames written.
    """
    import imageio.v2 as imageio

    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    # Off-screen frames need no window: SDL's dummy driver spares pygame a display (and its warnings on servers).
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    env = video_env(env_id)
    ale = getattr(env.unwrapped, "ale", None)
    # One frame per agent step; Atari's agent acts on every 4th frame of the 60 Hz emulator: real time is 15 fps.
    fps = 15 if ale is not None else env.metadata.get("render_fps") or 30
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = 0
    # macro_block_size=2: the even sizes yuv420p needs, without rescaling 600×400-like frames to multiples of 16
    with imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=2) as writer:
        for episode in range(episodes):
            obs, _ = env.reset(seed=seed + episode)
            while True:
                writer.append_data(env.render())
                frames += 1
                action = policy(np.asarray(obs)[None])[0]
                obs, _, terminated, truncated, _ = env.step(action)
                if terminated or truncated:
                    if ale is None or truncated or ale.game_over():
                        break
                    obs, _ = env.reset()  # a lost life: episodic life plays on in the same game
            writer.append_data(env.render())  # the final state, so the video shows how the episode ended
            frames += 1
    env.close()
    return frames
