"""Native batched environments: numba kernels over struct-of-arrays state.

`registry` maps an env id to a constructor `(num_envs: int, **kwargs) -> VecEnv`. To write your own
native env, subclass `NativeVecEnv` (see `thrust/envs/native.py` and `examples/native_gridworld.py`); for
several agents per env, `NativeMultiAgentVecEnv` (`thrust/envs/multiagent.py`, `thrust/envs/meet.py`).
"""

from __future__ import annotations

from collections.abc import Callable

from thrust.envs.acrobot import Acrobot
from thrust.envs.cartpole import CartPole
from thrust.envs.cue_recall import CueRecall
from thrust.envs.far_corner import FarCorner
from thrust.envs.locked_corridor import LockedCorridor
from thrust.envs.meet import Meet
from thrust.envs.mountain_car import MountainCar, MountainCarContinuous
from thrust.envs.multiagent import NativeMultiAgentVecEnv
from thrust.envs.native import NativeVecEnv, normal, numpy_square, numpy_square32, randint, uniform
from thrust.envs.pendulum import Pendulum
from thrust.envs.race import Race
from thrust.vector.base import VecEnv

registry: dict[str, Callable[..., VecEnv]] = {
    "CartPole-v1": CartPole,
    "Acrobot-v1": Acrobot,
    "MountainCar-v0": MountainCar,
    "MountainCarContinuous-v0": MountainCarContinuous,
    "Pendulum-v1": Pendulum,
    "CueRecall-v0": CueRecall,
    "LockedCorridor-v0": LockedCorridor,
    "FarCorner-v0": FarCorner,
    "Meet-v0": Meet,
    "Race-v0": Race,
}

__all__ = [
    "Acrobot", "CartPole", "CueRecall", "FarCorner", "LockedCorridor", "Meet", "MountainCar", "MountainCarContinuous",
    "NativeMultiAgentVecEnv", "NativeVecEnv", "Pendulum", "Race", "normal", "numpy_square", "numpy_square32",
    "randint", "registry", "uniform",
]
