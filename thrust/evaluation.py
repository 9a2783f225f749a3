"""Evaluate a trained model on fresh environments (never the training ones)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from thrust.env_factory import make

if TYPE_CHECKING:
    from thrust.ppo import PPO


def evaluate(
    model: PPO, num_episodes: int = 100, deterministic: bool = True, seed: int = 0, num_envs: int | None = None
) -> dict[str, Any]:
    """Run `num_episodes` episodes of the model's env id and summarize their returns and lengths.

    Fresh envs (seeded with `seed`) are made with `thrust.make`. Each env plays a fixed quota of
    episodes, so that short episodes are not over-represented by envs that finish more often.
    Returns `mean_return, std_return, mean_length, std_length, episodes` (a list of `(return, length)`).
    """
    if num_episodes < 1:
        raise ValueError(f"num_episodes must be >= 1, got {num_episodes}")
    num_envs = min(num_episodes, 16) if num_envs is None else num_envs
    envs = make(model.config.env_id, num_envs=num_envs, seed=seed, backend=model.config.backend)
    quotas = np.full(num_envs, num_episodes // num_envs)
    quotas[: num_episodes % num_envs] += 1
    finished = np.zeros(num_envs, dtype=np.int64)
    episodes: list[tuple[float, int]] = []
    obs, _ = envs.reset(seed=seed)
    try:
        while (finished < quotas).any():
            obs, _, _, _, infos = envs.step(model.predict(obs, deterministic=deterministic))
            counted = infos["_episode"] & (finished < quotas)
            for i in np.flatnonzero(counted):
                episodes.append((float(infos["episode"]["r"][i]), int(infos["episode"]["l"][i])))
            finished += infos["_episode"]
    finally:
        envs.close()
    returns = np.array([r for r, _ in episodes])
    lengths = np.array([length for _, length in episodes])
    return {
        "mean_return": float(returns.mean()),
        "std_return": float(returns.std()),
        "mean_length": float(lengths.mean()),
        "std_length": float(lengths.std()),
        "episodes": episodes,
    }
