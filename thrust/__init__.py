"""Thrust: reinforcement learning as fast as the hardware allows, as readable as CleanRL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from thrust.env_factory import make

if TYPE_CHECKING:
    from thrust.evaluation import evaluate
    from thrust.ppo import PPO, PPOConfig

__all__ = ["PPO", "PPOConfig", "evaluate", "make"]


def __getattr__(name: str) -> Any:
    """`PPO`, `PPOConfig`, `evaluate` on first use: env-only programs (and env worker processes) never import torch."""
    if name in ("PPO", "PPOConfig"):
        from thrust import ppo

        return getattr(ppo, name)
    if name == "evaluate":
        from thrust.evaluation import evaluate

        return evaluate
    raise AttributeError(f"module 'thrust' has no attribute {name!r}")
