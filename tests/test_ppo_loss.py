"""The PPO loss against CleanRL's formulas and a plain-Python loop, and its wiring into the update."""

import dataclasses
import types

import numpy as np
import pytest
import torch

import thrust.algorithms.ppo
from thrust.algorithms.ppo import PPO, PPOConfig, ppo_loss

# One minibatch of eight samples where every branch is taken: ratios below, inside and above [0.8, 1.2]
# with positive and negative advantages (of mean 1/8, so that centering shows), and new values inside and
# outside old value ± 0.2.
RATIO = torch.tensor([0.5, 0.9, 1.0, 1.1, 1.5, 0.7, 1.3, 1.05], dtype=torch.float64)
ADVANTAGES = torch.tensor([1.0, -2.0, 0.5, 3.0, -1.0, -0.5, 2.0, -2.0], dtype=torch.float64)
NEW_VALUES = torch.tensor([0.0, 1.0, 2.5, -1.0, 0.3, 0.9, 4.0, -2.0], dtype=torch.float64)
OLD_VALUES = torch.tensor([0.1, 0.5, 2.4, -0.5, 0.3, 1.5, 3.0, -2.1], dtype=torch.float64)
RETURNS = torch.tensor([1.0, 0.0, 3.0, -2.0, 0.0, 1.0, 2.0, -1.0], dtype=torch.float64)
ENTROPY = torch.tensor([0.6, 0.7, 0.5, 0.4, 0.69, 0.3, 0.2, 0.65], dtype=torch.float64)


def cleanrl_loss(ratio, entropy, newvalue, mb_advantages, b_returns, b_values, args):
    """CleanRL ppo.py's loss lines, as written there."""
    if args.norm_adv:
        mb_advantages = (mb_advantages - mb_advantages.mean()) / (mb_advantages.std() + 1e-8)
    pg_loss1 = -mb_advantages * ratio
    pg_loss2 = -mb_advantages * torch.clamp(ratio, 1 - args.clip_coef, 1 + args.clip_coef)
    pg_loss = torch.max(pg_loss1, pg_loss2).mean()
    if args.clip_vloss:
        v_loss_unclipped = (newvalue - b_returns) ** 2
        v_clipped = b_values + torch.clamp(newvalue - b_values, -args.clip_coef, args.clip_coef)
        v_loss_clipped = (v_clipped - b_returns) ** 2
        v_loss = 0.5 * torch.max(v_loss_unclipped, v_loss_clipped).mean()
    else:
        v_loss = 0.5 * ((newvalue - b_returns) ** 2).mean()
    entropy_loss = entropy.mean()
    return pg_loss - args.ent_coef * entropy_loss + v_loss * args.vf_coef


def python_loss(config):
    """The same loss one sample at a time in Python floats: min of the clipped and unclipped objectives."""
    ratio, adv, new, old, ret, ent = (x.tolist() for x in (RATIO, ADVANTAGES, NEW_VALUES, OLD_VALUES, RETURNS,
                                                            ENTROPY))
    n, eps = len(ratio), config.clip_coef
    if config.norm_adv != "none":
        mean = sum(adv) / n
        std = (sum((a - mean) ** 2 for a in adv) / (n - 1)) ** 0.5  # torch.std: the unbiased estimate
        adv = [(a - mean) / (std + 1e-8 if config.norm_adv == "standardize" else 1.0) for a in adv]
    objective = sum(min(r * a, min(max(r, 1 - eps), 1 + eps) * a) for r, a in zip(ratio, adv, strict=True)) / n
    value_terms = []
    for v, v_old, g in zip(new, old, ret, strict=True):
        clipped = v_old + min(max(v - v_old, -eps), eps)
        value_terms.append(max((v - g) ** 2, (clipped - g) ** 2) if config.clip_vloss else (v - g) ** 2)
    value_loss = 0.5 * sum(value_terms) / n
    return -objective - config.ent_coef * sum(ent) / n + config.vf_coef * value_loss


@pytest.mark.parametrize("norm_adv", ["standardize", "center", "none"])
@pytest.mark.parametrize("clip_vloss", [True, False])
def test_loss_matches_cleanrl_and_a_python_loop(norm_adv, clip_vloss):
    config = PPOConfig(norm_adv=norm_adv, clip_vloss=clip_vloss, clip_coef=0.2, ent_coef=0.01, vf_coef=0.5)
    loss, policy_loss, value_loss, entropy_loss = ppo_loss(RATIO, ENTROPY, NEW_VALUES, ADVANTAGES, RETURNS,
                                                           OLD_VALUES, config)
    if norm_adv != "center":  # CleanRL's norm_adv is standardize (True) or none (False)
        args = types.SimpleNamespace(**{**dataclasses.asdict(config), "norm_adv": norm_adv == "standardize"})
        expected = cleanrl_loss(RATIO, ENTROPY, NEW_VALUES, ADVANTAGES, RETURNS, OLD_VALUES, args)
        torch.testing.assert_close(loss, expected, rtol=1e-12, atol=0)
    assert loss.item() == pytest.approx(python_loss(config), rel=1e-12)
    assert loss.item() == pytest.approx(
        policy_loss.item() - 0.01 * entropy_loss.item() + 0.5 * value_loss.item(), rel=1e-12
    )
    # The branches matter here: dropping a clip or the normalization changes the number.
    others = [dict(norm_adv=other) for other in ("standardize", "center", "none") if other != norm_adv]
    for change in (dict(clip_coef=10.0), *others, dict(clip_vloss=not clip_vloss)):
        other = ppo_loss(RATIO, ENTROPY, NEW_VALUES, ADVANTAGES, RETURNS, OLD_VALUES,
                         dataclasses.replace(config, **change))[0]
        assert abs(other.item() - loss.item()) > 1e-3, change


def test_update_feeds_the_loss_the_rollout():
    """The first minibatch of an update sees ratio 1 (the rollout's policy), returns = advantages + values."""
    calls = []

    def spy(ratio, entropy, new_values, advantages, returns, old_values, config, mask=None):
        calls.append([x.detach().clone() for x in (ratio, new_values, advantages, returns, old_values)])
        return ppo_loss(ratio, entropy, new_values, advantages, returns, old_values, config, mask=mask)

    model = PPO("CartPole-v1", num_envs=4, num_steps=32, total_timesteps=256, num_minibatches=1, update_epochs=2)
    original, thrust.algorithms.ppo.ppo_loss = thrust.algorithms.ppo.ppo_loss, spy
    try:
        model.learn(callback=lambda ppo, metrics: False)
    finally:
        thrust.algorithms.ppo.ppo_loss = original
    assert len(calls) == 2  # one minibatch holding the batch, two epochs
    ratio, new_values, advantages, returns, old_values = calls[0]
    torch.testing.assert_close(ratio, torch.ones_like(ratio), rtol=0, atol=1e-5)
    torch.testing.assert_close(new_values, model.storage.values.flatten(), rtol=1e-5, atol=1e-5)
    assert torch.equal(advantages, model.storage.advantages.flatten())
    assert torch.equal(old_values, model.storage.values.flatten())
    assert torch.equal(returns, (model.storage.advantages + model.storage.values).flatten())
    assert not np.allclose(calls[1][0].numpy(), 1.0)  # the second epoch sees the updated policy
