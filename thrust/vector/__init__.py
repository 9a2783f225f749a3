"""Any Gymnasium environment behind Thrust's one vector interface."""

from thrust.vector.base import VecEnv, check_actions
from thrust.vector.serial import SerialVecEnv

__all__ = ["VecEnv", "SerialVecEnv", "check_actions"]
