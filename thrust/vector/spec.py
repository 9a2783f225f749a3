"""`EnvSpec`: the identity of a set of envs, fixed when they are made and carried by every `VecEnv`.

What the envs are (`id`, constructor `kwargs`), how they run (`backend`, `num_workers`) and the seed of
their first reset called without one (`seed`). `thrust.make(spec, num_envs=..., seed=...)` makes more
envs of the same kind (evaluation does); `to_dict`/`from_dict` store a spec in a checkpoint.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

BACKENDS = ("native", "cuda", "serial", "multiprocessing", "envpool", "pettingzoo")
"""The backends `thrust.make` builds; a `VecEnv` subclass of one's own reports "custom"."""


def check_seed(seed: Any, name: str = "seed") -> int | None:
    """`seed` as an int, or None; `ValueError` unless it is an int >= 0 (numpy ints too, not bools) or None."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"{name} must be an int >= 0 or None, got {seed!r}")
    return int(seed)


def check_count(value: Any, name: str, optional: bool = False) -> int | None:
    """`value` as an int >= 1 (or None when `optional`); `ValueError` naming `name` otherwise."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        allowed = "a positive int or None" if optional else "a positive int"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value)


@dataclasses.dataclass(frozen=True, kw_only=True, repr=False)
class EnvSpec:
    """The identity of a set of envs: every `VecEnv` gets one at construction (`VecEnv.env_spec`).

    Args:
        id: the env id `thrust.make` makes them from; None for envs built from constructors that
            `thrust.make` cannot rebuild.
        kwargs: the env constructor's keyword arguments (stored read-only; `dict(spec.kwargs)` copies them).
        backend: "native", "cuda" (native envs on the GPU), "serial", "multiprocessing", "envpool",
            "pettingzoo" (see `BACKENDS`), or "custom" for a `VecEnv` subclass of one's own.
        num_workers: worker processes (multiprocessing) or threads (envpool) asked for; None otherwise.
        seed: the seed of the first `reset()` called without one (None: unseeded).
    """

    id: str | None
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    backend: str
    num_workers: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.id is not None and not isinstance(self.id, str):
            raise ValueError(f"EnvSpec.id must be a str or None, got {self.id!r}")
        if not isinstance(self.kwargs, Mapping) or not all(isinstance(key, str) for key in self.kwargs):
            raise ValueError(f"EnvSpec.kwargs must be a mapping with str keys, got {self.kwargs!r}")
        if not isinstance(self.backend, str) or not self.backend:
            raise ValueError(f"EnvSpec.backend must be a non-empty str, got {self.backend!r}")
        object.__setattr__(self, "kwargs", MappingProxyType(dict(self.kwargs)))
        object.__setattr__(self, "num_workers", check_count(self.num_workers, "EnvSpec.num_workers", optional=True))
        object.__setattr__(self, "seed", check_seed(self.seed, "EnvSpec.seed"))

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-friendly when the kwargs are): `EnvSpec.from_dict(spec.to_dict()) == spec`."""
        return {
            "id": self.id, "kwargs": dict(self.kwargs), "backend": self.backend, "num_workers": self.num_workers,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EnvSpec:
        """The spec `to_dict` described; `ValueError` on missing or unknown keys."""
        names = {field.name for field in dataclasses.fields(cls)}
        if not isinstance(data, Mapping) or set(data) != names:
            keys = sorted(data) if isinstance(data, Mapping) else data
            raise ValueError(f"an EnvSpec dict has exactly the keys {sorted(names)}, got {keys!r}")
        return cls(**data)

    def __reduce__(self) -> tuple[Any, ...]:  # the read-only kwargs view cannot be pickled as it is
        return (EnvSpec.from_dict, (self.to_dict(),))

    def __hash__(self) -> int:
        return hash((self.id, tuple(sorted(self.kwargs.items())), self.backend, self.num_workers, self.seed))

    def __repr__(self) -> str:
        return (
            f"EnvSpec(id={self.id!r}, kwargs={dict(self.kwargs)!r}, backend={self.backend!r}, "
            f"num_workers={self.num_workers!r}, seed={self.seed!r})"
        )


def gymnasium_spec(env: Any, backend: str, num_workers: int | None = None) -> EnvSpec:
    """The `EnvSpec` of envs built directly from constructors like `env`: its Gymnasium spec's id if
    it has one (an env made by `gym.make`), else None. Constructor kwargs are not known here."""
    return EnvSpec(id=env.spec.id if env.spec is not None else None, backend=backend, num_workers=num_workers)


def check_backend(env_spec: EnvSpec, backend: str) -> EnvSpec:
    """`env_spec`, unless it is no `EnvSpec` (`TypeError`) or names another backend than `backend` (`ValueError`)."""
    if not isinstance(env_spec, EnvSpec):
        raise TypeError(f"env_spec must be a thrust.vector.EnvSpec or None, got {type(env_spec).__name__}")
    if env_spec.backend != backend:
        raise ValueError(f"env_spec.backend is {env_spec.backend!r}, but these envs run on the {backend!r} backend")
    return env_spec
