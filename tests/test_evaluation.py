"""Evaluation reports the sampled actions' score beside the greedy one and warns where the greedy one under-reports."""

import math
import warnings

import pytest
import torch

import thrust
from thrust.evaluation import GreedyGapWarning, greedy_gap


def cartpole_pushing_left(prob_left: float):
    """A CartPole model whose policy ignores the observation: left with `prob_left`, else right."""
    model = thrust.PPO("CartPole-v1", seed=1, num_envs=2, num_steps=8, shared_trunk=False)
    head = model.policy.actor[-1]
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.tensor([math.log(prob_left), math.log(1.0 - prob_left)]))
    return model


def test_a_greedy_policy_that_under_reports_is_shown_beside_its_sampled_score():
    # greedy: always left, the pole falls in about 9 steps
    with cartpole_pushing_left(0.6) as model, pytest.warns(GreedyGapWarning, match="under-reports"):
        predict_state = model.predict_generator.get_state()
        result = thrust.evaluate(model, num_episodes=20, seed=0)
        assert torch.equal(model.predict_generator.get_state(), predict_state)  # seeded for it, then restored
        assert thrust.evaluate(model, num_episodes=20, seed=0) == result
    assert result["mean_return"] < 11 and result["sampled"]["mean_return"] > 1.5 * result["mean_return"]
    assert "episodes" not in result["sampled"] and result["warning"].startswith("the greedy policy under-reports")


def test_no_warning_where_greedy_and_sampled_agree_or_only_sampled_is_asked_for():
    with cartpole_pushing_left(0.999) as model, warnings.catch_warnings():
        warnings.simplefilter("error", GreedyGapWarning)
        agreeing = thrust.evaluate(model, num_episodes=20, seed=0)
        only_sampled = thrust.evaluate(model, num_episodes=20, seed=0, deterministic=False)
        only_greedy = thrust.evaluate(model, num_episodes=20, seed=0, sampled=False)
    assert agreeing["warning"] is None and abs(agreeing["sampled"]["mean_return"] - agreeing["mean_return"]) < 2
    assert "sampled" not in only_sampled and "sampled" not in only_greedy
    assert {k: v for k, v in agreeing.items() if k not in ("sampled", "warning")} == only_greedy


@pytest.mark.parametrize("greedy,sampled,warns", [
    ((-500.0, 0.0), (-120.0, 20.0), True),  # Acrobot: the greedy policy loops for ever
    ((0.0, 0.0), (1.0, 0.0), True),  # a sparse task: never solved greedily, always when sampling
    ((490.0, 10.0), (500.0, 0.0), False),  # within 10% of the scale
    ((-200.0, 300.0), (-150.0, 300.0), False),  # within 3 standard errors of 100 episodes (42 each)
    ((500.0, 0.0), (300.0, 50.0), False),  # greedy better: the usual case
])
def test_the_gap_rule(greedy, sampled, warns):
    summary = [{"mean_return": mean, "std_return": std} for mean, std in (greedy, sampled)]
    assert (greedy_gap(*summary, num_episodes=100) is not None) == warns
