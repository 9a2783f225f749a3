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

- `recurrent="lstm"` or `"gru"` → a recurrent core between the encoder (a shared trunk: the MLP of
  `hidden_sizes`, or the CNN) and linear heads. Its state per row is one tensor `[B, S, recurrent_size]`
  (S = 2 for an LSTM's hidden and cell state, 1 for a GRU's), which `act` and `deterministic_action`
  advance in place; zeroing a row's state starts an episode. `evaluate_sequences` replays whole
  sequences `[L, B]` from their initial states with the episode starts applied inside, exactly as
  the rollout stepped them.

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
from torch.nn import functional as F

# Padding logit for MultiDiscrete components with fewer choices than the largest one: exp() of it is
# exactly 0 in float32, and 0 × it is 0 (a −inf would turn the entropy into NaN).
_PADDING_LOGIT = -1e9
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def layer_init(layer: nn.Module, gain: float = math.sqrt(2), bias: float = 0.0) -> nn.Module:
    """Orthogonal weights with `gain`, constant bias (PPO detail 2)."""
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.constant_(layer.bias, bias)
    return layer


class MLP(nn.Sequential):
    """Linear+tanh layers, stored as an `nn.Sequential` (so its parameters are named `0.weight`, `2.bias`, ...).

    `forward` runs the layers' functions on their parameters instead of calling each submodule: at the
    batch of 1-8 rows a rollout with few envs acts on, torch's per-module call machinery (hook checks,
    attribute lookups) is a good part of the cost, and skipping it takes about a fifth off a 64×64 MLP's
    forward at batch 1 (25 → 20 µs here). The numbers are the same bits (the same kernels run); hooks
    registered on the layers inside are not called.
    """

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__(*layers)
        self.tanh_after = [isinstance(following, nn.Tanh) for following in [*layers[1:], None]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer, tanh_after in zip(self, self.tanh_after, strict=True):
            if isinstance(layer, nn.Linear):
                x = F.linear(x, layer.weight, layer.bias)
                if tanh_after:
                    x = torch.tanh(x)
        return x


def mlp(in_features: int, hidden_sizes: tuple[int, ...], out_features: int | None, out_gain: float) -> MLP:
    """Linear+tanh layers; a last linear layer to `out_features` (gain `out_gain`) unless it is None."""
    layers: list[nn.Module] = []
    for size in hidden_sizes:
        layers += [layer_init(nn.Linear(in_features, size)), nn.Tanh()]
        in_features = size
    if out_features is not None:
        layers.append(layer_init(nn.Linear(in_features, out_features), gain=out_gain))
    return MLP(*layers)


RECURRENT_CORES: dict[str | None, type[nn.Module] | None] = {None: None, "lstm": nn.LSTMCell, "gru": nn.GRUCell}
"""the `recurrent=` choices: no core, or the torch cell stepped once per env step"""

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
        recurrent: str | None = None,
        recurrent_size: int = 128,
    ) -> None:
        super().__init__()
        if recurrent not in RECURRENT_CORES:
            raise ValueError(f"recurrent must be one of {list(RECURRENT_CORES)}, got {recurrent!r}")
        if recurrent is not None and recurrent_size < 1:
            raise ValueError(f"recurrent_size must be >= 1, got {recurrent_size}")
        if value_heads < 1:
            raise ValueError(f"value_heads must be >= 1, got {value_heads}")
        self.value_heads = value_heads
        head_size = self._init_action_head(action_space, log_std_init)

        if is_image_space(observation_space):
            # Raw bytes are scaled to [0, 1]; floats (already in their range) and normalized observations are not.
            divisor = 255.0 if observation_space.dtype == np.uint8 and not normalized_obs else 1.0
            self.trunk: nn.Module | None = ImageCNN(observation_space.shape, is_channels_last(observation_space.shape),
                                                    divisor)
            in_features, hidden_sizes = 512, ()
        else:
            if not isinstance(observation_space, gym.spaces.Box):
                raise ValueError(f"unsupported observation space {observation_space}: use a Box")
            in_features = int(np.prod(observation_space.shape))
            if shared_trunk or recurrent is not None:
                self.trunk = mlp(in_features, hidden_sizes, None, 0.0)
                in_features, hidden_sizes = hidden_sizes[-1], ()
            else:
                self.trunk = None
        # The core's weights: orthogonal, zero biases, as the layers around it.
        self.core: nn.Module | None = None
        if recurrent is not None:
            self.core = RECURRENT_CORES[recurrent](in_features, recurrent_size)
            for name, weight in self.core.named_parameters():
                nn.init.orthogonal_(weight) if name.startswith("weight") else nn.init.zeros_(weight)
            in_features = recurrent_size
        self.recurrent = recurrent
        self.state_shape = None if recurrent is None else (2 if recurrent == "lstm" else 1, recurrent_size)
        """the core's state per row, `(S, recurrent_size)`; None for a feed-forward policy"""
        if is_image_space(observation_space):  # plain layers after a CNN (the checkpoints' parameter names)
            self.actor = layer_init(nn.Linear(in_features, head_size), gain=0.01)
            self.critic = layer_init(nn.Linear(in_features, value_heads), gain=1.0)
        else:
            self.actor = mlp(in_features, hidden_sizes, head_size, out_gain=0.01)
            self.critic = mlp(in_features, hidden_sizes, value_heads, out_gain=1.0)
        self.flatten_obs = not is_image_space(observation_space) and len(observation_space.shape) != 1

    # -- the pieces ---------------------------------------------------------------------------------

    def _init_action_head(self, action_space: gym.Space, log_std_init: float) -> int:
        """The action distribution's buffers and parameters; returns the size of the actor's output."""
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
            return head_size
        head_size = action_space.shape[0]
        self.log_std = nn.Parameter(torch.full((head_size,), float(log_std_init)))
        return head_size


    def _features(self, obs: torch.Tensor, state: torch.Tensor | None = None, advance: bool = False) -> torch.Tensor:
        """What the heads see: the encoder's features, through the core from `state` when there is one
        (`state` then advanced in place if `advance`)."""
        features = self._encode(obs)
        if self.core is None:
            return features
        if state is None:
            raise ValueError(f"this {self.recurrent.upper()} policy needs its state, a tensor "
                             f"[B, {self.state_shape[0]}, {self.state_shape[1]}] (zeros start an episode)")
        output, next_state = self._core_step(features, state)
        if advance:
            state.copy_(next_state)
        return output

    def _encode(self, obs: torch.Tensor) -> torch.Tensor:
        """The encoder: observations `[B, ...]` → features `[B, F]`."""
        if self.flatten_obs:
            obs = obs.flatten(1)
        return obs if self.trunk is None else self.trunk(obs)

    def _core_step(self, features: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of the core: `(output [B, size], next state [B, S, size])`."""
        output, next_state = self._core_run(features[None], state)
        return output[0], next_state

    def _core_run(self, features: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`T` steps of the core from `state`, features `[T, B, F]`: `(outputs [T, B, size], state after them)`.

        The same torch kernel serves one step (the rollout) and many (the update), so that both compute alike.
        """
        weights = [self.core.weight_ih, self.core.weight_hh, self.core.bias_ih, self.core.bias_hh]
        initial = state.transpose(0, 1).contiguous()  # [S, B, size]: torch's layout, one layer
        if self.recurrent == "lstm":
            output, hidden, cell = torch.lstm(features, (initial[:1], initial[1:]), weights, True, 1, 0.0,
                                              self.training, False, False)
            return output, torch.stack((hidden[0], cell[0]), 1)
        output, hidden = torch.gru(features, initial, weights, True, 1, 0.0, self.training, False, False)
        return output, hidden.transpose(0, 1)

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

    def value(
        self, obs: torch.Tensor, state: torch.Tensor | None = None, rows: torch.Tensor | None = None
    ) -> torch.Tensor:
        """V(obs): `[B]`, or `[B, H]` with H value heads; a recurrent policy's from `state` (left as it is).
        `rows`: which rows of the batch (agents of a multi-agent env) the observations are; one network
        serves every row, but per-team policies (`thrust.teams`) pick a network by it."""
        return self._values(self._features(obs, state))

    # -- what the algorithms call --------------------------------------------------------------------

    def act(
        self, obs: torch.Tensor, generator: torch.Generator | None = None, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample actions: `(action, log_prob, value)`, without gradient; a recurrent policy's from `state`,
        which it advances in place."""
        with torch.no_grad():
            features = self._features(obs, state, advance=True)
            head = self.actor(features)
            value = self._values(features)
            if self.kind == "categorical":
                log_probs = self._log_probs(head)
                noise = torch.empty_like(log_probs).exponential_(generator=generator)
                index = log_probs.exp().div_(noise).argmax(-1, keepdim=True)
                log_prob = log_probs.gather(-1, index).sum((1, 2))
                return self._to_env_action(index.squeeze(-1)), log_prob, value
            noise = torch.randn(head.shape, generator=generator, device=head.device, dtype=head.dtype)
            log_std = self.log_std
            # head + noise·σ and Σ(−½noise² − log σ − log √2π), in place on the temporaries: the same operations
            # (hence bits) in fewer allocations, which count at the batch of one env.
            action = (noise * log_std.exp()).add_(head)
            log_prob = noise.square().mul_(-0.5).sub_(log_std).sub_(_LOG_SQRT_2PI).sum(-1)
            return action, log_prob, value

    def evaluate(
        self, obs: torch.Tensor, action: torch.Tensor, state: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`(log_prob, entropy, value)` of given actions, with gradient (the PPO loss); a recurrent
        policy's for one step from `state` (see `evaluate_sequences` for whole sequences)."""
        return self._evaluate_heads(self._features(obs, state), action)

    def evaluate_sequences(
        self,
        obs: torch.Tensor,
        action: torch.Tensor,
        initial_state: torch.Tensor | None = None,
        episode_starts: torch.Tensor | None = None,
        rows: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`evaluate` over `B` sequences of `L` steps, `obs` `[L, B, ...]` and `action` `[L, B, ...]`: returns
        `[L·B]` tensors in step-major order (the order of `[L, B]` flattened). `rows` `[B]`: the batch rows the
        sequences come from (see `value`).

        A recurrent policy replays each sequence from `initial_state` `[B, S, size]`, zeroing a row's
        state before step `t > 0` where `episode_starts[t]` `[L, B]` is true: the computation the
        rollout did step by step. A feed-forward policy evaluates the flattened batch.
        """
        flat_obs, flat_action = obs.flatten(0, 1), action.flatten(0, 1)
        if self.core is None:
            return self.evaluate(flat_obs, flat_action)
        length, batch = obs.shape[:2]
        features = self._encode(flat_obs).view(length, batch, -1)
        # Runs of steps with no episode start inside go through the core in one fused call each (torch's
        # multi-step LSTM/GRU: several times faster than a Python loop of cells); states are zeroed between runs.
        starts = episode_starts[1:].any(1).nonzero().flatten().add(1).tolist()
        keep = episode_starts.logical_not().to(features.dtype)[:, :, None, None]
        state, outputs = initial_state, []
        for start, end in zip([0, *starts], [*starts, length], strict=True):
            if start > 0:
                state = state * keep[start]
            output, state = self._core_run(features[start:end], state)
            outputs.append(output)
        return self._evaluate_heads(torch.cat(outputs).flatten(0, 1), flat_action)

    def _evaluate_heads(
        self, features: torch.Tensor, action: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
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

    def deterministic_action(self, obs: torch.Tensor, state: torch.Tensor | None = None) -> torch.Tensor:
        """The mode: the most likely choice per component, or the Gaussian's mean; a recurrent policy's
        from `state`, which it advances in place."""
        with torch.no_grad():
            head = self.actor(self._features(obs, state, advance=True))
            if self.kind == "categorical":
                return self._to_env_action(self._log_probs(head).argmax(-1))
            return head

    def initial_state(self, batch: int, device: torch.device | str | None = None) -> torch.Tensor | None:
        """Zeros `[batch, S, size]`: the state at an episode's start (None for a feed-forward policy)."""
        return None if self.core is None else torch.zeros((batch, *self.state_shape), device=device)
