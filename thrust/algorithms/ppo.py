"""Proximal Policy Optimization (Schulman et al. 2017), top to bottom.

The order is CleanRL's: configuration → (environments, agent, rollout: the shared parts) →
advantages → update → log. Every detail of `shared/ppo-details.md` that applies to feed-forward
policies is marked "(detail N)", here or in the shared part that does it: `thrust.training` (set-up,
seeding, learning-rate annealing, gradient clipping, checkpoints), `thrust.collector` (the rollout,
truncation bootstrapping, normalization) and `thrust.policies` (networks, initialization).

    model = thrust.PPO("CartPole-v1", seed=1)
    model.learn()
    actions = model.predict(observations)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from thrust import distributed
from thrust.advantage import gae
from thrust.config import TrainConfig, check_in_unit_interval, check_norm_adv, check_positive
from thrust.curiosity import RND
from thrust.policies import ActorCritic
from thrust.storage import masked_mean, normalize_advantages, sequences
from thrust.teams import TeamActorCritic
from thrust.training import Algorithm
from thrust.vector.base import VecEnv

# ---------------------------------------------------------------------------------------------------
# Configuration: PPO's own fields; the shared ones (env, seed, batch, learning rate, networks, ...)
# are `TrainConfig`'s.
# ---------------------------------------------------------------------------------------------------


@dataclass
class PPOConfig(TrainConfig):
    """PPO's hyperparameters: CleanRL's ppo.py defaults except `norm_adv`, under the env's preset where it has
    one (thrust.presets)."""

    gae_lambda: float = 0.95
    """λ of generalized advantage estimation"""
    num_minibatches: int = 4
    """minibatches per epoch; must divide the batch"""
    update_epochs: int = 4
    """passes over each batch"""
    norm_adv: str = "center"
    """per minibatch, the advantages less their mean ("center"), also over their standard deviation
    ("standardize": CleanRL's default, detail 7) or as they are ("none"). Centering by default: before a
    sparse task's first reward the advantages are the value function's noise, which standardizing scales
    up to unit size, far above the entropy bonus, so the policy collapses without ever seeing a reward
    (tests/test_ppo_defaults.py). On FarCorner-v0, a grid rewarded only at its far corner, the greedy policy
    arrives on 18 of seeds 1-20 centering or with "none", 15 standardizing; the mean is the baseline that
    dense tasks need (Acrobot-v1 without its preset: -106 centering, -311 with "none", -170 standardizing;
    `benchmarks/ppo_defaults.py`, BENCHMARKS.md). With Adam the advantages' scale barely sets the step
    size, but it sets the entropy bonus's weight: a task whose advantages stay far below ent_coef may want
    "standardize", which the presets tuned with it keep (thrust.presets)."""
    clip_coef: float = 0.2
    """surrogate clipping coefficient"""
    clip_vloss: bool = True
    """clip the value loss around the rollout's values"""
    target_kl: float | None = None
    """stop the epochs of an update early once the approximate KL exceeds this (None: never)"""
    bptt_horizon: int | None = None
    """steps per training sequence of a recurrent policy, dividing num_steps (None: the whole rollout)"""
    curiosity: str | None = None
    """an exploration bonus: "rnd" (Random Network Distillation, a second, intrinsic value head) or None"""
    ext_coef: float = 2.0
    """with curiosity: weight of the extrinsic (env reward) advantages in the policy's advantages"""
    int_coef: float = 1.0
    """with curiosity: weight of the intrinsic (bonus) advantages in the policy's advantages"""
    int_gamma: float = 0.99
    """with curiosity: discount of the intrinsic return (non-episodic: it runs on across episode ends)"""
    update_proportion: float = 0.25
    """with curiosity: fraction of each minibatch (drawn at random) that trains RND's predictor"""
    team_policies: bool = False
    """multi-agent envs: one network per team (agents grouped by their names' prefix before the last "_")
    instead of one shared by all agents"""

    @property
    def sequence_length(self) -> int:
        """Steps per sequence the update replays: bptt_horizon (or num_steps) when recurrent, else 1."""
        if self.recurrent is None:
            return 1
        return self.num_steps if self.bptt_horizon is None else self.bptt_horizon

    @property
    def num_sequences(self) -> int:
        """Sequences per batch: batch_size / sequence_length (for a feed-forward policy, the samples)."""
        return self.batch_size // self.sequence_length

    def validate(self) -> None:
        """Raise `ValueError` naming the first inconsistent field."""
        check_norm_adv(self)
        super().validate()
        for name in ("num_minibatches", "update_epochs"):
            check_positive(self, name)
        check_in_unit_interval(self, "gae_lambda")
        if not self.clip_coef >= 0:
            raise ValueError(f"clip_coef must be >= 0, got {self.clip_coef!r}")
        if self.target_kl is not None and not self.target_kl > 0:
            raise ValueError(f"target_kl must be positive or None, got {self.target_kl!r}")
        if self.curiosity not in (None, "rnd"):
            raise ValueError(f"curiosity must be 'rnd' or None, got {self.curiosity!r}")
        for name in ("ext_coef", "int_coef"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        check_in_unit_interval(self, "int_gamma")
        if not 0 < self.update_proportion <= 1:
            raise ValueError(f"update_proportion must lie in (0, 1], got {self.update_proportion!r}")
        if self.team_policies and self.recurrent is not None:
            raise ValueError("team_policies are feed-forward: leave recurrent None")
        if self.bptt_horizon is not None and (self.bptt_horizon < 1 or self.num_steps % self.bptt_horizon):
            raise ValueError(
                f"bptt_horizon={self.bptt_horizon} must be a positive divisor of num_steps={self.num_steps}"
            )
        if self.num_sequences % self.num_minibatches:
            raise ValueError(
                f"num_minibatches={self.num_minibatches} must divide the batch size "
                f"num_envs × num_steps = {self.batch_size}" if self.recurrent is None else
                f"num_minibatches={self.num_minibatches} must divide the number of sequences, num_envs × num_steps / "
                f"bptt_horizon = {self.num_sequences}"
            )


# ---------------------------------------------------------------------------------------------------
# The loss
# ---------------------------------------------------------------------------------------------------


def ppo_loss(
    ratio: torch.Tensor,
    entropy: torch.Tensor,
    new_values: torch.Tensor,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    old_values: torch.Tensor,
    config: PPOConfig,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The loss of one minibatch: `(loss, policy_loss, value_loss, entropy_loss)`.

    `ratio` is π_new(a|s) / π_old(a|s) of the rollout's actions, `entropy` and `new_values` come from
    the current policy; `advantages`, `returns` and `old_values` from the rollout. `mask` (multi-agent rows)
    marks the samples that count: absent agents' rows are left out of every mean, the normalization included.
    """
    advantages = normalize_advantages(advantages, config.norm_adv, mask)  # per minibatch (detail 7)

    # Clipped surrogate objective, the pessimistic bound (detail 8).
    policy_loss = masked_mean(torch.max(
        -advantages * ratio, -advantages * ratio.clamp(1 - config.clip_coef, 1 + config.clip_coef)
    ), mask)

    # Value loss, clipped around the rollout's values (detail 9).
    if config.clip_vloss:
        unclipped = (new_values - returns).square()
        clipped_values = old_values + (new_values - old_values).clamp(-config.clip_coef, config.clip_coef)
        value_loss = 0.5 * masked_mean(torch.max(unclipped, (clipped_values - returns).square()), mask)
    else:
        value_loss = 0.5 * masked_mean((new_values - returns).square(), mask)

    # One loss (detail 10).
    entropy_loss = masked_mean(entropy, mask)
    loss = policy_loss - config.ent_coef * entropy_loss + config.vf_coef * value_loss
    return loss, policy_loss, value_loss, entropy_loss


# ---------------------------------------------------------------------------------------------------
# The algorithm: what PPO does with a filled rollout
# ---------------------------------------------------------------------------------------------------


class PPO(Algorithm):
    """PPO agent: `learn`, `predict`, `save`, `PPO.load`, `close` (or use it as a context manager).

    `env` is an env id (made with `thrust.make`: `config.num_envs` copies, with `env_kwargs`, at the
    first `learn`) or a ready Thrust `VecEnv` (stepped in lockstep: `batch_size == num_envs`).
    Hyperparameters are `PPOConfig` fields; the env's preset is applied first, then these.

    With `curiosity="rnd"` the critic has a second head for the intrinsic return of `thrust.curiosity.RND`
    (bonuses computed from the rollout before the advantages, GAE with `int_gamma` and no episode ends),
    the policy follows `ext_coef · A_ext + int_coef · A_int`, and each minibatch's loss also holds the
    intrinsic value loss and the predictor's loss on `update_proportion` of its samples. `losses/value_loss`
    is then the extrinsic head's.
    """

    name = "ppo"
    Config = PPOConfig
    progress_metrics = ("losses/approx_kl",)
    device_envs = True  # the rollout, GAE and the update stay on the device with GPU envs
    multi_agent = True  # agents as rows: absent ones masked out of the advantages, the loss and its statistics
    config: PPOConfig

    def _setup(self, config: TrainConfig, envs: VecEnv | None, env_kwargs: dict[str, Any]) -> None:
        super()._setup(config, envs, env_kwargs)
        self.curiosity: RND | None = None
        if config.curiosity is not None and self.agent_rows:
            raise ValueError("curiosity does not train on multi-agent envs (agents as rows) yet")
        if config.curiosity == "rnd":
            self.curiosity = RND(self.observation_space, config.num_envs, config.int_gamma).to(self.device)
            # Data-parallel ranks: rank 0's networks, and RND's statistics merged like the normalizers'.
            distributed.broadcast_tensors(list(self.curiosity.state_dict().values()))
            self.shared_statistics.modules += [self.curiosity.obs_stats, self.curiosity.return_stats]
            self.shared_statistics.rebase()
            # The predictor trains with the policy: in `self.parameters` (clipping) and the optimizer.
            predictor = list(self.curiosity.predictor.parameters())
            self.parameters += predictor
            self.optimizer.add_param_group({"params": predictor})

    def make_policy(self) -> ActorCritic | TeamActorCritic:
        """The actor-critic, or with `team_policies` one per team of the multi-agent env's agents."""
        if not self.config.team_policies:
            return super().make_policy()
        if not self.agent_rows:
            raise ValueError("team_policies need a multi-agent env (agents as rows): this env has one agent")
        return TeamActorCritic(super().make_policy, self.agent_names)

    def value_heads(self) -> int:
        """Two with curiosity (extrinsic, intrinsic), else one."""
        return 1 if self.config.curiosity is None else 2

    def extra_state(self) -> dict[str, Any]:
        """RND's networks and running statistics (its predictor's optimizer state is in the optimizer's)."""
        return {} if self.curiosity is None else {"curiosity": self.curiosity.state_dict()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what `extra_state` returned."""
        if self.curiosity is not None:
            self.curiosity.load_state_dict(state["curiosity"])

    def advantages(self) -> tuple[torch.Tensor, torch.Tensor]:
        """GAE per value head (detail 5), bootstrapped from V(next obs): `(the policy's advantages [T, N],
        returns [H, T, N])`. With curiosity, the intrinsic head first gets its rewards, RND's bonuses."""
        config, storage = self.config, self.storage
        with torch.no_grad():
            next_values = self.policy.value(storage.next_obs, self.collector.state)
            next_values = next_values.view(storage.num_envs, -1).T.contiguous()  # [H, N]
        gae(storage.rewards, storage.values, storage.terminations, storage.truncations, storage.final_values,
            next_values[0], config.gamma, config.gae_lambda, out=storage.advantages)
        if storage.row_masks is not None:  # absent agents: no advantage (a present row never reads theirs)
            storage.advantages.masked_fill_(storage.row_masks.logical_not(), 0.0)
        if self.curiosity is None:
            return storage.advantages, (storage.advantages + storage.values)[None]
        # Step t's bonus: the novelty of the observation it led to (obs[t + 1], after the last step next_obs).
        storage.head_rewards[1] = self.curiosity.intrinsic_rewards(torch.cat((storage.obs[1:], storage.next_obs[None])))
        never = torch.zeros_like(storage.terminations)  # the intrinsic return runs on across episode ends
        gae(storage.head_rewards[1], storage.head_values[1], never, never, storage.head_final_values[1],
            next_values[1], config.int_gamma, config.gae_lambda, out=storage.head_advantages[1])
        advantages = config.ext_coef * storage.head_advantages[0] + config.int_coef * storage.head_advantages[1]
        return advantages, storage.head_advantages + storage.head_values

    def update(self) -> dict[str, float]:
        """GAE advantages, then epochs of clipped-surrogate minibatch steps; returns the losses."""
        config, policy, storage = self.config, self.policy, self.storage
        advantages, returns = self.advantages()

        # ---- Update: epochs × shuffled minibatches (detail 6) of sequences [L, ...] ----
        # A feed-forward policy's sequences are single steps (L = 1: the flattened batch); a recurrent one's are
        # L consecutive steps of one env, replayed from the state stored at their first step. Every tensor the
        # loss reads has the sequences along dim 1 ([L, S, ...]; a sequence's first state and row [1, S, ...]),
        # so that one shuffle and one slice serve them all.
        length = config.sequence_length
        batch = {name: sequences(x, length) for name, x in (
            ("obs", storage.obs), ("actions", storage.actions), ("logprobs", storage.logprobs),
            ("advantages", advantages), ("returns", returns[0]), ("values", storage.values))}
        if self.curiosity is not None:
            batch["int_returns"] = sequences(returns[1], length)
        if storage.row_masks is not None:
            batch["masks"] = sequences(storage.row_masks, length)
        recurrent = storage.states is not None
        if recurrent:
            batch["initial_states"] = storage.states[::length].flatten(0, 1)[None]
            batch["episode_starts"] = sequences(storage.episode_starts(), length)
        num_sequences = storage.num_envs * storage.num_steps // length  # the storage's rows: a multi-agent env's agents
        batch["rows"] = (torch.arange(num_sequences, device=self.device) % storage.num_envs)[None]  # c·N + n: row n
        sequences_per_minibatch = num_sequences // config.num_minibatches
        clipfrac_sum = torch.zeros((), device=self.device)
        num_gradient_steps = 0
        for epoch in range(config.update_epochs):
            shuffled = batch  # one minibatch holding the whole batch needs no shuffle: its gradient is the same
            if config.num_minibatches > 1:  # gathered once an epoch, so that its minibatches are slices of it
                order = torch.randperm(num_sequences, generator=self.generator, device=self.device)
                shuffled = {name: x[:, order] for name, x in batch.items()}
            for minibatch, start in enumerate(range(0, num_sequences, sequences_per_minibatch)):
                mb = {name: x[:, start:start + sequences_per_minibatch] for name, x in shuffled.items()}
                new_logprob, entropy, new_value = policy.evaluate_sequences(
                    mb["obs"], mb["actions"], mb["initial_states"][0] if recurrent else None,
                    mb["episode_starts"] if recurrent else None, mb["rows"][0],
                )
                logratio = new_logprob - mb["logprobs"].flatten()
                ratio = logratio.exp()
                mask = mb["masks"].flatten() if "masks" in mb else None
                with torch.no_grad():
                    clipfrac_sum += masked_mean(((ratio - 1.0).abs() > config.clip_coef).float(), mask)
                    if minibatch == config.num_minibatches - 1:  # the epoch's last, what target_kl and the log read
                        # Debug metrics (detail 12): the old KL estimator and the unbiased (r − 1) − log r one.
                        old_approx_kl = masked_mean(-logratio, mask)
                        approx_kl = masked_mean((ratio - 1) - logratio, mask)

                loss, policy_loss, value_loss, entropy_loss = ppo_loss(
                    ratio, entropy, new_value if self.curiosity is None else new_value[:, 0],
                    mb["advantages"].flatten(), mb["returns"].flatten(), mb["values"].flatten(), config, mask=mask,
                )
                if self.curiosity is not None:
                    curiosity_losses = self.curiosity_losses(new_value[:, 1], mb["int_returns"].flatten(),
                                                             mb["obs"].flatten(0, 1))
                    loss = loss + config.vf_coef * curiosity_losses[0] + curiosity_losses[1]
                self.gradient_step(loss, f"epoch {epoch + 1}, minibatch {minibatch + 1}")
                num_gradient_steps += 1
            self.check_losses()
            # (detail 34); data-parallel ranks stop on their mean KL, all alike
            if config.target_kl is not None and distributed.mean(approx_kl).item() > config.target_kl:
                break

        # ---- Log ----
        y_pred, y_true = storage.values, returns[0]
        if storage.row_masks is not None:  # the agents present
            y_pred, y_true = y_pred[storage.row_masks], y_true[storage.row_masks]
        var_y = y_true.var()
        explained_var = (1 - (y_true - y_pred).var() / var_y).item() if var_y > 0 else float("nan")
        metrics = {
            "losses/value_loss": value_loss.item(),
            "losses/policy_loss": policy_loss.item(),
            "losses/entropy": entropy_loss.item(),
            "losses/old_approx_kl": old_approx_kl.item(),
            "losses/approx_kl": approx_kl.item(),
            "losses/clipfrac": (clipfrac_sum / num_gradient_steps).item(),
            "losses/explained_variance": explained_var,
        }
        if self.curiosity is not None:
            metrics["losses/intrinsic_value_loss"] = curiosity_losses[0].item()
            metrics["losses/predictor_loss"] = curiosity_losses[1].item()
            metrics["charts/intrinsic_reward"] = storage.head_rewards[1].mean().item()
        return metrics

    def curiosity_losses(
        self, new_int_values: torch.Tensor, int_returns: torch.Tensor, obs: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A minibatch's `(intrinsic value loss, predictor loss)`: the intrinsic head's squared error
        (unclipped, as CleanRL's RND), and RND's distillation loss on `update_proportion` of the samples,
        drawn at random (a fixed number of them, so that nothing waits on the device)."""
        int_value_loss = 0.5 * (new_int_values - int_returns).square().mean()
        count = max(1, round(self.config.update_proportion * len(obs)))
        rows = torch.randperm(len(obs), generator=self.generator, device=self.device)[:count]
        return int_value_loss, self.curiosity.predictor_loss(obs[rows])
