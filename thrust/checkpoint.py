"""Checkpoint files: atomic writes and validated reads.

A checkpoint is a `torch.save`d dict with a `format` marker and a `kind` (e.g. "ppo"). Writing goes
to a temporary file in the same folder, then `os.replace`s it, so a crash mid-write never leaves a
half-written checkpoint under the final name. Reading uses `weights_only=True` (no arbitrary pickles)
and turns every way a file can be wrong into a `CheckpointError` that says what is wrong.
"""

from __future__ import annotations

import os
import pickle
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

FORMAT = "thrust.checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file that is missing, unreadable (truncated, corrupt) or not what was expected."""


def _to_storable(value: Any) -> Any:
    """numpy arrays → tagged tensors, recursively, so the file loads with `weights_only=True`."""
    if isinstance(value, np.ndarray):
        return {"__numpy__": torch.from_numpy(np.ascontiguousarray(value)).clone()}
    if isinstance(value, dict):
        return {key: _to_storable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_storable(item) for item in value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _from_storable(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__numpy__"}:
            return value["__numpy__"].numpy()
        return {key: _from_storable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_from_storable(item) for item in value)
    return value


def save(path: str | os.PathLike, kind: str, state: dict[str, Any]) -> Path:
    """Write `state` atomically to `path` (parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "version": VERSION, "kind": kind, "state": _to_storable(state)}
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(payload, file)
            file.flush()
            os.fsync(file.fileno())
        umask = os.umask(0)  # mkstemp makes the file 0600: give it the mode every other file of the run gets
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def kind_of(path: str | os.PathLike) -> str:
    """The kind of the checkpoint at `path` (the algorithm that wrote it); `CheckpointError` for a bad file."""
    return _read(Path(path))["kind"]


def load(path: str | os.PathLike, kind: str) -> dict[str, Any]:
    """Read a checkpoint of `kind` written by `save`; `CheckpointError` for anything else."""
    path = Path(path)
    payload = _read(path)
    if payload.get("kind") != kind:
        raise CheckpointError(f"{str(path)!r} holds a {payload.get('kind')!r} checkpoint, expected {kind!r}")
    return _from_storable(payload["state"])


def _read(path: Path) -> dict[str, Any]:
    """The validated payload of a checkpoint file, of any kind."""
    if not path.is_file():
        raise CheckpointError(f"no checkpoint file at {str(path)!r}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for bad files; all mean the same to the user
        text = str(error)
        if isinstance(error, pickle.UnpicklingError) and "Weights only load failed" in text:
            # never pass on torch's advice to retry with weights_only=False: it means running the file's code
            found = re.search(r"GLOBAL (\S+)", text)
            if found:
                raise CheckpointError(
                    f"{str(path)!r} holds Python objects beyond tensors and plain data ({found[1]}): refused, "
                    f"because loading them could run code. Thrust's own checkpoints never hold such objects; "
                    f"this file was written by something else or tampered with"
                ) from None
            detail = re.search(r"WeightsUnpickler error:\s*(.+?)\s*(?:\n\n|$)", text, re.DOTALL)
            text = detail[1] if detail else "not a pickle of tensors"
        raise CheckpointError(
            f"{str(path)!r} is not a readable checkpoint (truncated, corrupt or not a torch file): "
            f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is a torch file but not a Thrust checkpoint")
    if payload.get("version") != VERSION:
        version = payload.get("version")
        raise CheckpointError(f"{str(path)!r} has checkpoint version {version}; this Thrust reads {VERSION}")
    return payload
