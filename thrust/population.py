"""Population-based training (Jaderberg et al. 2017): P members of one algorithm train side by side;
every `interval` iterations the worst exploit the best (copy their learner state exactly) and explore
(perturb or resample the copied hyperparameters within the search space).

Members live in this process and train in turn, interval by interval: on native envs a member's
iteration is milliseconds of numba and torch on one thread, and on the shared 2-core machine two runs
in two processes were no faster than in turn (BENCHMARKS.md, benchmarks/pbt.py).
Knows algorithms only through `thrust.algorithms.get`; the run folder and session are `run_pbt`'s
(`thrust.pbt_runs`).

What a member copies when it exploits another (`copy_learner_state`) is what a checkpoint holds of
the learner: the networks, the optimizer (moments and step counts), the observation normalizer and
the reward scaler's return statistics. It keeps its own envs, random streams, counters and episode
history, so its next update equals the source's given the same rollout and minibatch-shuffle state.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from thrust.search import SearchSpace

MUTABLE_FIELDS = frozenset({
    "learning_rate", "ent_coef", "vf_coef", "max_grad_norm", "gamma", "gae_lambda", "clip_coef",
    "clip_vloss", "norm_adv", "update_epochs", "target_kl", "rho_bar", "c_bar",
})
"""config fields that every iteration reads afresh, so a member can change them between iterations
(the learning rate is set from `config.learning_rate` at each iteration, the losses read the config);
the others fix the batch shape, the networks, the envs or the set-up"""


@dataclass
class PBTOptions:
    """How a population trains and selects."""

    population: int = 8
    """members trained side by side"""
    interval: int = 5
    """iterations of every member between two exploit/explore steps"""
    fraction: float = 0.25
    """the bottom fraction of the members (by recent return) copies one of the top fraction"""
    resample_probability: float = 0.25
    """chance that explore draws a hyperparameter afresh from its distribution instead of perturbing it"""
    start: str = "sample"
    """initial hyperparameters: "sample" (each member draws from the search space) or "config" (all start
    from the config: the preset and flags)"""

    def check(self) -> None:
        """`ValueError` naming the first option that does not make sense."""
        if self.population < 2:
            raise ValueError(f"--population must be at least 2, got {self.population}")
        if self.interval < 1:
            raise ValueError(f"--interval must be at least 1, got {self.interval}")
        if not 0 < self.fraction <= 0.5:
            raise ValueError(f"--fraction must lie in (0, 0.5], got {self.fraction}")
        if not 0 <= self.resample_probability <= 1:
            raise ValueError(f"--resample-probability must lie in [0, 1], got {self.resample_probability}")
        if self.start not in ("sample", "config"):
            raise ValueError(f"--start must be 'sample' or 'config', got {self.start!r}")


def check_mutable(space: SearchSpace) -> None:
    """`ValueError` for a searched field that cannot change while a member trains."""
    for name in space:
        if name not in MUTABLE_FIELDS:
            raise ValueError(
                f"PBT cannot search {name}: it is fixed for the whole run (it shapes the batch, the networks, the "
                f"envs or the set-up), while PBT changes hyperparameters mid-run; searchable: "
                f"{', '.join(sorted(MUTABLE_FIELDS))}. Search it with `thrust sweep`, where each trial is a run."
            )


def copy_learner_state(source: Any, target: Any) -> None:
    """Make `target`'s learner an exact copy of `source`'s: networks, optimizer, normalization statistics,
    and PPO's curiosity (RND's networks and statistics).

    The reward scaler's per-env discounted returns stay `target`'s: they follow its own envs' episodes.
    Copies are deep, so the two members never share a tensor.
    """
    target.policy.load_state_dict(source.policy.state_dict())
    target.optimizer.load_state_dict(copy.deepcopy(source.optimizer.state_dict()))
    if getattr(source, "curiosity", None) is not None:
        target.curiosity.load_state_dict(source.curiosity.state_dict())
    if source.obs_normalizer is not None:
        target.obs_normalizer.load_state_dict(source.obs_normalizer.state_dict())
    if source.reward_scaler is not None:
        target.reward_scaler.return_stats.load_state_dict(source.reward_scaler.return_stats.state_dict())


def set_hyperparameters(model: Any, values: dict[str, Any]) -> None:
    """Change searched hyperparameters of a model between iterations (validated as a whole)."""
    dataclasses.replace(model.config, **values).validate()
    for name, value in values.items():  # in place: every part of the model reads this config object
        setattr(model.config, name, value)
    if model.reward_scaler is not None:  # the one part that keeps a copy of a searched value
        model.reward_scaler.gamma = model.config.gamma


def explore(values: dict[str, Any], space: SearchSpace, rng: np.random.Generator, resample_probability: float
            ) -> dict[str, Any]:
    """New hyperparameters from copied ones: each resampled with `resample_probability`, else perturbed
    (×0.8 or ×1.25, a neighbouring choice), always within the space's bounds."""
    return {
        name: distribution.sample(rng) if rng.random() < resample_probability
        else distribution.perturb(values[name], rng)
        for name, distribution in space.items()
    }


def searched_values(model: Any, space: SearchSpace) -> dict[str, Any]:
    """The model's current values of the searched hyperparameters."""
    return {name: getattr(model.config, name) for name in space}


@dataclass
class LineageEvent:
    """One change in the population: a member started, copied another, or crashed and was replaced."""

    iteration: int
    member: int
    event: str  # "start", "exploit" or "crash"
    source: int | None
    score: float
    source_score: float
    hyperparameters: dict[str, Any]
    note: str = ""


MemberCallback = Callable[[int, Any, dict[str, float]], "bool | None"]


class Population:
    """P models of one algorithm trained in turn in this process, and the exploit/explore step between intervals.

    `scores[i]` is member i's mean episode return over its last interval (the mean of its iterations'
    mean returns), falling back to its last 100 episodes when none ended in the interval.
    """

    def __init__(self, members: list[Any], space: SearchSpace, options: PBTOptions, rng: np.random.Generator):
        self.members, self.space, self.options, self.rng = members, space, options, rng
        self.boundary = 0  # the iteration of the last exploit/explore step
        self.interval_returns: list[list[float]] = [[] for _ in members]
        self.scores = [-math.inf] * len(members)

    @property
    def num_iterations(self) -> int:
        """Iterations of each member's whole run (every member has the same batch and budget)."""
        return self.members[0].config.num_iterations

    def best(self) -> int:
        """The member with the highest score (the lowest index among equals)."""
        return int(np.argmax(self.scores))

    def train_until(self, iteration: int, on_iteration: MemberCallback) -> list[LineageEvent]:
        """Train every member in turn up to `iteration` (members already there wait). `on_iteration(i,
        model, metrics)` runs after each member iteration; returning False stops there (the rest keep
        their iteration). A member whose loss diverges is replaced by the best member, hyperparameters
        and all (reported as a "crash" event); a second divergence in one interval is raised."""
        events, crashed = [], set()
        interrupted = False

        def callback(model: Any, metrics: dict[str, float]) -> bool:
            nonlocal interrupted
            if "charts/episodic_return" in metrics:
                self.interval_returns[index].append(metrics["charts/episodic_return"])
            interrupted = on_iteration(index, model, metrics) is False
            return not interrupted and model.iteration < iteration

        for index, member in enumerate(self.members):
            while member.iteration < iteration and not interrupted:
                try:
                    member.learn(callback=callback)
                except FloatingPointError as error:
                    if index in crashed:
                        raise
                    crashed.add(index)
                    events.append(self._replace_crashed(index, str(error)))
            if interrupted:
                break
        return events

    def _replace_crashed(self, index: int, message: str) -> LineageEvent:
        candidates = [i for i in range(len(self.members)) if i != index]
        source = max(candidates, key=lambda i: (self.scores[i], -i))
        copy_learner_state(self.members[source], self.members[index])
        set_hyperparameters(self.members[index], searched_values(self.members[source], self.space))
        return LineageEvent(self.members[index].iteration, index, "crash", source, self.scores[index],
                            self.scores[source], searched_values(self.members[index], self.space), message)

    def update_scores(self) -> None:
        """Scores from the interval just trained; the interval's returns start afresh."""
        for index, member in enumerate(self.members):
            returns = self.interval_returns[index] or list(member.recent_returns)
            self.scores[index] = float(np.mean(returns)) if returns else -math.inf
            self.interval_returns[index] = []

    def exploit_and_explore(self) -> list[LineageEvent]:
        """Truncation selection: each member of the bottom fraction copies a random member of the top
        fraction that scored higher, then explores its hyperparameters. Returns what changed."""
        count = max(1, int(len(self.members) * self.options.fraction))
        order = sorted(range(len(self.members)), key=lambda i: (self.scores[i], -i))  # worst first
        bottom, top = order[:count], order[-count:]
        events = []
        for target in bottom:
            source = top[int(self.rng.integers(count))]
            if not self.scores[source] > self.scores[target]:
                continue
            copy_learner_state(self.members[source], self.members[target])
            values = explore(searched_values(self.members[source], self.space), self.space, self.rng,
                             self.options.resample_probability)
            set_hyperparameters(self.members[target], values)
            events.append(LineageEvent(self.members[target].iteration, target, "exploit", source,
                                       self.scores[target], self.scores[source], values))
        return events
