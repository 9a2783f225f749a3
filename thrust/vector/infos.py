"""The env's own `info` keys, passed on in Gymnasium's vector format.

Every key a Gymnasium env reports in its `info` (success flags, costs, lives, ...) reaches the user as
Gymnasium's vector envs give it with same-step autoreset: `infos[key]` is an array over the envs,
valid where the mask `infos["_" + key]` is true (a dict value becomes a dict of such arrays, with its
own mask). At an episode end the step's info goes to `infos["final_info"]` (same format; mask
`infos["_final_info"]`, which is `infos["_final_obs"]`) and `infos[key]` holds the next episode's
reset info. `reset()` reports the reset infos.

The arrays are made the first time an env reports a key, typed from that value (bool, int and float
values and numpy scalars: an array of their dtype; a numpy array: one row per env; anything else:
an object array) and widened when a later value would not fit. They are reused from step to step,
like every returned array: valid until the next `step`/`recv`. An env that reports nothing costs
nothing: no array is made, and a step writes nothing. The keys Thrust fills itself ("episode", the
episode statistics, from `RecordEpisodeStatistics`'s record when an env has one; "final_obs";
"final_info") are not copied from an env's info.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

RESERVED = frozenset({"episode", "final_obs", "final_info"})
"""Keys of an env's `info` that Thrust's own `infos` entries take the place of."""

Report = tuple[int, dict[str, Any], bool]
"""`(env index, info, final)`: one env's info dict; `final`: the info of the step that ended its episode."""


def new_values(value: Any, n: int) -> np.ndarray:
    """An array for `n` values of the kind of `value`, as Gymnasium's vector envs make them."""
    if isinstance(value, (bool, int, float, np.bool_, np.number)):
        return np.zeros(n, dtype=np.asarray(value).dtype)
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return np.zeros((n, *value.shape), dtype=value.dtype)
    return np.full(n, None, dtype=object)


def widened(values: np.ndarray, value: Any) -> np.ndarray | None:
    """`values` widened to hold `value` too (a copy), or None when it already can."""
    if values.dtype == object:
        return None
    given = np.asarray(value)
    if given.shape == values.shape[1:] and given.dtype.kind in "biuf":
        dtype = np.result_type(values.dtype, given.dtype)
        return None if dtype == values.dtype else values.astype(dtype)
    wider = np.full(len(values), None, dtype=object)  # another shape, or not a number: one object per env
    for row in range(len(values)):
        wider[row] = values[row]
    return wider


class _Level:
    """One dict of the infos (the top level, `final_info`, or a dict value): its keys' arrays."""

    __slots__ = ("target", "num_envs", "masks", "skip", "fields", "levels")

    def __init__(self, target: dict[str, Any], num_envs: int, masks: list[np.ndarray], skip: frozenset[str]) -> None:
        self.target, self.num_envs, self.masks, self.skip = target, num_envs, masks, skip
        # key -> (values, mask, the type of value stored without a check: None for arrays, checked each time)
        self.fields: dict[str, tuple[np.ndarray, np.ndarray, type | None]] = {}
        self.levels: dict[str, _Level] = {}  # the dict values

    def write(self, row: int, info: dict[str, Any]) -> None:
        fields = self.fields
        for key, value in info.items():
            field = fields.get(key)
            if field is None or type(value) is not field[2]:
                if key in self.skip:
                    continue
                if isinstance(value, dict):
                    self._write_level(row, key, value)
                    continue
                field = self._fit(key, value)
            values, mask, _ = field
            values[row] = value
            mask[row] = True

    def _mask(self, key: str) -> np.ndarray:
        mask = self.target["_" + key] = np.zeros(self.num_envs, dtype=bool)
        self.masks.append(mask)
        return mask

    def _fit(self, key: str, value: Any) -> tuple[np.ndarray, np.ndarray, type | None]:
        """The field for `key` that can hold `value`: made on the key's first sight, widened when needed."""
        field = self.fields.get(key)
        if field is None:
            values, mask = new_values(value, self.num_envs), self._mask(key)
        else:
            values, mask, _ = field
            values = widened(values, value)
            if values is None:
                values = field[0]
        self.target[key] = values
        field = self.fields[key] = (values, mask, None if isinstance(value, np.ndarray) else type(value))
        return field

    def _write_level(self, row: int, key: str, value: dict[str, Any]) -> None:
        level = self.levels.get(key)
        if level is None:
            self.target[key] = {}
            level = self.levels[key] = _Level(self.target[key], self.num_envs, self.masks, frozenset())
            # No value's type is _Level: `write` always comes back here for this key.
            self.fields[key] = (np.empty(0), self._mask(key), _Level)
        level.write(row, value)
        self.fields[key][1][row] = True


class InfoArrays:
    """Writes envs' info dicts into the `infos` dict of `num_envs` rows that a `VecEnv` returns.

    `final_mask` (the `_final_obs` array of those `infos`) becomes `infos["_final_info"]`. Call
    `clear()` before writing a new step's infos, then `write(reports)`.
    """

    def __init__(self, infos: dict[str, Any], final_mask: np.ndarray) -> None:
        self.infos = infos
        self.final_mask = final_mask
        self.masks: list[np.ndarray] = []
        self.top = _Level(infos, len(final_mask), self.masks, RESERVED)
        self.final: _Level | None = None

    def clear(self) -> None:
        """Mark every key absent for every env (a loop over the keys seen so far: none, usually)."""
        for mask in self.masks:
            mask.fill(False)

    def write(self, reports: Iterable[Report], offset: int = 0) -> None:
        """Write each report's info at row `index + offset`."""
        for index, info, final in reports:
            (self._final_level() if final else self.top).write(index + offset, info)

    def _final_level(self) -> _Level:
        if self.final is None:
            self.infos["final_info"] = {}
            self.infos["_final_info"] = self.final_mask
            self.final = _Level(self.infos["final_info"], len(self.final_mask), self.masks, RESERVED)
        return self.final
