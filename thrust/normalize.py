"""Running statistics for observation normalization and reward scaling (PPO details 26–28).

Both are `nn.Module`s whose statistics are buffers, so they travel in `state_dict()` with the model
they belong to: saved, loaded, and frozen at evaluation (only `update` changes them).
"""

from __future__ import annotations

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

    @torch.no_grad()
    def update(self, batch: torch.Tensor) -> None:
        """Fold a batch `[B, *shape]` into the statistics."""
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


class ObservationNormalizer(RunningMeanStd):
    """(obs − mean) / sqrt(var + ε), clipped to ±`clip`."""

    def __init__(self, shape: tuple[int, ...], clip: float = 10.0, epsilon: float = 1e-8) -> None:
        super().__init__(shape)
        self.clip = clip
        self.epsilon = epsilon

    @torch.no_grad()
    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        scale = (self.var + self.epsilon).rsqrt()
        return ((obs - self.mean) * scale).clamp_(-self.clip, self.clip).to(torch.float32)


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
        returns *= self.gamma
        returns += rewards
        self.return_stats.update(self.discounted_returns)
        returns[dones] = 0.0
        scale = 1.0 / np.sqrt(self.return_stats.var.item() + self.epsilon)
        return np.clip(rewards * scale, -self.clip, self.clip).astype(np.float32)
