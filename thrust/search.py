"""Hyperparameter search spaces: `name=distribution(...)` specs, checked against an algorithm's config.

    learning_rate=loguniform(1e-4,1e-2)   lr is short for learning_rate
    ent_coef=uniform(0,0.02)
    update_epochs=int(2,10)               integers, both ends included
    gamma=choice(0.98,0.99,0.995)

A space maps config field names to distributions. Population-based training samples from it and
perturbs within it (`explore`); sweeps hand it to Optuna (`suggest`). Bad specs raise `ValueError`
naming the spec and what was expected: an unknown field (with close matches), an unknown
distribution, the wrong number of arguments, low > high, a value the config refuses.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import math
import re
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from thrust.config import matches_type, type_name

ALIASES = {"lr": "learning_rate"}
"""short names a spec may use for a config field"""

PERTURB_FACTORS = (0.8, 1.25)
"""PBT's explore step multiplies a number by one of these (Jaderberg et al. 2017), then clips it to the bounds"""


@dataclass(frozen=True)
class Uniform:
    """A float drawn uniformly from [low, high], or log-uniformly when `log`."""

    low: float
    high: float
    log: bool = False

    def sample(self, rng: np.random.Generator) -> float:
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))

    def perturb(self, value: float, rng: np.random.Generator) -> float:
        return float(min(max(value * rng.choice(PERTURB_FACTORS), self.low), self.high))

    def suggest(self, trial: Any, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, log=self.log)

    def __str__(self) -> str:
        return f"{'loguniform' if self.log else 'uniform'}({self.low!r},{self.high!r})"  # exact: resume parses it


@dataclass(frozen=True)
class IntUniform:
    """An integer drawn uniformly from low..high, both included."""

    low: int
    high: int

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high, endpoint=True))

    def perturb(self, value: int, rng: np.random.Generator) -> int:
        factor = rng.choice(PERTURB_FACTORS)
        moved = round(value * factor)
        if moved == value:  # small integers would never move: take one step the same way instead
            moved = value + (1 if factor > 1 else -1)
        return int(min(max(moved, self.low), self.high))

    def suggest(self, trial: Any, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high)

    def __str__(self) -> str:
        return f"int({self.low},{self.high})"


@dataclass(frozen=True)
class Choice:
    """One of `options`; perturbing moves to a neighbouring option (the options are taken to be ordered)."""

    options: tuple[Any, ...]

    def sample(self, rng: np.random.Generator) -> Any:
        return self.options[int(rng.integers(len(self.options)))]

    def perturb(self, value: Any, rng: np.random.Generator) -> Any:
        index = self.options.index(value) if value in self.options else int(rng.integers(len(self.options)))
        step = 1 if rng.choice(PERTURB_FACTORS) > 1 else -1
        return self.options[min(max(index + step, 0), len(self.options) - 1)]

    def suggest(self, trial: Any, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.options))

    def __str__(self) -> str:
        return f"choice({','.join(map(str, self.options))})"


Distribution = Uniform | IntUniform | Choice
SearchSpace = dict[str, Distribution]
DISTRIBUTIONS = ("uniform", "loguniform", "int", "choice")
SPEC = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*=\s*(\w+)\s*\((.*)\)\s*$")


def parse_space(specs: Iterable[str] | Mapping[str, str | Distribution], config: Any) -> SearchSpace:
    """A search space from specs (`"lr=loguniform(1e-4,1e-2)"` strings, or a mapping of field name to
    a distribution or its text), checked against `config` (a config object of the algorithm): every
    bound and option must be a value the config accepts. `ValueError` naming the spec otherwise."""
    items = list(specs.items()) if isinstance(specs, Mapping) else [_split_spec(spec) for spec in specs]
    space: SearchSpace = {}
    fields = {field.name for field in dataclasses.fields(config)}
    for key, text in items:
        name = ALIASES.get(key, key.replace("-", "_"))
        spec = f"{key}={text}"
        if name not in fields:
            close = difflib.get_close_matches(name, sorted(fields), n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"search spec {spec!r}: unknown hyperparameter {key!r}{hint}")
        if name in space:
            raise ValueError(f"search spec {spec!r}: {name} is searched twice")
        distribution = text if isinstance(text, (Uniform, IntUniform, Choice)) else parse_distribution(text, spec)
        check_distribution(config, name, distribution, spec)
        space[name] = distribution
    return space


def _split_spec(spec: str) -> tuple[str, str]:
    match = SPEC.match(spec)
    if match is None:
        raise ValueError(
            f"search spec {spec!r} must read name=distribution(arguments), e.g. lr=loguniform(1e-4,1e-2); "
            f"distributions: {', '.join(DISTRIBUTIONS)}"
        )
    return match.group(1), f"{match.group(2)}({match.group(3)})"


def parse_distribution(text: str, spec: str) -> Distribution:
    """`uniform(a,b)`, `loguniform(a,b)`, `int(a,b)` or `choice(x,y,...)` as a distribution."""
    match = re.match(r"^\s*(\w+)\s*\((.*)\)\s*$", text)
    kind = match.group(1) if match else None
    if kind not in DISTRIBUTIONS:
        raise ValueError(f"search spec {spec!r}: unknown distribution {kind or text!r}; choose from "
                         f"{', '.join(f'{name}(...)' for name in DISTRIBUTIONS)}")
    args = [_literal(arg.strip(), spec) for arg in match.group(2).split(",") if arg.strip()]
    if kind == "choice":
        if not args:
            raise ValueError(f"search spec {spec!r}: choice(...) needs at least one option")
        return Choice(tuple(args))
    if len(args) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in args):
        raise ValueError(f"search spec {spec!r}: {kind}(low, high) takes two numbers, got {match.group(2)!r}")
    low, high = args
    if not low <= high:
        raise ValueError(f"search spec {spec!r}: low must not exceed high, got low={low} > high={high}")
    if kind == "int":
        if not (float(low).is_integer() and float(high).is_integer()):
            raise ValueError(f"search spec {spec!r}: int(low, high) takes integers, got {low}, {high}")
        return IntUniform(int(low), int(high))
    if kind == "loguniform" and low <= 0:
        raise ValueError(f"search spec {spec!r}: loguniform needs low > 0, got {low}")
    return Uniform(float(low), float(high), log=kind == "loguniform")


def _literal(text: str, spec: str) -> Any:
    """A number, bool or None as Python writes it; any other bare word is a string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        if re.fullmatch(r"[\w.-]+", text):
            return text
        raise ValueError(f"search spec {spec!r}: cannot read the argument {text!r}") from None


def check_distribution(config: Any, name: str, distribution: Distribution, spec: str) -> None:
    """`ValueError` unless every value `distribution` can give fits field `name` of `config`."""
    hint = typing.get_type_hints(type(config))[name]
    if isinstance(distribution, Choice):
        values = list(distribution.options)
    else:
        values = [distribution.low, distribution.high]
        if isinstance(distribution, Uniform) and not matches_type(0.5, hint):
            raise ValueError(f"search spec {spec!r}: {name} is {type_name(hint)}: use int(low, high) or choice(...)")
    for value in values:
        if not matches_type(value, hint):
            raise ValueError(f"search spec {spec!r}: {name} must be {type_name(hint)}, got {value!r}")
        try:
            dataclasses.replace(config, **{name: value}).validate()
        except ValueError as error:
            raise ValueError(f"search spec {spec!r}: {error}") from None


def default_space(config: Any) -> SearchSpace:
    """What PBT and sweeps search when given no space: the learning rate, a decade either side of the config's."""
    return {"learning_rate": Uniform(config.learning_rate / 10, config.learning_rate * 10, log=True)}


def describe(space: SearchSpace) -> str:
    """The space as specs: `learning_rate=loguniform(0.0001,0.01) ent_coef=uniform(0,0.02)`."""
    return " ".join(f"{name}={distribution}" for name, distribution in space.items())
