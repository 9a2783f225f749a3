"""Random Network Distillation (Burda et al. 2018): an exploration bonus for observations seldom seen.

A fixed, randomly initialized `target` network maps an observation to features; a `predictor` network
is trained to reproduce them on the observations the agent visits. Its error is small where the agent
has been often and large elsewhere, so the error is the intrinsic reward. Both networks see
observations normalized by their own running mean and std (not the policy's normalization), clipped
to [-5, 5]; the reward is divided by a running std of the intrinsic discounted return, tracked per env
without episode ends (the intrinsic return is non-episodic), so its scale stays steady while the
predictor learns.

Vector observations go through MLPs (ReLU, 64 units); images (rank-3 observations, what the policy's
CNN encoder takes) through `thrust.policies.ImageCNN`, the policy's own trunk layout, and a linear
feature layer. The intrinsic reward of step `t` is the novelty of the observation the step led to,
the one the agent acts on next: with same-step autoreset, the next episode's first observation after
an episode ends, as in CleanRL's RND (the intrinsic return continues across episodes anyway).

`RND` is an `nn.Module`: both networks and the running statistics are in its `state_dict`. Only the
predictor's parameters are trained (`predictor.parameters()`, in the algorithm's optimizer).
"""

from __future__ import annotations

import math

import gymnasium as gym
import torch
from torch import nn

from thrust.normalize import RunningMeanStd
from thrust.policies import ImageCNN, is_channels_last, is_image_space, layer_init

FEATURES = 64  # the target's output size for vector observations (512 for images, as the paper's)
HIDDEN = 64  # units of the MLPs' hidden layers
OBS_CLIP = 5.0


def _mlp(in_features: int, hidden: tuple[int, ...], out_features: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for size in hidden:
        layers += [layer_init(nn.Linear(in_features, size)), nn.ReLU()]
        in_features = size
    layers.append(layer_init(nn.Linear(in_features, out_features)))
    return nn.Sequential(*layers)


class RND(nn.Module):
    """Target and predictor networks over one observation space, with RND's running statistics.

    `intrinsic_rewards(next_obs, update=True)` gives the normalized bonus of a rollout `[T, N, ...]`;
    `predictor_loss(obs)` is the distillation loss on a batch of observations.
    """

    def __init__(self, observation_space: gym.Space, num_envs: int, gamma: float) -> None:
        super().__init__()
        if not isinstance(observation_space, gym.spaces.Box):
            raise ValueError(f"RND needs Box observations, got {observation_space}")
        self.obs_shape = tuple(observation_space.shape)
        self.images = is_image_space(observation_space)
        if self.images:
            channels_last = is_channels_last(self.obs_shape)
            features = 512
            self.target = nn.Sequential(ImageCNN(self.obs_shape, channels_last), layer_init(nn.Linear(512, features)))
            self.predictor = nn.Sequential(
                ImageCNN(self.obs_shape, channels_last), layer_init(nn.Linear(512, 512)), nn.ReLU(),
                layer_init(nn.Linear(512, features)),
            )
        else:
            in_features = math.prod(self.obs_shape)
            self.target = _mlp(in_features, (HIDDEN, HIDDEN), FEATURES)
            self.predictor = _mlp(in_features, (HIDDEN, HIDDEN, HIDDEN), FEATURES)
        self.target.requires_grad_(False)
        self.obs_stats = RunningMeanStd(self.obs_shape)
        self.return_stats = RunningMeanStd(())
        self.register_buffer("discounted_returns", torch.zeros(num_envs, dtype=torch.float64))
        self.gamma = gamma

    def normalize(self, obs: torch.Tensor) -> torch.Tensor:
        """Observations `[B, ...]` by RND's running statistics, clipped to ±5, as float32."""
        scale = (self.obs_stats.var + 1e-8).rsqrt()
        normalized = ((obs.to(torch.float64) - self.obs_stats.mean) * scale).clamp_(-OBS_CLIP, OBS_CLIP)
        normalized = normalized.to(torch.float32)
        return normalized if self.images else normalized.flatten(1)

    def errors(self, obs: torch.Tensor) -> torch.Tensor:
        """The predictor's squared error per observation `[B]` (mean over features), with gradient."""
        normalized = self.normalize(obs)
        with torch.no_grad():
            target = self.target(normalized)
        return (self.predictor(normalized) - target).square().mean(-1)

    @torch.no_grad()
    def intrinsic_rewards(self, next_obs: torch.Tensor, update: bool = True) -> torch.Tensor:
        """Bonuses `[T, N]` for a rollout whose step `t` led to `next_obs[t]` (`[T, N, ...]`), divided by
        the running std of the intrinsic discounted return.

        With `update`, the observation statistics take in `next_obs` first, and the return statistics
        the rollout's discounted returns (carried per env from rollout to rollout, never reset).
        """
        T, N = next_obs.shape[:2]
        flat = next_obs.flatten(0, 1)
        if update:
            self.obs_stats.update(flat)
        rewards = self.errors(flat).view(T, N)
        if update:
            returns = torch.empty((T, N), dtype=torch.float64, device=rewards.device)
            running = self.discounted_returns
            for t in range(T):
                running.mul_(self.gamma).add_(rewards[t])
                returns[t] = running
            self.return_stats.update(returns.flatten())
        return rewards / (self.return_stats.var + 1e-8).sqrt().to(rewards.dtype)

    def predictor_loss(self, obs: torch.Tensor) -> torch.Tensor:
        """The predictor's mean squared error over observations `[B, ...]`: its distillation loss."""
        return self.errors(obs).mean()
