"""Rollout storage: the `[T, N, ...]` tensors of one rollout, allocated once on the learner's device.

Row `t` of every tensor is what happened at step `t` of each of the `N` envs (or agent rows). The
collector writes into the rows in place; algorithms read them flattened to `[T·N, ...]` for their
updates. Nothing here allocates after construction.

What varies between algorithms has its room here:
- several value heads (extrinsic and intrinsic returns): `head_values`, `head_rewards`,
  `head_final_values` and `head_advantages` are `[H, T, N]`; `values`, `rewards`, `final_values` and
  `advantages` are head 0, each a contiguous `[T, N]` view;
- recurrent policies: `states`, the core's state entering each step (zeroed where an episode starts),
  from which training replays sequences of any length;
- absent rows (agents not yet spawned or already done): `row_masks`, true where a row counts;
  `masked_mean` and `normalize_advantages` are what every algorithm's loss reads them with.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch


def observation_dtype(observation_space: gym.Space, normalized: bool) -> torch.dtype:
    """How observations are stored: raw bytes for uint8 images fed unnormalized, float32 otherwise."""
    frames = isinstance(observation_space, gym.spaces.Box) and len(observation_space.shape) == 3 \
        and observation_space.dtype == np.uint8
    return torch.uint8 if frames and not normalized else torch.float32


def sequences(tensor: torch.Tensor, length: int) -> torch.Tensor:
    """`[T, N, ...]` → `[length, (T / length)·N, ...]`: every env's rollout cut into sequences of `length`
    steps, sequence `c·N + n` being steps `c·length …` of env `n`. With `length` 1 this is the flattened
    batch, in its order."""
    T, N = tensor.shape[:2]
    chunks = tensor.reshape(T // length, length, N, *tensor.shape[2:])
    return chunks.transpose(0, 1).reshape(length, (T // length) * N, *tensor.shape[2:])


def masked_mean(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """The mean of `x` over the rows that count (`mask` true; None: all of them). The others are selected away,
    not multiplied by zero, so that whatever they hold (even inf) reaches neither the loss nor the gradient."""
    if mask is None:
        return x.mean()
    return torch.where(mask, x, 0.0).sum() / mask.sum().clamp(min=1)


ADVANTAGE_NORMS = ("standardize", "center", "none")
"""what a loss does to each minibatch's advantages (PPO's and APPO's `norm_adv`): "standardize" (less the
mean, over the standard deviation: CleanRL's `norm_adv=True`), "center" (less the mean only), "none" """


def normalize_advantages(x: torch.Tensor, how: str, mask: torch.Tensor | None) -> torch.Tensor:
    """Advantages `x` normalized `how` (one of `ADVANTAGE_NORMS`) over the rows that count only (`mask` true;
    None: all of them), so that absent rows do not move it. "standardize" divides by the unbiased standard
    deviation + 1e-8."""
    if how == "none":
        return x
    centered = x - masked_mean(x, mask)
    if how == "center":
        return centered
    if mask is None:
        return centered / (x.std() + 1e-8)
    variance = torch.where(mask, centered, 0.0).square().sum() / (mask.sum() - 1).clamp(min=1)
    return centered / (variance.sqrt() + 1e-8)


class RolloutStorage:
    """Preallocated rollout tensors for `num_steps` steps of `num_envs` rows.

    `obs[t]` is the observation acted on at step `t`; `next_obs` the one after the last step (where the
    next rollout starts, and what the advantages bootstrap from). Actions are float32 for `Box`
    spaces and int64 otherwise, in the space's shape.
    """

    def __init__(
        self,
        num_steps: int,
        num_envs: int,
        observation_space: gym.Space,
        action_space: gym.Space,
        device: torch.device,
        obs_dtype: torch.dtype = torch.float32,
        value_heads: int = 1,
        recurrent_state_shape: tuple[int, ...] | None = None,
        row_masks: bool = False,
    ) -> None:
        if value_heads < 1:
            raise ValueError(f"value_heads must be >= 1, got {value_heads}")
        T, N, H = num_steps, num_envs, value_heads
        self.num_steps, self.num_envs, self.value_heads, self.device = T, N, H, device
        action_dtype = torch.float32 if isinstance(action_space, gym.spaces.Box) else torch.int64
        self.obs = torch.zeros((T, N, *observation_space.shape), dtype=obs_dtype, device=device)
        self.actions = torch.zeros((T, N, *action_space.shape), dtype=action_dtype, device=device)
        self.logprobs = torch.zeros((T, N), device=device)
        self.head_values = torch.zeros((H, T, N), device=device)
        self.head_rewards = torch.zeros((H, T, N), device=device)
        self.terminations = torch.zeros((T, N), dtype=torch.bool, device=device)
        self.truncations = torch.zeros((T, N), dtype=torch.bool, device=device)
        self.head_final_values = torch.zeros((H, T, N), device=device)
        self.head_advantages = torch.zeros((H, T, N), device=device)
        self.next_obs = torch.zeros((N, *observation_space.shape), dtype=obs_dtype, device=device)
        self.states = (
            None if recurrent_state_shape is None
            else torch.zeros((T, N, *recurrent_state_shape), device=device)
        )
        self.row_masks = torch.ones((T, N), dtype=torch.bool, device=device) if row_masks else None

    def episode_starts(self) -> torch.Tensor:
        """`[T, N]`, true at step `t > 0` where the step before ended an episode (never at `t = 0`: `states[0]`
        is zeroed already where one starts there)."""
        starts = torch.zeros_like(self.terminations)
        torch.logical_or(self.terminations[:-1], self.truncations[:-1], out=starts[1:])
        return starts

    # Head 0, the extrinsic return: what a single-head algorithm reads and writes.
    @property
    def values(self) -> torch.Tensor:
        """V(obs[t]) of head 0, `[T, N]`."""
        return self.head_values[0]

    @property
    def rewards(self) -> torch.Tensor:
        """The env's rewards (scaled when reward scaling is on), `[T, N]`."""
        return self.head_rewards[0]

    @property
    def final_values(self) -> torch.Tensor:
        """V(final observation) of head 0 where `truncations & ~terminations`, `[T, N]` (else unused)."""
        return self.head_final_values[0]

    @property
    def advantages(self) -> torch.Tensor:
        """Head 0's advantages, written by the algorithm, `[T, N]`."""
        return self.head_advantages[0]
