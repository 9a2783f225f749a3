"""Any Gymnasium environment behind Thrust's one vector interface."""

from thrust.vector.base import VecEnv, check_actions
from thrust.vector.multiprocessing import MultiprocessingVecEnv
from thrust.vector.serial import SerialVecEnv
from thrust.vector.tuning import autotune

__all__ = ["MultiprocessingVecEnv", "SerialVecEnv", "VecEnv", "autotune", "check_actions"]
