"""Hyperparameters: the fields every algorithm shares, their checks, and how a config is made.

`TrainConfig` holds what every algorithm has (env, seed, batch shape, learning rate, networks,
normalization, threads); an algorithm's config subclasses it with its own fields only. `make_config`
layers the preset of (algorithm, env), then the caller's values, and validates the result.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

import torch

from thrust.presets import preset
from thrust.storage import ADVANTAGE_NORMS

BACKENDS = ("auto", "native", "cuda", "serial", "multiprocessing", "envpool")  # what thrust.make accepts


@dataclass
class TrainConfig:
    """Hyperparameters every algorithm has: CleanRL's ppo.py defaults, under the env's preset where it has one."""

    env_id: str = "CartPole-v1"
    """environment id: a native Thrust env or any Gymnasium id"""
    seed: int = 1
    """seed of every random source: Python, NumPy, torch, the environments"""
    total_timesteps: int = 500_000
    """env steps to train for (per rank under torchrun); also fixes the learning-rate schedule"""
    device: str = "cpu"
    """torch device of the networks, the rollout storage and the update ("cpu", "cuda", "cuda:1")"""
    backend: str = "auto"
    """env backend: "auto", "native", "cuda", "serial", "multiprocessing" or "envpool" (see thrust.make)"""
    num_envs: int = 4
    """environments stepped in parallel (per rank under torchrun: the global batch is world size × num_envs ×
    num_steps)"""
    num_workers: int | None = None
    """worker processes (multiprocessing) or threads (envpool); None: thrust.make's default"""
    num_steps: int = 128
    """steps per env per rollout; a batch is num_envs × num_steps"""
    learning_rate: float = 2.5e-4
    """Adam learning rate"""
    anneal_lr: bool = True
    """decay the learning rate linearly to 0 over total_timesteps"""
    gamma: float = 0.99
    """discount factor"""
    ent_coef: float = 0.01
    """entropy bonus coefficient"""
    vf_coef: float = 0.5
    """value loss coefficient"""
    max_grad_norm: float = 0.5
    """global gradient-norm clipping threshold"""
    normalize_obs: bool = False
    """normalize observations by running mean and std, clipped to ±10 (saved with the model)"""
    normalize_reward: bool = False
    """scale rewards by the running std of the discounted return, clipped to ±10"""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """hidden layer sizes of the actor and critic MLPs"""
    shared_trunk: bool = False
    """one MLP trunk for actor and critic instead of two networks (image observations always share)"""
    log_std_init: float = 0.0
    """initial log standard deviation of Gaussian policies (Box actions)"""
    recurrent: str | None = None
    """a recurrent core between the encoder and the heads: "lstm", "gru" or None (feed-forward)"""
    recurrent_size: int = 128
    """units of the recurrent core"""
    torch_deterministic: bool = True
    """deterministic cuDNN algorithms"""
    num_threads: int = 1
    """torch CPU threads, set process-wide (0: leave torch's default); one is fastest for small networks"""

    @property
    def batch_size(self) -> int:
        """Env steps per iteration: num_envs × num_steps."""
        return self.num_envs * self.num_steps

    @property
    def num_iterations(self) -> int:
        """Whole iterations in total_timesteps (a remainder smaller than a batch is not run)."""
        return self.total_timesteps // self.batch_size

    def validate(self) -> None:
        """Raise `ValueError` naming the first field of the wrong type or inconsistent value."""
        check_types(self)
        for name in ("total_timesteps", "num_envs", "num_steps", "learning_rate"):
            check_positive(self, name)
        check_in_unit_interval(self, "gamma")
        for name in ("ent_coef", "vf_coef", "max_grad_norm", "num_threads"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.num_iterations < 1:
            raise ValueError(
                f"total_timesteps={self.total_timesteps} is less than one batch "
                f"(num_envs × num_steps = {self.batch_size})"
            )
        if self.recurrent not in (None, "lstm", "gru"):
            raise ValueError(f"recurrent must be 'lstm', 'gru' or None, got {self.recurrent!r}")
        check_positive(self, "recurrent_size")
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ValueError(f"hidden_sizes must be positive layer sizes, got {self.hidden_sizes!r}")
        check_backend(self)
        check_device(self.device)


def check_types(config: TrainConfig) -> None:
    """`ValueError` naming the first field whose value does not fit its declared type."""
    hints = typing.get_type_hints(type(config))
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if not matches_type(value, hints[field.name]):
            raise ValueError(f"{field.name} must be {type_name(hints[field.name])}, got {value!r}")


def check_backend(config: TrainConfig) -> None:
    """`ValueError` unless `backend` is one `thrust.make` knows and `num_workers` fits it."""
    if config.backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {config.backend!r}")
    if config.num_workers is None:
        return
    if config.num_workers < 1:
        raise ValueError(f"num_workers must be a positive number or None, got {config.num_workers!r}")
    if config.backend in ("native", "cuda", "serial"):
        raise ValueError(f"num_workers needs backend 'multiprocessing', 'envpool' or 'auto', not {config.backend!r}")


def check_device(name: str) -> None:
    """`ValueError` unless `name` is a torch device this machine has."""
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"device {name!r} is not a torch device: {error}") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} but CUDA is not available on this machine")


def matches_type(value: Any, hint: Any) -> bool:
    """Whether `value` fits a config field's type: an int fits a float, a bool fits neither, a tuple's
    items fit its item type, `X | None` takes None."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(matches_type(value, arg) for arg in typing.get_args(hint))
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        return isinstance(value, tuple) and all(matches_type(v, item) for v in value)
    if hint in (int, float):
        return isinstance(value, (int, hint)) and not isinstance(value, bool)
    return value is None if hint is type(None) else isinstance(value, hint)


def type_name(hint: Any) -> str:
    """A field type as a reader writes it: `int`, `float | None`, `tuple[int, ...]`."""
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def check_positive(config: TrainConfig, name: str) -> None:
    """`ValueError` unless field `name` is a finite number > 0."""
    value = getattr(config, name)
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive, got {value!r}")


def check_norm_adv(config: TrainConfig) -> None:
    """`ValueError` unless `config.norm_adv` is one of `ADVANTAGE_NORMS`; called before the type check so
    that CleanRL's booleans get told what to write instead."""
    if config.norm_adv not in ADVANTAGE_NORMS:
        raise ValueError(
            f"norm_adv must be one of {', '.join(map(repr, ADVANTAGE_NORMS))}, got {config.norm_adv!r} "
            "(CleanRL's norm_adv=True is 'standardize', False is 'none')"
        )


def check_in_unit_interval(config: TrainConfig, name: str) -> None:
    """`ValueError` unless field `name` lies in [0, 1]."""
    if not 0.0 <= getattr(config, name) <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {getattr(config, name)!r}")


def make_config(
    config_class: type[TrainConfig], algorithm: str, env_id: str, overrides: dict[str, Any],
    base: dict[str, Any] | None = None,
) -> Any:
    """A validated `config_class` from `base` (default: the preset of `algorithm` on `env_id`), then
    `overrides`; unknown names → `ValueError` with the close matches."""
    names = {field.name for field in dataclasses.fields(config_class)}
    for name in overrides:
        if name not in names:
            close = difflib.get_close_matches(name, sorted(names), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"unknown {algorithm.upper()} hyperparameter {name!r}{hint}")
    values = {**(preset(algorithm, env_id) if base is None else base), **overrides, "env_id": env_id}
    if isinstance(values.get("hidden_sizes"), list):  # as JSON and checkpoints hold it
        values["hidden_sizes"] = tuple(values["hidden_sizes"])
    hints = typing.get_type_hints(config_class)
    for name, value in values.items():  # 1e5 for an int field means 100000; 8.5 stays an error
        if hints.get(name) is int and isinstance(value, float) and value.is_integer():
            values[name] = int(value)
    config = config_class(**values)
    config.validate()
    return config
