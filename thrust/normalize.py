"""Running statistics for observation normalization and reward scaling (PPO details 26–28).

Both are `nn.Module`s whose statistics are buffers, so they travel in `state_dict()` with the model
they belong to: saved, loaded, and frozen at evaluation (only `update` changes them).
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from torch import nn


class RunningMeanStd(nn.Module):
    """Mean and variance of a stream of batches (Chan et al.'s parallel update), kept in float64."""

    def __init__(self, shape: tuple[int, ...] = (), epsilon: float = 1e-4) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))
        # A tiny prior count keeps the first update well defined, as in OpenAI baselines.
        self.register_buffer("count", torch.tensor(epsilon, dtype=torch.float64))

    def update(self, batch: torch.Tensor) -> None:
        """Fold a batch `[B, *shape]` into the statistics."""
        mean = self.mean
        if len(batch) == 1 and batch.is_cpu and mean.is_cpu:
            # A single env folds in one row per step, where the dozen torch calls below cost about 20 µs and
            # this kernel a fraction of one. It is the same formula with the row's mean (itself) and variance
            # (0) put in, the same IEEE operations in the same order, so the same bits.
            fold_row(mean.numpy().reshape(-1), self.var.numpy().reshape(-1), self.count.numpy().reshape(1),
                     batch.detach().numpy().reshape(-1))
        else:
            with torch.no_grad():
                self._update(batch)

    def _update(self, batch: torch.Tensor) -> None:
        batch = batch.to(torch.float64)
        batch_mean = batch.mean(0)
        batch_var = batch.var(0, unbiased=False)
        batch_count = batch.shape[0]
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean += delta * batch_count / total
        m2 = self.var * self.count + batch_var * batch_count + delta.square() * self.count * batch_count / total
        self.var.copy_(m2 / total)
        self.count.copy_(total)


@numba.njit(cache=True)
def fold_row(mean: np.ndarray, var: np.ndarray, count: np.ndarray, row: np.ndarray) -> None:
    """`RunningMeanStd.update` for one row (flat float64 `mean`, `var`, `count[0]`), in place."""
    prior, total = count[0], count[0] + 1.0
    for i in range(mean.shape[0]):
        delta = np.float64(row[i]) - mean[i]
        mean[i] += delta * 1.0 / total
        var[i] = (var[i] * prior + 0.0 * 1.0 + delta * delta * prior * 1.0 / total) / total
    count[0] = total


@numba.njit(cache=True)
def scale_one_reward(rewards: np.ndarray, dones: np.ndarray, returns: np.ndarray, mean: np.ndarray, var: np.ndarray,
                     count: np.ndarray, gamma: float, epsilon: float, clip: float, out: np.ndarray) -> None:
    """`RewardScaler.forward` of one env on numpy (`mean`, `var`, `count`: its return statistics, flat), in place."""
    returns[0] = returns[0] * gamma + np.float64(rewards[0])
    fold_row(mean, var, count, returns)
    if dones[0]:
        returns[0] = 0.0
    scaled = np.float64(rewards[0]) * (1.0 / np.sqrt(var[0] + epsilon))
    if scaled < -clip:
        scaled = -clip
    elif scaled > clip:
        scaled = clip
    out[0] = scaled


@numba.njit(cache=True)
def normalize_rows(obs: np.ndarray, mean: np.ndarray, var: np.ndarray, epsilon: float, clip: float,
                   out: np.ndarray) -> None:
    """`ObservationNormalizer.forward` of flat rows `obs [B, D]` into float32 `out [B, D]` (NaN stays NaN, as
    torch's clamp leaves it)."""
    for j in range(mean.shape[0]):
        scale = 1.0 / np.sqrt(var[j] + epsilon)
        for i in range(obs.shape[0]):
            value = (np.float64(obs[i, j]) - mean[j]) * scale
            if value < -clip:
                value = -clip
            elif value > clip:
                value = clip
            out[i, j] = value


class ObservationNormalizer(RunningMeanStd):
    """(obs − mean) / sqrt(var + ε), clipped to ±`clip`."""

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0, epsilon: float = 1e-8) -> None:
        super().__init__(shape)
        self.clip = clip
        self.epsilon = epsilon

    def forward(self, obs: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """Normalized float32 observations, written into `out` (contiguous, obs's shape) when given."""
        mean = self.mean
        # Few envs on the CPU: one kernel instead of five torch calls (about 18 µs with one env), the same bits.
        # (Not for scalar observations: there torch computes float32 observations in float32, as 0-d statistics
        # take no part in its type promotion.)
        if obs.is_cpu and mean.is_cpu and mean.dim() > 0 and (out is None or out.is_contiguous()):
            out = torch.empty(obs.shape, dtype=torch.float32) if out is None else out
            rows = len(obs)
            normalize_rows(obs.detach().numpy().reshape(rows, -1), mean.numpy().reshape(-1),
                           self.var.numpy().reshape(-1), self.epsilon, self.clip,
                           out.detach().numpy().reshape(rows, -1))
            return out
        with torch.no_grad():
            scale = (self.var + self.epsilon).rsqrt()
            normalized = ((obs - mean) * scale).clamp_(-self.clip, self.clip).to(torch.float32)
            return normalized if out is None else out.copy_(normalized)


class RewardScaler(nn.Module):
    """Divides rewards by the running standard deviation of the discounted return, then clips to ±`clip`.

    The discounted return is tracked per env and restarts at every episode end (terminated or truncated).
    Rewards arrive from the env as numpy arrays, so this module stays on the CPU whatever the learner's device;
    from a GPU env they arrive as tensors, and the module moves to their device at the first call.
    """

    def __init__(self, num_envs: int, gamma: float, clip: float = 10.0, epsilon: float = 1e-8) -> None:
        super().__init__()
        self.return_stats = RunningMeanStd(())
        self.register_buffer("discounted_returns", torch.zeros(num_envs, dtype=torch.float64))
        self.gamma = gamma
        self.clip = clip
        self.epsilon = epsilon

    @torch.no_grad()
    def forward(
        self, rewards: np.ndarray | torch.Tensor, dones: np.ndarray | torch.Tensor
    ) -> np.ndarray | torch.Tensor:
        """Scaled rewards (float32) for one step of all envs, of the kind given (numpy, or tensors computing
        the same numbers on their device without a synchronization); updates the statistics."""
        if isinstance(rewards, torch.Tensor):
            if self.discounted_returns.device != rewards.device:
                self.to(rewards.device)
            returns = self.discounted_returns.mul_(self.gamma).add_(rewards)
            self.return_stats.update(returns)
            returns.masked_fill_(dones, 0.0)
            scale = 1.0 / torch.sqrt(self.return_stats.var + self.epsilon)
            return torch.clamp(rewards.to(torch.float64) * scale, -self.clip, self.clip).to(torch.float32)
        returns = self.discounted_returns.numpy()
        if len(returns) == 1:  # one env: the lines below in one kernel (about 25 µs of numpy calls), the same bits
            stats = self.return_stats
            mean, var, count = (buffer.numpy().reshape(-1) for buffer in (stats.mean, stats.var, stats.count))
            scaled = np.empty(1, dtype=np.float32)
            scale_one_reward(np.asarray(rewards), np.asarray(dones), returns, mean, var, count, self.gamma,
                             self.epsilon, self.clip, scaled)
            return scaled
        returns *= self.gamma
        returns += rewards
        self.return_stats.update(self.discounted_returns)
        returns[dones] = 0.0
        scale = 1.0 / np.sqrt(self.return_stats.var.item() + self.epsilon)
        scaled = rewards * scale
        # np.clip's own bits without its Python-level argument handling (as costly as the rest of the step here)
        return np.minimum(np.maximum(scaled, -self.clip, out=scaled), self.clip, out=scaled).astype(np.float32)
