"""The algorithms, known by name: each is one short module over the shared parts (`thrust.training`).

A new algorithm is a module here with a subclass of `thrust.training.Algorithm` and one line in
`REGISTRY`; the CLI (`thrust train NAME`, `eval`, `--resume`), evaluation, plots and presets then
serve it with no code of their own. Modules are imported on first use, so `import thrust` stays
free of torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from thrust.training import Algorithm

REGISTRY: dict[str, str] = {
    "ppo": "thrust.algorithms.ppo:PPO",
    "impala": "thrust.algorithms.impala:IMPALA",
    "appo": "thrust.algorithms.impala:APPO",
}
"""algorithm name → "module:class" of its `Algorithm` subclass"""


def names() -> list[str]:
    """The registered algorithm names, in registration order."""
    return list(REGISTRY)


def get(name: str) -> type[Algorithm]:
    """The `Algorithm` subclass registered as `name`; `ValueError` naming the known ones otherwise."""
    if name not in REGISTRY:
        raise ValueError(f"unknown algorithm {name!r}; choose from {', '.join(REGISTRY)}")
    module, _, attribute = REGISTRY[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def load(path: Any, **kwargs: Any) -> Algorithm:
    """A model from any algorithm's checkpoint: the file's kind picks the class (`kwargs` go to its `load`)."""
    from thrust import checkpoint

    kind = checkpoint.kind_of(path)
    if kind not in REGISTRY:
        raise checkpoint.CheckpointError(
            f"{str(path)!r} holds a {kind!r} checkpoint, which no registered algorithm reads "
            f"({', '.join(REGISTRY)})"
        )
    return get(kind).load(path, **kwargs)
