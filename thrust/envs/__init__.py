"""Native batched environments: numba kernels over struct-of-arrays state.

`registry` maps an env id to a constructor `(num_envs: int, **kwargs) -> VecEnv`. To write your own
native env, subclass `NativeVecEnv` (see `thrust/envs/native.py` and `examples/native_gridworld.py`).
"""

from __future__ import annotations

from collections.abc import Callable

from thrust.envs.cartpole import CartPole
from thrust.envs.native import NativeVecEnv, normal, randint, uniform
from thrust.vector.base import VecEnv

registry: dict[str, Callable[..., VecEnv]] = {
    "CartPole-v1": CartPole,
}

__all__ = ["CartPole", "NativeVecEnv", "normal", "randint", "registry", "uniform"]
