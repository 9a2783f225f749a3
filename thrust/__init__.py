"""Thrust: reinforcement learning as fast as the hardware allows, as readable as CleanRL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from thrust.env_factory import autotune, make

if TYPE_CHECKING:
    from thrust.algorithms import load
    from thrust.algorithms.impala import APPO, IMPALA, APPOConfig, IMPALAConfig
    from thrust.algorithms.ppo import PPO, PPOConfig
    from thrust.evaluation import evaluate
    from thrust.pbt_runs import pbt
    from thrust.sweeps import sweep

__all__ = [
    "APPO", "IMPALA", "PPO", "APPOConfig", "IMPALAConfig", "PPOConfig", "autotune", "evaluate", "load", "make", "pbt",
    "sweep",
]


def __getattr__(name: str) -> Any:
    """Algorithms, `load`, `evaluate`, `pbt` and `sweep` on first use: env-only programs (and env worker
    processes) never import torch."""
    if name in ("PPO", "PPOConfig"):
        from thrust.algorithms import ppo

        return getattr(ppo, name)
    if name in ("IMPALA", "IMPALAConfig", "APPO", "APPOConfig"):
        from thrust.algorithms import impala

        return getattr(impala, name)
    if name == "load":
        from thrust.algorithms import load

        return load
    if name == "pbt":
        from thrust.pbt_runs import pbt

        return pbt
    if name == "sweep":
        from thrust.sweeps import sweep

        return sweep
    if name == "evaluate":
        from thrust.evaluation import evaluate

        return evaluate
    raise AttributeError(f"module 'thrust' has no attribute {name!r}")
