"""Actor-critic networks and their action distributions.

One class, `ActorCritic`, covers the observation and action spaces the algorithms meet, as an
encoder, an optional recurrent core, an action head and one or more value heads:

- vector observations → separate actor and critic MLPs (64×64 tanh by default), or one shared trunk;
- image observations (`Box` of rank 3, channels first or last, any size) → a CNN trunk shared by both
  heads: the Nature CNN from 36×36 up, a padded 3×3 CNN below; raw uint8 pixels are scaled to [0, 1];
- `Discrete`, `MultiDiscrete` and `MultiBinary` actions → independent categoricals (log-probs and
  entropies summed; a binary component is a categorical of two choices);
- `Box` actions → a Gaussian with a state-independent log-std; the sample is returned unclipped
  (clipping to the action bounds is the caller's business, so the log-prob is the sample's);
- `value_heads` outputs of the critic: one value per return an algorithm learns (e.g. extrinsic and
  intrinsic for curiosity); with one head values are `[B]`, with H heads `[B, H]`.

The recurrent core goes between the features (`_features`) and the heads, on a shared trunk; it is
the recurrent-policies work's to fill, with the storage's `initial_state` as its state per env.

Initialization follows PPO practice: orthogonal weights with gain √2 in hidden layers, 0.01 for the
policy output, 1 for the value output, zero biases.

Sampling is written for speed: categoricals use the Gumbel-max trick in its exponential form
(argmax p / E, E ~ Exp(1)) on the log-softmax already needed for the log-prob, a handful of tensor ops
instead of a `torch.distributions` object per step.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch
from torch import nn

# Padding logit for MultiDiscrete components with fewer choices than the largest one: exp() of it is
# exactly 0 in float32, and 0 × it is 0 (a −inf would turn the entropy into NaN).
_PADDING_LOGIT = -1e9
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def layer_init(layer: nn.Module, gain: float = math.sqrt(2), bias: float = 0.0) -> nn.Module:
    """Orthogonal weights with `gain`, constant bias (PPO detail 2)."""
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.constant_(layer.bias, bias)
    return layer


def mlp(in_features: int, hidden_sizes: tuple[int, ...], out_features: int | None, out_gain: float) -> nn.Sequential:
    """Linear+tanh layers; a last linear layer to `out_features` (gain `out_gain`) unless it is None."""
    layers: list[nn.Module] = []
    for size in hidden_sizes:
        layers += [layer_init(nn.Linear(in_features, size)), nn.Tanh()]
        in_features = size
    if out_features is not None:
        layers.append(layer_init(nn.Linear(in_features, out_features), gain=out_gain))
    return nn.Sequential(*layers)


NATURE_CNN_MIN_SIZE = 36  # the smallest height and width the Nature CNN's 8/4, 4/2, 3/1 convolutions take


class ImageCNN(nn.Sequential):
    """A convolutional trunk for images of any size and either layout, ending in 512 ReLU features.

    Images at least 36×36 get the DQN/PPO Atari trunk (Mnih et al. 2015: 8×8 stride 4, 4×4 stride 2,
    3×3 stride 1); smaller ones (MinAtar-like grids) three 3×3 convolutions, padded, strides 1, 2, 2.
    `channels_last` images (H, W, C), Gymnasium's usual layout, are permuted to (C, H, W) inside;
    inputs are divided by `divisor` (255 for raw uint8 pixels, 1 for floats or normalized observations).
    """

    def __init__(self, image_shape: tuple[int, int, int], channels_last: bool = False, divisor: float = 1.0) -> None:
        channels, height, width = (image_shape[2], *image_shape[:2]) if channels_last else image_shape
        if min(height, width) >= NATURE_CNN_MIN_SIZE:
            layers = [(channels, 32, 8, 4, 0), (32, 64, 4, 2, 0), (64, 64, 3, 1, 0)]
        else:
            layers = [(channels, 32, 3, 1, 1), (32, 64, 3, 2, 1), (64, 64, 3, 2, 1)]
        convolutions: list[nn.Module] = []
        for in_channels, out_channels, kernel, stride, padding in layers:
            convolutions += [layer_init(nn.Conv2d(in_channels, out_channels, kernel, stride, padding)), nn.ReLU()]
        convolutions.append(nn.Flatten())
        with torch.no_grad():
            flat = nn.Sequential(*convolutions)(torch.zeros(1, channels, height, width)).shape[1]
        super().__init__(*convolutions, layer_init(nn.Linear(flat, 512)), nn.ReLU())
        self.channels_last, self.divisor = channels_last, divisor

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        obs = obs.float() if self.divisor == 1.0 else obs.float() / self.divisor
        return super().forward(obs.permute(0, 3, 1, 2) if self.channels_last else obs)


def is_image_space(space: gym.Space) -> bool:
    """Whether observations of `space` are images for a CNN: a rank-3 `Box`, channels first or last."""
    return isinstance(space, gym.spaces.Box) and len(space.shape) == 3


def is_channels_last(shape: tuple[int, ...]) -> bool:
    """Whether an image shape is (H, W, C): the channel axis is the smaller end (ties: channels first)."""
    return shape[2] < shape[0]


class ActorCritic(nn.Module):
    """Policy and value function for one observation space and one action space.

    `act` (rollouts, no gradient), `evaluate` (the PPO loss), `value` and `deterministic_action`
    all take observations already normalized (see `thrust.normalize`) as float tensors `[B, ...]`.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        hidden_sizes: tuple[int, ...] = (64, 64),
        shared_trunk: bool = False,
        log_std_init: float = 0.0,
        value_heads: int = 1,
        normalized_obs: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(action_space, gym.spaces.Discrete):
            self.kind = "categorical"
            nvec = np.array([action_space.n])
            self.register_buffer("action_start", torch.tensor([int(action_space.start)]))
        elif isinstance(action_space, gym.spaces.MultiDiscrete):
            if action_space.nvec.ndim != 1:
                raise ValueError(f"MultiDiscrete action spaces must be one-dimensional, got nvec {action_space.nvec}")
            self.kind = "categorical"
            nvec = action_space.nvec
            self.register_buffer("action_start", torch.as_tensor(action_space.start, dtype=torch.int64))
        elif isinstance(action_space, gym.spaces.MultiBinary):
            if len(action_space.shape) != 1:
                raise ValueError(f"MultiBinary action spaces must be one-dimensional, got shape {action_space.shape}")
            self.kind = "categorical"
            nvec = np.full(action_space.shape, 2)
            self.register_buffer("action_start", torch.zeros(action_space.shape, dtype=torch.int64))
        elif isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
            self.kind = "gaussian"
            nvec = None
        else:
            raise ValueError(
                f"unsupported action space {action_space}: use Discrete, MultiDiscrete, MultiBinary or a 1-D Box"
            )
        if value_heads < 1:
            raise ValueError(f"value_heads must be >= 1, got {value_heads}")
        self.value_heads = value_heads
        self.scalar_action = isinstance(action_space, gym.spaces.Discrete)

        if self.kind == "categorical":
            self.num_components, self.max_choices = len(nvec), int(nvec.max())
            head_size = self.num_components * self.max_choices
            # Additive mask: 0 for a component's real choices, _PADDING_LOGIT for the padding.
            padding = torch.arange(self.max_choices)[None, :] >= torch.as_tensor(nvec)[:, None]
            self.register_buffer("logit_padding", padding.float() * _PADDING_LOGIT)
            # Skipping no-op additions matters when acting costs a few tensor ops per step.
            self.padded = bool(padding.any())
            self.offset = bool(self.action_start.any())
        else:
            head_size = action_space.shape[0]
            self.log_std = nn.Parameter(torch.full((head_size,), float(log_std_init)))

        if is_image_space(observation_space):
            # Raw bytes are scaled to [0, 1]; floats (already in their range) and normalized observations are not.
            divisor = 255.0 if observation_space.dtype == np.uint8 and not normalized_obs else 1.0
            self.trunk: nn.Module | None = ImageCNN(observation_space.shape, is_channels_last(observation_space.shape),
                                                    divisor)
            self.actor = layer_init(nn.Linear(512, head_size), gain=0.01)
            self.critic = layer_init(nn.Linear(512, value_heads), gain=1.0)
        else:
            if not isinstance(observation_space, gym.spaces.Box):
                raise ValueError(f"unsupported observation space {observation_space}: use a Box")
            in_features = int(np.prod(observation_space.shape))
            if shared_trunk:
                self.trunk = mlp(in_features, hidden_sizes, None, 0.0)
                in_features, hidden_sizes = hidden_sizes[-1], ()
            else:
                self.trunk = None
            self.actor = mlp(in_features, hidden_sizes, head_size, out_gain=0.01)
            self.critic = mlp(in_features, hidden_sizes, value_heads, out_gain=1.0)
        self.flatten_obs = not is_image_space(observation_space) and len(observation_space.shape) != 1

    # -- the pieces ---------------------------------------------------------------------------------

    def _features(self, obs: torch.Tensor) -> torch.Tensor:
        if self.flatten_obs:
            obs = obs.flatten(1)
        return obs if self.trunk is None else self.trunk(obs)

    def _log_probs(self, head: torch.Tensor) -> torch.Tensor:
        """Log-probabilities `[B, components, choices]` of every categorical choice."""
        logits = head.view(-1, self.num_components, self.max_choices)
        if self.padded:
            logits = logits + self.logit_padding
        return logits.log_softmax(-1)

    def _to_env_action(self, index: torch.Tensor) -> torch.Tensor:
        """Choice indices `[B, components]` → actions in the space's own numbering and shape."""
        action = index + self.action_start if self.offset else index
        return action[:, 0] if self.scalar_action else action

    def _values(self, features: torch.Tensor) -> torch.Tensor:
        values = self.critic(features)
        return values.squeeze(-1) if self.value_heads == 1 else values

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """V(obs): `[B]`, or `[B, H]` with H value heads."""
        return self._values(self._features(obs))

    # -- what the algorithms call --------------------------------------------------------------------

    def act(
        self, obs: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample actions: `(action, log_prob, value)`, without gradient."""
        with torch.no_grad():
            features = self._features(obs)
            head = self.actor(features)
            value = self._values(features)
            if self.kind == "categorical":
                log_probs = self._log_probs(head)
                noise = torch.empty_like(log_probs).exponential_(generator=generator)
                index = log_probs.exp().div_(noise).argmax(-1, keepdim=True)
                log_prob = log_probs.gather(-1, index).sum((1, 2))
                return self._to_env_action(index.squeeze(-1)), log_prob, value
            noise = torch.randn(head.shape, generator=generator, device=head.device, dtype=head.dtype)
            action = head + noise * self.log_std.exp()
            log_prob = (-0.5 * noise.square() - self.log_std - _LOG_SQRT_2PI).sum(-1)
            return action, log_prob, value

    def evaluate(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`(log_prob, entropy, value)` of given actions, with gradient (the PPO loss)."""
        features = self._features(obs)
        head = self.actor(features)
        value = self._values(features)
        if self.kind == "categorical":
            log_probs = self._log_probs(head)
            index = action.view(action.shape[0], -1, 1)
            if self.offset:
                index = index - self.action_start.unsqueeze(-1)
            log_prob = log_probs.gather(-1, index).sum((1, 2))
            entropy = -(log_probs.exp() * log_probs).sum((1, 2))
            return log_prob, entropy, value
        log_std = self.log_std.expand_as(head)
        log_prob = (-0.5 * ((action - head) / log_std.exp()).square() - log_std - _LOG_SQRT_2PI).sum(-1)
        entropy = (0.5 + _LOG_SQRT_2PI + log_std).sum(-1)
        return log_prob, entropy, value

    def deterministic_action(self, obs: torch.Tensor) -> torch.Tensor:
        """The mode: the most likely choice per component, or the Gaussian's mean."""
        with torch.no_grad():
            head = self.actor(self._features(obs))
            if self.kind == "categorical":
                return self._to_env_action(self._log_probs(head).argmax(-1))
            return head
