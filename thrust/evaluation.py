"""Evaluate a trained model on fresh environments (never the training ones)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from thrust.env_factory import UnknownEnvError
from thrust.vector.base import VecEnv

if TYPE_CHECKING:
    from thrust.training import Algorithm


def acting(model: Algorithm, deterministic: bool = True) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """`policy(obs, episode_start) -> actions` from `model.predict`, for playing episodes: a recurrent
    model's state is carried from call to call and started afresh for the rows where `episode_start`
    (bool `[B]`) is true."""
    if model.policy.state_shape is None:
        return lambda obs, episode_start: model.predict(obs, deterministic=deterministic)
    state = None

    def policy(obs: np.ndarray, episode_start: np.ndarray) -> np.ndarray:
        nonlocal state
        actions, state = model.predict(obs, deterministic, state, episode_start)
        return actions

    return policy


GAP_STANDARD_ERRORS = 3.0
GAP_FRACTION = 0.1
"""the greedy score under-reports when the sampled one beats it by more than this many standard errors of
the difference and this fraction of the larger magnitude (a greedy policy that loops for ever, say)"""


class GreedyGapWarning(UserWarning):
    """The greedy policy scored much less than the policy's own sampled actions on the same episodes."""


def evaluate(
    model: Algorithm,
    num_episodes: int = 100,
    deterministic: bool = True,
    seed: int = 0,
    num_envs: int | None = None,
    envs: VecEnv | None = None,
    sampled: bool = True,
) -> dict[str, Any]:
    """Run `num_episodes` episodes and summarize their returns and lengths.

    By default fresh envs (`num_envs`, up to 16) are made like the training ones (`model.make_envs`: the
    model's env id, backend and `env_kwargs`), and closed afterwards. `envs` evaluates on ready envs
    instead (fresh ones of your own, reset here with `seed`, left open): needed for a model trained on a
    VecEnv that `thrust.make` cannot make again. Each env plays a fixed quota of episodes, so that short
    episodes are not over-represented by envs that finish more often. The model's observation
    normalization stays frozen; a recurrent model carries its state through each episode. Episodes are
    what `infos["episode"]` reports: for Atari, whole games with their raw scores, although the envs
    are the training ones (a lost life ends a learning episode, not a game, and FIRE restarts play
    after it). Returns `mean_return, std_return, mean_length,
    std_length, episodes` (a list of `(return, length)`).

    A greedy (`deterministic`) evaluation can under-report: the most likely action may loop for ever
    where sampling escapes. With `sampled` (and `deterministic`) the same episodes (same seed) are
    played again with sampled actions, summarized under `"sampled"` (`mean_return, std_return,
    mean_length, std_length`); where the sampled mean beats the greedy one by much (`GAP_STANDARD_ERRORS`
    standard errors and `GAP_FRACTION` of the larger magnitude) a `GreedyGapWarning` is issued and its
    message is `"warning"` (else None).
    """
    if num_episodes < 1:
        raise ValueError(f"num_episodes must be >= 1, got {num_episodes}")
    if envs is None:
        num_envs = min(num_episodes, 16) if num_envs is None else num_envs
        try:
            eval_envs = model.make_envs(num_envs, seed=seed, host=True)
            num_envs = eval_envs.num_envs  # a multi-agent env's rows: one per agent, each playing its own quota
        except UnknownEnvError as error:  # e.g. a user's env registered in a script that is not running now
            raise UnknownEnvError(
                f"{error}. To evaluate a model trained on envs thrust.make cannot make, pass envs=... (fresh ones)"
            ) from error
    else:
        if envs.batch_size != envs.num_envs:
            raise ValueError(f"evaluation steps all envs together: batch_size={envs.batch_size} < "
                             f"num_envs={envs.num_envs}; make them without batch_size")
        eval_envs, num_envs = envs, envs.num_envs
    try:
        result = summarize(play(model, eval_envs, num_episodes, deterministic, seed))
        if deterministic and sampled:
            result["sampled"] = summarize(play(model, eval_envs, num_episodes, False, seed))
            del result["sampled"]["episodes"]
            result["warning"] = greedy_gap(result, result["sampled"], num_episodes)
            if result["warning"]:
                warnings.warn(result["warning"], GreedyGapWarning, stacklevel=2)
    finally:
        if envs is None:
            eval_envs.close()
    return result


def play(
    model: Algorithm, envs: VecEnv, num_episodes: int, deterministic: bool, seed: int
) -> list[tuple[float, int]]:
    """`(return, length)` of `num_episodes` episodes on `envs` (reset with `seed`), a fixed quota per env.

    Sampled actions draw from `model.predict_generator` seeded with `seed` and restored afterwards: the
    same call gives the same episodes, and later predictions are as if it had not run."""
    generator = model.predict_generator
    state = generator.get_state()
    generator.manual_seed(seed)
    try:
        return play_seeded(model, envs, num_episodes, deterministic, seed)
    finally:
        generator.set_state(state)


def play_seeded(
    model: Algorithm, envs: VecEnv, num_episodes: int, deterministic: bool, seed: int
) -> list[tuple[float, int]]:
    num_envs = envs.num_envs
    quotas = np.full(num_envs, num_episodes // num_envs)
    quotas[: num_episodes % num_envs] += 1
    finished = np.zeros(num_envs, dtype=np.int64)
    episodes: list[tuple[float, int]] = []
    policy = acting(model, deterministic)
    obs, _ = envs.reset(seed=seed)
    episode_start = np.ones(num_envs, dtype=bool)
    while (finished < quotas).any():
        obs, _, terminations, truncations, infos = envs.step(policy(obs, episode_start))
        episode_start = terminations | truncations
        counted = infos["_episode"] & (finished < quotas)
        for i in np.flatnonzero(counted):
            episodes.append((float(infos["episode"]["r"][i]), int(infos["episode"]["l"][i])))
        finished += infos["_episode"]
    return episodes


def summarize(episodes: list[tuple[float, int]]) -> dict[str, Any]:
    """Mean and std of the returns and lengths of `episodes`, and the episodes themselves."""
    returns = np.array([r for r, _ in episodes])
    lengths = np.array([length for _, length in episodes])
    return {
        "mean_return": float(returns.mean()),
        "std_return": float(returns.std()),
        "mean_length": float(lengths.mean()),
        "std_length": float(lengths.std()),
        "episodes": episodes,
    }


def greedy_gap(greedy: dict[str, Any], sampled: dict[str, Any], num_episodes: int) -> str | None:
    """A warning when the sampled mean return beats the greedy one by much (see `evaluate`), else None."""
    gap = sampled["mean_return"] - greedy["mean_return"]
    standard_error = float(np.hypot(greedy["std_return"], sampled["std_return"])) / np.sqrt(num_episodes)
    scale = max(abs(greedy["mean_return"]), abs(sampled["mean_return"]))
    if gap <= GAP_STANDARD_ERRORS * standard_error or gap <= GAP_FRACTION * scale:
        return None
    return (f"the greedy policy under-reports: return {greedy['mean_return']:.2f} with the most likely actions, "
            f"{sampled['mean_return']:.2f} with sampled actions on the same {num_episodes} episodes (the greedy "
            f"policy may loop where sampling escapes; evaluate with deterministic=False / --no-deterministic)")
