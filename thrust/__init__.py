"""Thrust: reinforcement learning as fast as the hardware allows, as readable as CleanRL."""

from thrust.make import make

__all__ = ["make"]
