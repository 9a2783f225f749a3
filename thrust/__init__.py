"""Thrust: reinforcement learning as fast as the hardware allows, as readable as CleanRL."""

from thrust.evaluate import evaluate
from thrust.make import make
from thrust.ppo import PPO, PPOConfig

__all__ = ["PPO", "PPOConfig", "evaluate", "make"]
