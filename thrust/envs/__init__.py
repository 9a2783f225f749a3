"""Native batched environments: numba kernels over struct-of-arrays state.

`registry` maps an env id to a constructor `(num_envs: int, **kwargs) -> VecEnv`.
"""

from __future__ import annotations

from collections.abc import Callable

from thrust.vector.base import VecEnv

registry: dict[str, Callable[..., VecEnv]] = {}
