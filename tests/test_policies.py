"""Actor-critic networks: initialization, and the action distributions against torch.distributions."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.distributions import Categorical, Normal

from thrust.policies import ActorCritic

VECTOR_OBS = gym.spaces.Box(-1.0, 1.0, (6,), np.float32)


def singular_values(layer: torch.nn.Linear) -> torch.Tensor:
    return torch.linalg.svdvals(layer.weight.detach())


def test_orthogonal_init_gains_and_zero_biases():
    torch.manual_seed(0)
    policy = ActorCritic(VECTOR_OBS, gym.spaces.Discrete(3))
    actor_layers = [m for m in policy.actor if isinstance(m, torch.nn.Linear)]
    critic_layers = [m for m in policy.critic if isinstance(m, torch.nn.Linear)]
    assert [layer.out_features for layer in actor_layers] == [64, 64, 3]
    assert [layer.out_features for layer in critic_layers] == [64, 64, 1]
    for layer in actor_layers[:-1] + critic_layers[:-1]:
        torch.testing.assert_close(singular_values(layer), torch.full((min(layer.weight.shape),), math.sqrt(2)))
    torch.testing.assert_close(singular_values(actor_layers[-1]), torch.full((3,), 0.01))
    torch.testing.assert_close(singular_values(critic_layers[-1]), torch.ones(1))
    for layer in actor_layers + critic_layers:
        assert (layer.bias == 0).all()
    assert any(isinstance(m, torch.nn.Tanh) for m in policy.actor)
    assert policy.trunk is None  # separate actor and critic by default


def test_shared_trunk_option():
    policy = ActorCritic(VECTOR_OBS, gym.spaces.Discrete(3), shared_trunk=True)
    assert isinstance(policy.trunk, torch.nn.Sequential)
    assert [m.out_features for m in policy.actor] == [3] and [m.out_features for m in policy.critic] == [1]
    action, log_prob, value = policy.act(torch.zeros(5, 6))
    assert action.shape == (5,) and log_prob.shape == (5,) and value.shape == (5,)


def test_discrete_log_probs_entropy_and_sampling_frequencies():
    torch.manual_seed(1)
    space = gym.spaces.Discrete(4, start=2)
    policy = ActorCritic(VECTOR_OBS, space)
    with torch.no_grad():  # make the policy far from uniform so that frequencies are informative
        policy.actor[-1].weight.mul_(300.0)
    obs = torch.randn(1, 6).expand(40_000, 6)
    generator = torch.Generator().manual_seed(0)
    action, log_prob, value = policy.act(obs, generator)
    assert action.dtype == torch.int64 and action.shape == (40_000,)
    assert action.min() >= 2 and action.max() <= 5  # the space's own numbering
    distribution = Categorical(logits=policy.actor(obs[:1]))
    torch.testing.assert_close(log_prob, distribution.log_prob(action - 2).detach())
    frequencies = torch.bincount(action - 2, minlength=4).double() / 40_000
    torch.testing.assert_close(frequencies, distribution.probs[0].detach().double(), atol=0.01, rtol=0)
    new_log_prob, entropy, new_value = policy.evaluate(obs, action)
    torch.testing.assert_close(new_log_prob, log_prob)
    torch.testing.assert_close(entropy, distribution.entropy().expand(40_000).detach())
    torch.testing.assert_close(new_value, value)
    assert (policy.deterministic_action(obs[:1]) == distribution.probs.argmax(-1) + 2).all()


def test_multidiscrete_sums_independent_components():
    torch.manual_seed(2)
    space = gym.spaces.MultiDiscrete([3, 5, 2], start=[0, 1, -1])
    policy = ActorCritic(VECTOR_OBS, space)
    with torch.no_grad():
        policy.actor[-1].weight.mul_(100.0)
    obs = torch.randn(2000, 6)
    action, log_prob, _ = policy.act(obs, torch.Generator().manual_seed(1))
    assert action.shape == (2000, 3)
    assert all(space.contains(a) for a in action.numpy()[:200])  # padding never sampled, offsets applied
    head = policy.actor(obs)
    components = [Categorical(logits=logits) for logits in head.view(2000, 3, 5).unbind(1)]
    components = [Categorical(logits=c.logits[:, :n]) for c, n in zip(components, [3, 5, 2], strict=True)]
    index = action - torch.tensor([0, 1, -1])
    expected_log_prob = sum(c.log_prob(index[:, k]) for k, c in enumerate(components))
    expected_entropy = sum(c.entropy() for c in components)
    torch.testing.assert_close(log_prob, expected_log_prob.detach())
    new_log_prob, entropy, _ = policy.evaluate(obs, action)
    torch.testing.assert_close(new_log_prob, expected_log_prob)
    torch.testing.assert_close(entropy, expected_entropy)
    assert torch.isfinite(entropy).all()


def test_gaussian_log_prob_is_of_the_unclipped_sample():
    torch.manual_seed(3)
    space = gym.spaces.Box(-0.1, 0.1, (2,), np.float32)
    policy = ActorCritic(VECTOR_OBS, space, log_std_init=0.5)
    assert policy.log_std.shape == (2,) and torch.equal(policy.log_std.detach(), torch.full((2,), 0.5))
    obs = torch.randn(1000, 6)
    action, log_prob, _ = policy.act(obs, torch.Generator().manual_seed(2))
    assert (action.abs() > 0.1).any()  # the policy returns samples outside the bounds: clipping is the caller's
    distribution = Normal(policy.actor(obs), policy.log_std.exp())
    torch.testing.assert_close(log_prob, distribution.log_prob(action).sum(-1).detach())
    new_log_prob, entropy, _ = policy.evaluate(obs, action)
    torch.testing.assert_close(new_log_prob, distribution.log_prob(action).sum(-1))
    torch.testing.assert_close(entropy, distribution.entropy().sum(-1))
    torch.testing.assert_close(policy.deterministic_action(obs), distribution.mean.detach())
    # The log-std is state independent: a parameter, trained by the loss.
    new_log_prob.sum().backward()
    assert policy.log_std.grad is not None


def test_nature_cnn_for_images():
    space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    policy = ActorCritic(space, gym.spaces.Discrete(6))
    obs = torch.randint(0, 256, (3, 4, 84, 84), dtype=torch.uint8)
    action, log_prob, value = policy.act(obs)
    assert action.shape == (3,) and value.shape == (3,)
    conv = [m for m in policy.trunk if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in conv] == [32, 64, 64]
    torch.testing.assert_close(singular_values(policy.actor), torch.full((6,), 0.01))


def test_multibinary_components_are_independent_bernoullis():
    torch.manual_seed(4)
    policy = ActorCritic(VECTOR_OBS, gym.spaces.MultiBinary(4))
    with torch.no_grad():
        policy.actor[-1].weight.mul_(100.0)
    obs = torch.randn(1, 6).expand(20_000, 6)
    action, log_prob, _ = policy.act(obs, torch.Generator().manual_seed(3))
    assert action.shape == (20_000, 4) and set(action.unique().tolist()) <= {0, 1}
    # Each component is a categorical over (0, 1): a Bernoulli of p = softmax(logits)[1] = sigmoid(l1 - l0).
    logits = policy.actor(obs[:1]).view(4, 2)
    bernoulli = torch.distributions.Bernoulli(logits=logits[:, 1] - logits[:, 0])
    expected = bernoulli.log_prob(action.float()).sum(-1)
    torch.testing.assert_close(log_prob, expected.detach())
    torch.testing.assert_close(action.float().mean(0), bernoulli.probs.detach(), atol=0.01, rtol=0)
    new_log_prob, entropy, _ = policy.evaluate(obs, action)
    torch.testing.assert_close(new_log_prob, expected)
    torch.testing.assert_close(entropy, bernoulli.entropy().sum().expand(20_000))
    assert torch.equal(policy.deterministic_action(obs[:1])[0], (bernoulli.probs > 0.5).long())


@pytest.mark.parametrize("obs_space", [VECTOR_OBS, gym.spaces.Box(0, 255, (4, 36, 36), np.uint8)])
def test_several_value_heads(obs_space):
    torch.manual_seed(5)
    policy = ActorCritic(obs_space, gym.spaces.Discrete(2), value_heads=2)
    obs = torch.zeros((3, *obs_space.shape), dtype=torch.uint8 if obs_space.dtype == np.uint8 else torch.float32)
    _, _, value = policy.act(obs)
    assert value.shape == (3, 2) and policy.value(obs).shape == (3, 2)
    assert policy.evaluate(obs, torch.zeros(3, dtype=torch.int64))[2].shape == (3, 2)
    with pytest.raises(ValueError, match="value_heads"):
        ActorCritic(VECTOR_OBS, gym.spaces.Discrete(2), value_heads=0)


def test_unsupported_spaces_are_rejected():
    with pytest.raises(ValueError, match="action space"):
        ActorCritic(VECTOR_OBS, gym.spaces.MultiBinary((2, 3)))
    with pytest.raises(ValueError, match="action space"):
        ActorCritic(VECTOR_OBS, gym.spaces.Tuple([gym.spaces.Discrete(2)]))
    with pytest.raises(ValueError, match="observation space"):
        ActorCritic(gym.spaces.Discrete(5), gym.spaces.Discrete(2))


def test_channels_last_images_are_the_transposed_channels_first_ones():
    torch.manual_seed(6)
    last = ActorCritic(gym.spaces.Box(0, 255, (40, 44, 3), np.uint8), gym.spaces.Discrete(2))
    first = ActorCritic(gym.spaces.Box(0, 255, (3, 40, 44), np.uint8), gym.spaces.Discrete(2))
    first.load_state_dict(last.state_dict())  # the same weights: (C, H, W) convolutions either way
    frames = torch.randint(0, 256, (5, 40, 44, 3), dtype=torch.uint8)
    torch.testing.assert_close(last.value(frames), first.value(frames.permute(0, 3, 1, 2)))


@pytest.mark.parametrize("shape", [(5, 5, 3), (3, 5, 5), (10, 10, 1), (1, 1, 2), (4, 35, 35)])
def test_images_smaller_than_the_nature_cnn_get_a_small_cnn(shape):
    policy = ActorCritic(gym.spaces.Box(0, 255, shape, np.uint8), gym.spaces.Discrete(3))
    kernels = [m.kernel_size for m in policy.trunk if isinstance(m, torch.nn.Conv2d)]
    assert kernels == [(3, 3)] * 3
    action, _, value = policy.act(torch.randint(0, 256, (2, *shape), dtype=torch.uint8))
    assert action.shape == (2,) and value.shape == (2,)


def test_only_raw_pixels_are_divided_by_255():
    floats = ActorCritic(gym.spaces.Box(0.0, 1.0, (3, 8, 8), np.float32), gym.spaces.Discrete(2))
    pixels = ActorCritic(gym.spaces.Box(0, 255, (3, 8, 8), np.uint8), gym.spaces.Discrete(2))
    normalized = ActorCritic(gym.spaces.Box(0, 255, (3, 8, 8), np.uint8), gym.spaces.Discrete(2), normalized_obs=True)
    assert (floats.trunk.divisor, pixels.trunk.divisor, normalized.trunk.divisor) == (1.0, 255.0, 1.0)
    pixels.load_state_dict(floats.state_dict())
    image = torch.rand(4, 3, 8, 8)
    torch.testing.assert_close(floats.value(image), pixels.value(image * 255.0))


def test_the_mlp_forward_is_the_sequential_forward_bit_for_bit():
    """`MLP.forward` skips the per-layer module calls; the numbers must be nn.Sequential's own."""
    torch.manual_seed(0)
    policy = ActorCritic(VECTOR_OBS, gym.spaces.Box(-1.0, 1.0, (3,), np.float32), hidden_sizes=(32, 16))
    obs = torch.randn(5, 6)
    for network in (policy.actor, policy.critic):
        assert isinstance(network, torch.nn.Sequential)
        assert torch.equal(network(obs), torch.nn.Sequential.forward(network, obs))
    trunk = ActorCritic(VECTOR_OBS, gym.spaces.Discrete(2), shared_trunk=True).trunk  # ends in tanh, no output layer
    assert torch.equal(trunk(obs), torch.nn.Sequential.forward(trunk, obs))
    assert trunk(obs).abs().max() < 1
