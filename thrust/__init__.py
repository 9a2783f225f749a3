"""Thrust: reinforcement learning as fast as the hardware allows, as readable as CleanRL."""

from thrust.env_factory import make
from thrust.evaluation import evaluate
from thrust.ppo import PPO, PPOConfig

__all__ = ["PPO", "PPOConfig", "evaluate", "make"]
