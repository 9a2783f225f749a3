"""Any Gymnasium environment behind Thrust's one vector interface."""

from thrust.vector.base import VecEnv, check_actions
from thrust.vector.envpool import EnvPoolVecEnv
from thrust.vector.multiprocessing import MultiprocessingVecEnv, RemoteTraceback, WorkerDiedError
from thrust.vector.serial import SerialVecEnv
from thrust.vector.spec import BACKENDS, EnvSpec

__all__ = [
    "BACKENDS", "EnvPoolVecEnv", "EnvSpec", "MultiprocessingVecEnv", "RemoteTraceback", "SerialVecEnv", "VecEnv",
    "WorkerDiedError", "check_actions",
]
