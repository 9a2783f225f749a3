"""IMPALA (Espeholt et al. 2018) and APPO (Sample Factory, Petrenko et al. 2020), top to bottom.

Both are actor-learners: actor threads step their slices of the envs with a copy of the policy and
write fixed-length segments; the learner takes a batch of them, corrects for the actors' stale policy
with V-trace, updates, and publishes its weights (the actor machinery is `thrust.actors`). They differ
only in the loss:

- IMPALA: one gradient step per batch on the V-trace actor-critic loss: policy gradient on
  `pg_advantages`, value regression to `vs`, entropy bonus;
- APPO: PPO's clipped surrogate with the ratio π/μ (current over behaviour policy) on V-trace's
  `pg_advantages`, normalized, for `update_epochs` passes of `num_minibatches` shuffled minibatches;
  value regression to `vs`. V-trace runs once per batch, from the weights before the update (PPO's
  order). Sample Factory recomputes it in every minibatch with the moving values; measured on
  CartPole-v1 (synchronous, 10 epochs, seeds 1-2) that learned slower here: mean returns 447 and 296
  after 150K steps, where once per batch solved in 100-130K.

The order is CleanRL's: configuration → (environments, agent, rollout: the shared parts, here
`thrust.actors`) → advantages (V-trace with the learner's current weights) → update → log.

    model = thrust.APPO("CartPole-v1", seed=1)
    model.learn()
    actions = model.predict(observations)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from thrust.actors import ActorCollector, ActorPool
from thrust.advantage import vtrace
from thrust.config import TrainConfig, check_in_unit_interval, check_norm_adv, check_positive
from thrust.storage import masked_mean, normalize_advantages
from thrust.training import Algorithm
from thrust.vector.base import VecEnv

# ---------------------------------------------------------------------------------------------------
# Configuration: the actor-learner's fields; the shared ones (env, seed, batch, learning rate, networks,
# ...) are `TrainConfig`'s. A batch is num_envs × num_steps: one segment of num_steps from every actor's
# share of the envs (or several from the quicker actors, when asynchronous).
# ---------------------------------------------------------------------------------------------------


@dataclass
class IMPALAConfig(TrainConfig):
    """Every IMPALA hyperparameter. Shared defaults are CleanRL's ppo.py's; `thrust.presets` tunes them per env."""

    num_actors: int = 1
    """actor threads stepping the envs, each with its own num_envs / num_actors envs and policy copy"""
    asynchronous: bool = True
    """actors keep stepping with the weights they have while the learner updates (False: every batch is
    acted with the latest weights: policy lag 0, bit-reproducible for a seed)"""
    num_slots: int = 2
    """segments each actor may have written ahead of the learner when asynchronous (bounds the policy lag)"""
    policy_lag: int = 0
    """synchronous actors only: 1 lets them step the next batch while the learner updates on this one, with
    the weights from before that update (policy lag exactly 1, still bit-reproducible: the env time hides
    the update's as asynchronous actors' does); 0: lockstep"""
    actor_restarts: int = 0
    """failed actors restarted with fresh envs, in all, their unfinished segments dropped (0: a failure stops
    training with an error naming the actor and its exception)"""
    gae_lambda: float = 1.0
    """λ of V-trace's traces, c_t = λ·min(c̄, π/μ) (1: IMPALA's)"""
    rho_bar: float = 1.0
    """ρ̄: clip of the importance weights of the value targets and the policy gradient"""
    c_bar: float = 1.0
    """c̄: clip of the importance weights of the traces"""

    def validate(self) -> None:
        """Raise `ValueError` naming the first inconsistent field."""
        super().validate()
        for name in ("num_actors", "num_slots"):
            check_positive(self, name)
        if self.policy_lag not in (0, 1):
            raise ValueError(f"policy_lag must be 0 or 1, got {self.policy_lag!r}")
        if self.policy_lag and self.asynchronous:
            raise ValueError("policy_lag=1 is for synchronous actors (asynchronous=False): asynchronous actors' lag "
                             "depends on thread timing (num_slots bounds it)")
        if not (isinstance(self.actor_restarts, int) and self.actor_restarts >= 0):
            raise ValueError(f"actor_restarts must be a whole number >= 0, got {self.actor_restarts!r}")
        check_in_unit_interval(self, "gae_lambda")
        for name in ("rho_bar", "c_bar"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive (inf: no clipping), got {getattr(self, name)!r}")
        if self.num_envs % self.num_actors:
            raise ValueError(f"num_actors={self.num_actors} must divide num_envs={self.num_envs}")
        if self.recurrent is not None:
            raise ValueError(f"recurrent={self.recurrent!r}: IMPALA and APPO train feed-forward policies only "
                             f"(recurrent policies train with PPO)")
        if self.num_workers is not None and self.num_workers % self.num_actors:
            raise ValueError(f"num_actors={self.num_actors} must divide num_workers={self.num_workers} "
                             "(each actor gets its share of the worker processes)")
        for name in ("normalize_obs", "normalize_reward"):
            if getattr(self, name):
                raise ValueError(f"{name} is not supported by the actor-learners yet (IMPALA, APPO)")


@dataclass
class APPOConfig(IMPALAConfig):
    """Every APPO hyperparameter: IMPALA's and PPO's clipped surrogate over epochs and minibatches."""

    update_epochs: int = 2
    """passes over each batch"""
    num_minibatches: int = 1
    """minibatches per epoch; must divide the batch"""
    clip_coef: float = 0.2
    """surrogate clipping coefficient of the ratio π/μ"""
    norm_adv: str = "standardize"
    """per minibatch, the V-trace advantages less their mean and over their standard deviation
    ("standardize"), less their mean only ("center", PPO's default) or as they are ("none")"""

    def validate(self) -> None:
        """Raise `ValueError` naming the first inconsistent field."""
        check_norm_adv(self)
        super().validate()
        for name in ("update_epochs", "num_minibatches"):
            check_positive(self, name)
        if not self.clip_coef >= 0:
            raise ValueError(f"clip_coef must be >= 0, got {self.clip_coef!r}")
        if self.batch_size % self.num_minibatches:
            raise ValueError(
                f"num_minibatches={self.num_minibatches} must divide the batch size "
                f"num_envs × num_steps = {self.batch_size}"
            )


# ---------------------------------------------------------------------------------------------------
# The losses
# ---------------------------------------------------------------------------------------------------


def impala_loss(
    logprob: torch.Tensor, entropy: torch.Tensor, value: torch.Tensor, vs: torch.Tensor,
    pg_advantages: torch.Tensor, config: IMPALAConfig, mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The V-trace actor-critic loss: `(loss, policy_loss, value_loss, entropy_loss)`.

    `logprob` = log π(a|x), `entropy` and `value` come from the current policy (with gradient); `vs` and
    `pg_advantages` are V-trace's targets (without). `mask` (multi-agent rows) marks the samples that count:
    absent agents' rows are left out of every mean.
    """
    policy_loss = -masked_mean(pg_advantages * logprob, mask)
    value_loss = 0.5 * masked_mean((value - vs).square(), mask)
    entropy_loss = masked_mean(entropy, mask)
    loss = policy_loss - config.ent_coef * entropy_loss + config.vf_coef * value_loss
    return loss, policy_loss, value_loss, entropy_loss


def appo_loss(
    ratio: torch.Tensor, entropy: torch.Tensor, value: torch.Tensor, vs: torch.Tensor,
    advantages: torch.Tensor, config: APPOConfig, mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate on V-trace advantages: `(loss, policy_loss, value_loss, entropy_loss)`.

    `ratio` is π(a|x) / μ(a|x), the current policy over the one that acted; `advantages` are V-trace's
    `pg_advantages`. `mask` (multi-agent rows) marks the samples that count: absent agents' rows are left
    out of every mean, the normalization included.
    """
    advantages = normalize_advantages(advantages, config.norm_adv, mask)
    policy_loss = masked_mean(torch.max(
        -advantages * ratio, -advantages * ratio.clamp(1 - config.clip_coef, 1 + config.clip_coef)
    ), mask)
    value_loss = 0.5 * masked_mean((value - vs).square(), mask)
    entropy_loss = masked_mean(entropy, mask)
    loss = policy_loss - config.ent_coef * entropy_loss + config.vf_coef * value_loss
    return loss, policy_loss, value_loss, entropy_loss


# ---------------------------------------------------------------------------------------------------
# What both share: actors fill the batches; V-trace with the current weights
# ---------------------------------------------------------------------------------------------------


class ActorLearner(Algorithm):
    """An algorithm whose batches come from actor threads (`thrust.actors.ActorPool`) rather than a rollout.

    `env` is an env id (each actor makes its `num_envs / num_actors` envs at the first `learn`, seeded
    as one set) or a ready lockstep `VecEnv`, stepped by one actor. Everything else is `Algorithm`'s.
    """

    multi_agent = True  # agents as rows: absent ones masked out of V-trace's targets, the loss and its statistics
    config: IMPALAConfig

    def __init__(self, env: str | VecEnv = "CartPole-v1", seed: int = 1, device: str = "cpu",
                 env_kwargs: dict[str, Any] | None = None, config: TrainConfig | None = None,
                 **hyperparameters: Any) -> None:
        if not isinstance(env, str) and config is None:
            hyperparameters.setdefault("num_actors", 1)  # one VecEnv, one actor (whatever the preset says)
        super().__init__(env, seed, device, env_kwargs, config, **hyperparameters)

    def _setup(self, config: IMPALAConfig, envs: VecEnv | None, env_kwargs: dict[str, Any]) -> None:
        if envs is not None and config.num_actors != 1:
            raise ValueError(f"a ready VecEnv is stepped by one actor: num_actors must be 1, got {config.num_actors}")
        super()._setup(config, envs, env_kwargs)
        self.collector = ActorCollector(self.policy, self.storage, self.action_space, self.generator)
        self.returns = torch.zeros_like(self.storage.values)  # V-trace's targets vs, [T, N]
        if envs is not None:
            self._envs = self._actor_pool([envs])

    def _actor_pool(self, envs: list[VecEnv]) -> ActorPool:
        config = self.config
        return ActorPool(envs, self.policy, config.num_steps, self.env_seed, config.num_slots,
                         synchronous=not config.asynchronous, lag=config.policy_lag, obs_dtype=self.storage.obs.dtype,
                         owns_envs=self.owns_envs, make_envs=self._actor_envs if self.owns_envs else None,
                         max_restarts=config.actor_restarts)

    def _actor_envs(self, actor: int) -> VecEnv:
        """Fresh envs for one actor: its share of num_envs and of num_workers."""
        config = self.config
        n = config.num_envs // config.num_actors
        workers = None if config.num_workers is None else config.num_workers // config.num_actors
        return self.make_envs(n, seed=self.env_seed + actor * n, num_workers=workers)

    @property
    def envs(self) -> ActorPool:
        """The actors and their envs (made at first use: `num_actors` sets of `num_envs / num_actors`)."""
        if self._envs is None:
            made: list[VecEnv] = []
            try:
                for k in range(self.config.num_actors):
                    made.append(self._actor_envs(k))
            except BaseException:
                for envs in made:
                    envs.close()
                raise
            self._envs = self._actor_pool(made)
        return self._envs

    def close(self) -> None:
        """Stop the actor threads and close the envs this model made (a VecEnv passed in stays open)."""
        if self._envs is not None and not self.owns_envs:
            self._envs.stop()
        super().close()

    def extra_state(self) -> dict[str, Any]:
        return {"version": self.collector.version}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.collector.version = state["version"]

    def vtrace_targets(
        self, target_logprobs: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """V-trace over the batch, from the current policy's `target_logprobs` and `values` `[T, N]` and
        `next_values` `[N]`: the targets vs (into `self.returns`) and the advantages (into `storage.advantages`).

        V-trace (Espeholt et al. 2018, eq. 1) corrects for the actors' stale policy μ with the clipped
        ratios π/μ; truncated episodes bootstrap from the actors' V(final obs). Returns `(vs, pg_advantages)`
        `[T, N]`, where pg_advantages_t = ρ_t (r_t + γ vs_{t+1} − V(x_t)).
        """
        config, storage = self.config, self.storage
        vs, pg_advantages = vtrace(
            storage.logprobs, target_logprobs.detach(), storage.rewards, values.detach(), storage.terminations,
            storage.truncations, storage.final_values, next_values.detach(), config.gamma, config.rho_bar,
            config.c_bar, config.gae_lambda, out=(self.returns, storage.advantages),
        )
        if storage.row_masks is not None:  # absent agents: no targets (a present row never reads theirs)
            absent = storage.row_masks.logical_not()
            vs.masked_fill_(absent, 0.0)
            pg_advantages.masked_fill_(absent, 0.0)
        return vs, pg_advantages

    def actor_metrics(self, vs: torch.Tensor, value: torch.Tensor) -> dict[str, float]:
        """What every actor-learner logs beside its losses: policy lag, waiting, the value fit (of the agents
        present)."""
        lags = self.collector.policy_lags
        if self.storage.row_masks is not None:
            vs, value = vs[self.storage.row_masks], value[self.storage.row_masks]
        var_y = vs.var()
        explained_var = (1 - (vs - value.detach()).var() / var_y).item() if var_y > 0 else float("nan")
        return {
            "losses/explained_variance": explained_var,
            "charts/policy_lag": float(np.mean(lags)),
            "charts/policy_lag_max": float(max(lags)),
            "time/waiting": self.collector.wait_time,
        }


# ---------------------------------------------------------------------------------------------------
# The algorithms: what each does with a batch of segments
# ---------------------------------------------------------------------------------------------------


class IMPALA(ActorLearner):
    """IMPALA agent: `learn`, `predict`, `save`, `IMPALA.load`, `close` (or use it as a context manager).

    `env` is an env id or a ready lockstep `VecEnv` (stepped by one actor). Hyperparameters are
    `IMPALAConfig` fields; the env's preset is applied first, then these.
    """

    name = "impala"
    Config = IMPALAConfig
    progress_metrics = ("losses/approx_kl", "charts/policy_lag")

    def update(self) -> dict[str, float]:
        """One gradient step on the V-trace actor-critic loss of the whole batch; returns the losses."""
        config, policy, storage = self.config, self.policy, self.storage
        shape = (storage.num_steps, storage.num_envs)  # the storage's rows: a multi-agent env's agents

        # ---- Advantages: V-trace from the current policy, the same forward pass that the gradient takes ----
        logprob, entropy, value = policy.evaluate(storage.obs.flatten(0, 1), storage.actions.flatten(0, 1))
        with torch.no_grad():
            next_values = policy.value(storage.next_obs)
        vs, pg_advantages = self.vtrace_targets(logprob.view(shape), value.view(shape), next_values)

        # ---- Update: one step ----
        mask = None if storage.row_masks is None else storage.row_masks.flatten()
        loss, policy_loss, value_loss, entropy_loss = impala_loss(
            logprob, entropy, value, vs.flatten(), pg_advantages.flatten(), config, mask=mask
        )
        self.gradient_step(loss, "the batch")
        self.check_losses()

        # ---- Log ----
        with torch.no_grad():
            logratio = logprob - storage.logprobs.flatten()
            approx_kl = masked_mean((logratio.exp() - 1) - logratio, mask)
        return {
            "losses/value_loss": value_loss.item(),
            "losses/policy_loss": policy_loss.item(),
            "losses/entropy": entropy_loss.item(),
            "losses/approx_kl": approx_kl.item(),
            **self.actor_metrics(vs, value.view(shape)),
        }


class APPO(ActorLearner):
    """APPO agent: `learn`, `predict`, `save`, `APPO.load`, `close` (or use it as a context manager).

    `env` is an env id or a ready lockstep `VecEnv` (stepped by one actor). Hyperparameters are
    `APPOConfig` fields; the env's preset is applied first, then these.
    """

    name = "appo"
    Config = APPOConfig
    progress_metrics = ("losses/approx_kl", "charts/policy_lag")
    config: APPOConfig

    def update(self) -> dict[str, float]:
        """V-trace advantages from the current policy, then epochs of clipped-surrogate minibatch steps."""
        config, policy, storage = self.config, self.policy, self.storage
        shape = (storage.num_steps, storage.num_envs)  # the storage's rows: a multi-agent env's agents
        b_obs = storage.obs.flatten(0, 1)
        b_actions = storage.actions.flatten(0, 1)

        # ---- Advantages: V-trace once per batch, from the weights before this update (PPO's order) ----
        with torch.no_grad():
            logprob, _, value = policy.evaluate(b_obs, b_actions)
            next_values = policy.value(storage.next_obs)
        vs, pg_advantages = self.vtrace_targets(logprob.view(shape), value.view(shape), next_values)

        # ---- Update: epochs × shuffled minibatches, the ratio π/μ over the policy that acted ----
        b_logprobs = storage.logprobs.flatten()
        b_advantages = pg_advantages.flatten()
        b_returns = vs.flatten()
        b_masks = None if storage.row_masks is None else storage.row_masks.flatten()
        num_samples = storage.num_steps * storage.num_envs
        minibatch_size = num_samples // config.num_minibatches
        clipfrac_sum = torch.zeros((), device=self.device)
        num_gradient_steps = 0
        for epoch in range(config.update_epochs):
            order = torch.randperm(num_samples, generator=self.generator, device=self.device) \
                if config.num_minibatches > 1 else slice(None)
            for minibatch, start in enumerate(range(0, num_samples, minibatch_size)):
                index = order[start:start + minibatch_size] if config.num_minibatches > 1 else order
                new_logprob, entropy, new_value = policy.evaluate(b_obs[index], b_actions[index])
                logratio = new_logprob - b_logprobs[index]
                ratio = logratio.exp()
                mask = None if b_masks is None else b_masks[index]
                with torch.no_grad():
                    approx_kl = masked_mean((ratio - 1) - logratio, mask)
                    clipfrac_sum += masked_mean(((ratio - 1.0).abs() > config.clip_coef).float(), mask)
                loss, policy_loss, value_loss, entropy_loss = appo_loss(
                    ratio, entropy, new_value, b_returns[index], b_advantages[index], config, mask=mask
                )
                self.gradient_step(loss, f"epoch {epoch + 1}, minibatch {minibatch + 1}")
                num_gradient_steps += 1
            self.check_losses()

        # ---- Log ----
        return {
            "losses/value_loss": value_loss.item(),
            "losses/policy_loss": policy_loss.item(),
            "losses/entropy": entropy_loss.item(),
            "losses/approx_kl": approx_kl.item(),
            "losses/clipfrac": (clipfrac_sum / num_gradient_steps).item(),
            **self.actor_metrics(vs, value.view(shape)),
        }
