"""The training loop every algorithm shares: set-up, iterations, checkpoints, resume.

An algorithm subclasses `Algorithm`, names itself (`name`, also its checkpoint kind and its CLI
name), declares its config (a `thrust.config.TrainConfig` subclass holding only its own fields) and implements
`update()`: what it does with a filled rollout storage. Everything else is here, once:

- set-up: process-wide torch settings, seeding (PPO detail 37), the envs (made lazily, detail 1),
  the actor-critic, observation normalization and reward scaling, Adam (detail 3), rollout storage,
  the collector;
- `learn`: iterations of learning-rate schedule (detail 4) → rollout → `update()` → metrics →
  callback; gradient steps with global-norm clipping (detail 11) that never apply a non-finite loss;
- data parallelism under torchrun (`thrust.distributed`): per-rank seeds, gradients averaged in
  `gradient_step`, statistics merged after every rollout, per-rank state in checkpoints;
- `predict`, `save` / `load` of everything generic (config, env identity, networks, optimizer,
  normalizers, every RNG state, env state, counters) for an exact resume, plus what an algorithm
  adds through `extra_state` / `load_extra_state`.
"""

from __future__ import annotations

import dataclasses
import os
import random
import time
import warnings
from collections import deque
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch

from thrust import checkpoint, distributed
from thrust.collector import Collector, RolloutStatistics
from thrust.config import TrainConfig, make_config
from thrust.env_factory import make, resolve_backend
from thrust.normalize import ObservationNormalizer, RewardScaler
from thrust.policies import ActorCritic
from thrust.storage import RolloutStorage, observation_dtype
from thrust.vector.base import VecEnv
from thrust.vector.multiagent import MultiAgentRows, agents_per_env
from thrust.vector.spec import EnvSpec

Callback = Callable[["Algorithm", dict[str, float]], "bool | None"]


class Algorithm:
    """An agent: `learn`, `predict`, `save`, `load`, `close` (or use it as a context manager).

    `env` is an env id (made with `thrust.make`: `config.num_envs` copies, with `env_kwargs`, at the
    first `learn`) or a ready Thrust `VecEnv` (stepped in lockstep: `batch_size == num_envs`).
    Hyperparameters are fields of the algorithm's config; the env's preset is applied first, then
    these. `config=` gives a complete config instead (as `load` and the CLI build it), used as is.

    Constructing a model, `learn` and `load` set process-wide torch state: the intra-op thread count
    (`config.num_threads`, unless 0) and flushing of denormal floats to zero.
    """

    name: ClassVar[str]
    """the registry name: `thrust train NAME`, the checkpoint kind, the run folder's algorithm part"""
    Config: ClassVar[type[TrainConfig]]
    progress_metrics: ClassVar[tuple[str, ...]] = ()
    """metrics shown in the plain progress line (`thrust train --quiet`) beside step, SPS and return"""
    device_envs: ClassVar[bool] = False
    """whether the rollout runs on GPU envs (tensors): then `device="cuda"` runs native envs on the GPU too"""
    multi_agent: ClassVar[bool] = False
    """whether the algorithm trains on multi-agent envs (agents as rows): its update leaves out the rows that
    `storage.row_masks` marks absent"""

    def __init__(
        self,
        env: str | VecEnv = "CartPole-v1",
        seed: int = 1,
        device: str = "cpu",
        env_kwargs: dict[str, Any] | None = None,
        config: TrainConfig | None = None,
        **hyperparameters: Any,
    ) -> None:
        envs = None if isinstance(env, str) else env
        if envs is not None:
            check_envs(envs, self.name)
            if env_kwargs:
                raise ValueError("env_kwargs apply to envs that thrust.make makes; this VecEnv is made already")
        if config is None:
            if envs is None:
                env_id = env
            else:
                env_id = hyperparameters.pop("env_id", None) or env_id_of(envs)
                num_envs = envs.num_envs // agents_per_env(envs)  # a multi-agent VecEnv's rows are its agents
                if hyperparameters.get("num_envs", num_envs) != num_envs:
                    raise ValueError(
                        f"num_envs={hyperparameters['num_envs']!r} but the VecEnv given has {num_envs} envs: "
                        f"leave num_envs out (it is the VecEnv's), or make the VecEnv with that many"
                    )
                hyperparameters["num_envs"] = num_envs
            config = make_config(self.Config, self.name, env_id, {**hyperparameters, "seed": seed, "device": device})
        elif hyperparameters:
            raise ValueError(f"pass either config= or hyperparameters, not both (got {sorted(hyperparameters)})")
        else:
            config.validate()
            if envs is not None and envs.num_envs != config.num_envs * agents_per_env(envs):
                raise ValueError(f"config.num_envs={config.num_envs} but the VecEnv has "
                                 f"{envs.num_envs // agents_per_env(envs)} envs")
        self._setup(config, envs, env_kwargs or {})

    def _setup(self, config: TrainConfig, envs: VecEnv | None, env_kwargs: dict[str, Any]) -> None:
        self.config = config
        # Data-parallel ranks under torchrun (thrust.distributed): a CUDA device without index is cuda:LOCAL_RANK.
        self.world = distributed.init(config.device)
        self.device = distributed.device_for(config.device, self.world)
        self.checkpoint_world_size = self.world.size  # that of the run a loaded checkpoint came from
        # The identity of the envs, in one place: the VecEnv's own, or what thrust.make will make them from.
        backend = envs.env_spec.backend if envs is not None else \
            resolve_backend(config.env_id, config.num_envs, config.backend, config.num_workers, None)
        if backend == "native" and config.backend == "auto" and self.device_envs and self.device.type == "cuda":
            backend = "cuda"  # a native env on the learner's GPU
        self.env_spec = envs.env_spec if envs is not None else EnvSpec(
            id=config.env_id, kwargs=env_kwargs, num_workers=config.num_workers, seed=config.seed, backend=backend,
        )
        if self.env_spec.backend == "cuda" and not self.device_envs:
            raise ValueError(f"{self.name.upper()} steps numpy envs: it does not run native envs on the GPU "
                             "(backend='cuda'); use backend='native'")
        self.env_kwargs = dict(self.env_spec.kwargs)
        self._apply_torch_settings()  # before initializing weights: results depend on the thread count
        # Seeding (detail 37): every global source once; the rollout and the minibatch shuffles draw
        # from the agent's own generator, so nothing else in the process can change a run.
        random.seed(config.seed)
        np.random.seed(config.seed)  # noqa: NPY002 (the legacy global RNG, for user code that uses it)
        torch.manual_seed(config.seed)
        torch.backends.cudnn.deterministic = config.torch_deterministic
        # Each rank its own streams: env i of rank r is seeded as env r·num_envs + i of one set of
        # world_size × num_envs, the rollout generator of rank r > 0 from (seed, r); rank 0's are a single run's.
        self.env_seed = config.seed + self.world.rank * config.num_envs
        rollout_seed = config.seed if self.world.rank == 0 \
            else int(np.random.SeedSequence([config.seed, self.world.rank]).generate_state(1)[0])
        self.generator = torch.Generator(self.device).manual_seed(rollout_seed)
        self.predict_generator = torch.Generator(self.device).manual_seed(config.seed + 1)

        # Environments (detail 1): one vectorized set, never reset between iterations. Made at the first
        # `learn` (predicting and evaluating never need them, and a Gymnasium id means worker processes);
        # until then a one-env probe, in this process, tells the spaces.
        self._envs, self.owns_envs = envs, envs is None
        if envs is None:
            probe_spec = dataclasses.replace(self.env_spec, backend="serial", num_workers=None) \
                if self.env_spec.backend == "multiprocessing" else self.host_spec()
            probe = make(probe_spec, num_envs=1)
            self.observation_space, self.action_space = probe.single_observation_space, probe.single_action_space
            self.check_multi_agent(probe)
            probe.close()
        else:
            self.observation_space, self.action_space = envs.single_observation_space, envs.single_action_space
            self.check_multi_agent(envs)
        num_rows = config.num_envs * self.rows_per_env

        # Agent (details 2, 13, 23): orthogonal init, separate actor and critic for vectors, shared CNN for images.
        self.policy = self.make_policy().to(self.device)
        distributed.broadcast_tensors(list(self.policy.state_dict().values()))  # rank 0's weights (seeded alike)
        self.obs_normalizer = (
            ObservationNormalizer(self.observation_space.shape).to(self.device) if config.normalize_obs else None
        )
        self.reward_scaler = RewardScaler(num_rows, config.gamma) if config.normalize_reward else None
        # Adam with eps=1e-5 (detail 3); fused: one kernel for all parameters instead of one per tensor.
        self.parameters = list(self.policy.parameters())
        self.optimizer = torch.optim.Adam(self.parameters, lr=config.learning_rate, eps=1e-5, fused=True)
        # On an accelerator a host check of every loss would stall once per gradient step: there the
        # check stays on the device (see `gradient_step`) and the host reads it once per `check_losses`.
        self.loss_check_on_device = self.device.type != "cpu"
        self.grad_scaler = torch.amp.GradScaler(self.device.type, init_scale=1.0, growth_interval=2**30)
        self.pending_losses: list[tuple[torch.Tensor, int]] = []

        # Rollout storage [T, N, ...] on the learner's device. Observations are stored as the networks
        # see them: float32 (whatever the env's dtype), or raw bytes for uint8 frames.
        self.storage = RolloutStorage(
            config.num_steps, num_rows, self.observation_space, self.action_space, self.device,
            observation_dtype(self.observation_space, normalized=config.normalize_obs),
            value_heads=self.value_heads(), recurrent_state_shape=self.policy.state_shape,
            row_masks=self.agent_rows,
        )
        self.collector = Collector(
            self.policy, self.storage, self.action_space, self.generator, self.obs_normalizer, self.reward_scaler
        )
        # Observation and return statistics, merged across the ranks after every rollout.
        self.shared_statistics = distributed.SharedStatistics(
            ([self.obs_normalizer] if self.obs_normalizer is not None else [])
            + ([self.reward_scaler.return_stats] if self.reward_scaler is not None else [])
        )

        self.global_step = 0
        self.iteration = 0
        self.started = False  # environments reset (seeded) at the first learn()
        self.recent_returns: deque[float] = deque(maxlen=100)
        self.recent_lengths: deque[int] = deque(maxlen=100)

    def make_policy(self) -> ActorCritic:
        """The actor-critic for the envs' spaces, as the config describes it (an algorithm may build another)."""
        config = self.config
        return ActorCritic(
            self.observation_space, self.action_space, config.hidden_sizes, config.shared_trunk, config.log_std_init,
            value_heads=self.value_heads(), normalized_obs=config.normalize_obs, recurrent=config.recurrent,
            recurrent_size=config.recurrent_size,
        )

    def check_multi_agent(self, envs: VecEnv) -> None:
        """Set `rows_per_env` (the agents of a multi-agent env, else 1), `agent_rows` (whether the rows are agents,
        masked where absent) and `agent_names`; `ValueError` where this algorithm or these options do not train on
        multi-agent envs."""
        self.rows_per_env, self.agent_rows = agents_per_env(envs), isinstance(envs, MultiAgentRows)
        self.agent_names = list(envs.agent_names) if self.agent_rows else None
        if not self.agent_rows:
            return
        if not self.multi_agent:
            raise ValueError(f"{self.name.upper()} does not train on multi-agent envs (agents as rows): use PPO")
        if envs.env_spec.backend == "pettingzoo" and (self.config.normalize_obs or self.config.normalize_reward):
            raise ValueError("normalize_obs and normalize_reward would count the rows of absent PettingZoo agents in "
                             "their statistics: train PettingZoo envs without them")

    def _apply_torch_settings(self) -> None:
        """Process-wide torch settings this model trains with (another model may have changed them)."""
        if self.config.num_threads > 0:
            torch.set_num_threads(self.config.num_threads)
        # Denormal floats (e.g. in Adam's moments) can slow CPU math many times over; flush them to 0.
        torch.set_flush_denormal(True)

    # -- environments --------------------------------------------------------------------------------

    def host_spec(self) -> EnvSpec:
        """`env_spec`, with native envs on the GPU (backend "cuda") replaced by the same envs on the CPU."""
        return dataclasses.replace(self.env_spec, backend="native") if self.env_spec.backend == "cuda" \
            else self.env_spec

    def make_envs(
        self, num_envs: int, seed: int | None = None, num_workers: int | None = None, host: bool = False
    ) -> VecEnv:
        """Fresh envs like the training ones (`thrust.make(self.env_spec, ...)`), `num_envs` of them, in
        `num_workers` processes where the backend has workers (default: the spec's, or fewer that divide);
        `host`: on the CPU, numpy in and out, where the training envs are native envs on the GPU.

        `ValueError` when the model trained on a VecEnv that `thrust.make` cannot make again.
        """
        if self.env_spec.id is None or self.env_spec.backend == "custom":
            raise ValueError(
                f"this model trained on a VecEnv that thrust.make cannot make again ({self.config.env_id!r}, "
                f"backend {self.env_spec.backend!r}): pass envs=... (fresh ones of your own) to evaluate"
            )
        spec = self.host_spec() if host else self.env_spec
        return make(spec, num_envs=num_envs, seed=seed, num_workers=num_workers)

    @property
    def envs(self) -> VecEnv:
        """The training envs: the VecEnv given, or `config.num_envs` copies made by `thrust.make` at first use."""
        if self._envs is None:
            self._envs = self.make_envs(self.config.num_envs, seed=self.env_seed)
        return self._envs

    def close(self) -> None:
        """Close the envs this model made (a VecEnv passed in is the caller's to close).

        A later `learn` makes new envs, reset with the seed `config.seed + global_step` (on rank r of a
        distributed run, `config.seed + r·num_envs + global_step`).
        """
        if self._envs is not None and self.owns_envs:
            self._envs.close()
            self._envs, self.started = None, False

    def __enter__(self) -> Algorithm:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- learning --------------------------------------------------------------------------------------

    def learn(self, total_timesteps: int | None = None, callback: Callback | None = None) -> Algorithm:
        """Train until `global_step` reaches `total_timesteps` (default: `config.total_timesteps`).

        `total_timesteps`, when given, replaces `config.total_timesteps`, which fixes the learning-rate
        schedule. After every iteration `callback(self, metrics)` runs; returning `False` stops
        training there, in a state that `save` and a later `learn` continue exactly.
        """
        config = self.config
        if total_timesteps is not None:
            dataclasses.replace(config, total_timesteps=total_timesteps).validate()
            config.total_timesteps = total_timesteps
        self.check_world()
        self._apply_torch_settings()
        envs = self.envs
        if not self.started:
            if self.global_step > 0:
                warnings.warn(
                    f"continuing at global step {self.global_step} on envs reset rather than restored (checkpoints "
                    f"hold the env state of native envs only; close() drops it): the reset is seeded with "
                    f"seed + global_step = {self.env_seed + self.global_step}, so this run is not the uninterrupted "
                    f"one",
                    stacklevel=2,
                )
                if self.reward_scaler is not None:  # the discounted returns restart with the episodes
                    self.reward_scaler.discounted_returns.zero_()
            # A run that continues without its envs' state takes fresh episodes, not the opening ones again.
            self.collector.reset(envs, seed=self.env_seed + self.global_step)
            self.started = True

        start_time, start_step = time.perf_counter(), self.global_step
        while self.iteration < config.num_iterations:
            self.iteration += 1
            metrics = self._iterate(start_time, start_step)
            if callback is not None and callback(self, metrics) is False:
                break
        return self

    def _iterate(self, start_time: float, start_step: int) -> dict[str, float]:
        """One iteration: learning rate, rollout, the algorithm's update; returns the iteration's metrics."""
        config = self.config
        # Linear learning-rate annealing to 0 (detail 4).
        fraction = 1.0 - (self.iteration - 1.0) / config.num_iterations if config.anneal_lr else 1.0
        learning_rate = fraction * config.learning_rate
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate

        rollout: RolloutStatistics = self.collector.collect(self.envs)
        self.shared_statistics.sync()
        self.global_step += config.batch_size  # this rank's steps: every rank takes as many
        self.recent_returns.extend(rollout.episode_returns)
        self.recent_lengths.extend(rollout.episode_lengths)

        tick = time.perf_counter()
        update_metrics = self.update()
        self.shared_statistics.sync()  # and what the update folded in (curiosity's statistics)
        learning_time = time.perf_counter() - tick
        metrics = {
            "global_step": float(self.global_step),
            "charts/learning_rate": learning_rate,
            # the whole run's env steps per second: all ranks'
            "charts/SPS": self.world.size * (self.global_step - start_step) / (time.perf_counter() - start_time),
            **update_metrics,
            "time/env": rollout.env_time,
            "time/inference": rollout.inference_time,
            "time/learning": learning_time,
        }
        episode_metrics = getattr(self.envs, "episode_metrics", None)  # multi-agent envs' (per agent, team)
        if episode_metrics is not None:
            metrics.update(episode_metrics())
        if rollout.episode_returns:
            metrics["charts/episodic_return"] = float(np.mean(rollout.episode_returns))
            metrics["charts/episodic_length"] = float(np.mean(rollout.episode_lengths))
        return metrics

    def value_heads(self) -> int:
        """How many returns the critic learns (its value heads, and the storage's rows per head): 1, or more
        for an algorithm that adds its own (e.g. PPO's intrinsic return with curiosity)."""
        return 1

    def update(self) -> dict[str, float]:
        """The algorithm's own step: learn from the filled `self.storage`; returns its metrics (`losses/...`)."""
        raise NotImplementedError

    def gradient_step(self, loss: torch.Tensor, where: str) -> None:
        """One optimizer step on `loss` with global-norm clipping (detail 11), never applying a non-finite loss.

        On the CPU the host checks the loss first, which is free there. On an accelerator that check would
        stall once per step, so the loss goes through a `torch.amp.GradScaler` at scale 1 (exact: it
        multiplies by one), which skips the step on the device when the gradients are not finite; the
        loss is kept, with `where` (e.g. "epoch 1, minibatch 2"), for `check_losses`.
        """
        if not self.loss_check_on_device and not self.world.distributed and not torch.isfinite(loss):
            raise self._loss_error(loss.item(), where)
        self.optimizer.zero_grad(set_to_none=True)
        if self.world.distributed:
            loss = self._average_gradients(loss, where)
        if self.loss_check_on_device:
            if not self.world.distributed:
                self.grad_scaler.scale(loss).backward()
            self.grad_scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.parameters, self.config.max_grad_norm)
            self.grad_scaler.step(self.optimizer)
            self.grad_scaler.update()
            self.pending_losses.append((loss.detach(), where))
        else:
            if not self.world.distributed:
                loss.backward()
            torch.nn.utils.clip_grad_norm_(self.parameters, self.config.max_grad_norm)
            self.optimizer.step()

    def _average_gradients(self, loss: torch.Tensor, where: str) -> torch.Tensor:
        """Data-parallel: backward, then the gradients of `self.parameters` (every network an algorithm
        trains) averaged over the ranks before clipping; returns the ranks' mean loss, which is what
        the non-finite checks see, so that every rank takes (or refuses) the step alike."""
        (self.grad_scaler.scale(loss) if self.loss_check_on_device else loss).backward()
        mean_loss = distributed.average_gradients(self.parameters, loss)
        if not self.loss_check_on_device and not torch.isfinite(mean_loss):
            raise self._loss_error(mean_loss.item(), f"{where}, on at least one rank")
        return mean_loss

    def check_losses(self) -> None:
        """Raise for the first non-finite loss kept by `gradient_step` since the last check (one host sync)."""
        if not self.pending_losses:
            return
        losses = torch.stack([loss for loss, _ in self.pending_losses])
        finite = losses.isfinite()
        if not finite.all():
            first = int(finite.logical_not().nonzero()[0])
            loss, where = self.pending_losses[first]
            self.pending_losses.clear()
            raise self._loss_error(loss.item(), where)
        self.pending_losses.clear()

    def _loss_error(self, loss: float, where: str) -> FloatingPointError:
        return FloatingPointError(
            f"{self.name.upper()} loss is {loss} at update {self.iteration} ({where}, global step "
            f"{self.global_step}); training stopped before applying it. Check the environment's "
            f"rewards/observations or lower learning_rate."
        )

    # -- using the model -------------------------------------------------------------------------------

    def predict(
        self,
        obs: np.ndarray,
        deterministic: bool = True,
        state: np.ndarray | None = None,
        episode_start: np.ndarray | None = None,
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Actions for a batch of raw observations `[B, ...]` (or one observation), as the env takes them.

        Applies the model's observation normalization, frozen; Box actions are clipped to the bounds.
        Stochastic actions draw from a generator of their own, so predicting never changes training.

        A recurrent model (`config.recurrent`) returns `(actions, state)`, SB3-contrib's convention: pass
        the state back with the next observations, and `episode_start` (bool `[B]`) true for the rows
        whose episode begins with these observations; `state=None` starts every row's episode. The
        state is a float32 array `[B, S, recurrent_size]` (`[S, recurrent_size]` for one observation).
        """
        obs = np.asarray(obs)
        shape = self.observation_space.shape
        single = obs.shape == shape
        if not single and obs.shape[1:] != shape:
            raise ValueError(f"observations must have shape {shape} or [B, {', '.join(map(str, shape))}], "
                             f"got {obs.shape}")
        if obs.dtype.kind == "f" and not np.isfinite(obs).all():
            raise ValueError("observations must be finite: got NaN or inf")
        batch = obs[None] if single else obs
        core_state = self._predict_state(len(batch), single, state, episode_start)
        observed = self.collector.observe(np.ascontiguousarray(batch), update_statistics=False, name="predict")
        if deterministic:
            action = self.policy.deterministic_action(observed, core_state)
        else:
            action = self.policy.act(observed, self.predict_generator, core_state)[0]
        action = self.collector.env_actions(action)
        action = action[0] if single else action
        if core_state is None:
            return action
        next_state = core_state.cpu().numpy()
        return action, next_state[0] if single else next_state

    def _predict_state(
        self, batch: int, single: bool, state: np.ndarray | None, episode_start: np.ndarray | None
    ) -> torch.Tensor | None:
        """`predict`'s recurrent state, a tensor `[B, S, size]` zeroed where an episode starts (None: feed-forward)."""
        if self.policy.state_shape is None:
            if state is not None or episode_start is not None:
                raise ValueError("state and episode_start are for recurrent models; this model is feed-forward")
            return None
        if state is None:
            return self.policy.initial_state(batch, self.device)
        expected = self.policy.state_shape if single else (batch, *self.policy.state_shape)
        state = np.asarray(state, dtype=np.float32)
        if state.shape != expected:
            raise ValueError(f"state must have shape {expected} (what the last predict returned), got {state.shape}")
        core_state = torch.as_tensor(state.reshape(batch, *self.policy.state_shape), device=self.device).clone()
        if episode_start is not None:
            starts = np.asarray(episode_start, dtype=bool).reshape(-1)
            if starts.shape != (batch,):
                raise ValueError(f"episode_start must hold one bool per observation ({batch}), got shape "
                                 f"{np.shape(episode_start)}")
            core_state[torch.as_tensor(starts, device=self.device)] = 0.0
        return core_state

    # -- saving and loading ----------------------------------------------------------------------------

    def extra_state(self) -> dict[str, Any]:
        """An algorithm's own training state beyond the generic one (saved under "algorithm")."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what `extra_state` returned."""

    def save(self, path: str | os.PathLike) -> None:
        """Write the full training state atomically: everything `load` + `learn` need to continue exactly.

        In a distributed run every rank calls it (each hands rank 0 its own envs' and generators' state)
        and rank 0 alone writes the file.
        """
        state = {
            "config": dataclasses.asdict(self.config),
            "env_kwargs": self.env_kwargs,
            "policy": self.policy.state_dict(),
            "obs_normalizer": None if self.obs_normalizer is None else self.obs_normalizer.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "global_step": self.global_step,
            "iteration": self.iteration,
            "predict_generator": self.predict_generator.get_state(),
            "world_size": self.world.size,
        }
        ranks = distributed.gather_objects(self._rank_state())
        if ranks is None:  # not rank 0
            return
        state.update(ranks[0])
        state["ranks"] = ranks if self.world.distributed else None
        checkpoint.save(path, self.name, state)

    def _rank_state(self) -> dict[str, Any]:
        """What differs from rank to rank: the envs and where they stand, the random streams, the episodes seen,
        and the algorithm's own state (`extra_state`, which may track the envs, as curiosity's returns do)."""
        numpy_state = np.random.get_state()  # noqa: NPY002
        saves_envs = self.started and hasattr(self._envs, "state_dict")
        return {
            "reward_scaler": None if self.reward_scaler is None else self.reward_scaler.state_dict(),
            "generator": self.generator.get_state(),
            "rng": {
                "python": random.getstate(),
                "numpy": (numpy_state[0], numpy_state[1].astype(np.int64), *numpy_state[2:]),
                "torch": torch.get_rng_state(),
            },
            "env": self._envs.state_dict() if saves_envs else None,
            "next_obs": self.storage.next_obs.cpu() if saves_envs else None,
            "recurrent_state": self.collector.state.cpu() if saves_envs and self.collector.state is not None else None,
            "recent_returns": list(self.recent_returns),
            "recent_lengths": list(self.recent_lengths),
            "algorithm": self.extra_state(),
        }

    def check_world(self) -> None:
        """`ValueError` unless this process's world size is that of the run the model's checkpoint came from."""
        if self.checkpoint_world_size != self.world.size:
            raise ValueError(
                f"this {self.name} run was checkpointed by {self.checkpoint_world_size} rank(s) and continues only "
                f"at that world size, but this process is one of {self.world.size}: resume it with "
                + ("no torchrun (one process)" if self.checkpoint_world_size == 1 else
                   f"torchrun and {self.checkpoint_world_size} processes in all (e.g. --nproc-per-node "
                   f"{self.checkpoint_world_size})")
                + " (evaluating it works at any world size)"
            )

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        env: str | VecEnv | None = None,
        env_kwargs: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> Algorithm:
        """A model from `save`d state; `env` (id or VecEnv), `env_kwargs` and hyperparameter `overrides`
        replace the saved ones.

        When the saved env state can be restored (native envs), `learn` continues bit-identically to a
        run that was never interrupted; otherwise it warns and restarts the envs from a reset seeded with
        `seed + global_step`. Envs are made here only to restore their state; otherwise at the first `learn`.
        """
        state = checkpoint.load(path, cls.name)
        saved = state["config"]
        env_id = env if isinstance(env, str) else overrides.pop("env_id", saved["env_id"])
        envs = None if env is None or isinstance(env, str) else env
        if envs is not None:
            check_envs(envs, cls.name)
            overrides["num_envs"] = envs.num_envs // agents_per_env(envs)
        config = make_config(cls.Config, cls.name, env_id, overrides, base=saved)
        saved_kwargs = state.get("env_kwargs", {})
        model = cls(env_id if envs is None else envs, config=config,
                    env_kwargs=saved_kwargs if env_kwargs is None else env_kwargs)
        model._restore(state, path)
        return model

    def _restore(self, state: dict[str, Any], path: str | os.PathLike) -> None:
        # A distributed run's checkpoint: this rank's own part (rank 0's when the world differs: to evaluate).
        self.checkpoint_world_size = state.get("world_size", 1)
        if state.get("ranks") and self.checkpoint_world_size == self.world.size:
            state = {**state, **state["ranks"][self.world.rank]}
        restore_envs = state["env"] is not None and hasattr(self.envs, "load_state_dict")
        try:
            self.policy.load_state_dict(state["policy"])
            if self.obs_normalizer is not None and state["obs_normalizer"] is not None:
                self.obs_normalizer.load_state_dict(state["obs_normalizer"])
            if self.reward_scaler is not None and state["reward_scaler"] is not None:
                self.reward_scaler.load_state_dict(state["reward_scaler"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.load_extra_state(state.get("algorithm", {}))
            if restore_envs:
                self.envs.load_state_dict(state["env"])
                self.storage.next_obs.copy_(state["next_obs"])
                if self.collector.state is not None:
                    self.collector.state.copy_(state["recurrent_state"])
                self.started = True
        except (RuntimeError, ValueError, KeyError) as error:
            # torch lists every mismatched parameter with both shapes on lines of their own: keep them all
            details = "; ".join(line.strip() for line in str(error).splitlines() if line.strip())
            raise checkpoint.CheckpointError(
                f"checkpoint {str(path)!r} does not fit the model for {self.config.env_id!r} "
                f"(num_envs={self.config.num_envs}): {details}"
            ) from error
        for group in self.optimizer.param_groups:  # an overridden learning rate takes effect
            group["lr"] = self.config.learning_rate
        self.global_step, self.iteration = state["global_step"], state["iteration"]
        if self.device.type == torch.device(state["config"]["device"]).type:
            self.generator.set_state(state["generator"])
            self.predict_generator.set_state(state["predict_generator"])
        random.setstate(state["rng"]["python"])
        name, keys, *rest = state["rng"]["numpy"]
        np.random.set_state((name, keys.astype(np.uint32), *rest))  # noqa: NPY002
        torch.set_rng_state(state["rng"]["torch"])
        self.recent_returns.extend(state["recent_returns"])
        self.recent_lengths.extend(state["recent_lengths"])
        self.shared_statistics.rebase()


def check_envs(envs: object, algorithm: str) -> None:
    """A ready env an algorithm can train on: a Thrust `VecEnv` stepped in lockstep; otherwise a clear `ValueError`."""
    if not isinstance(envs, VecEnv):
        raise ValueError(
            f"env must be an env id or a Thrust VecEnv (from thrust.make, or thrust.vector.serial.SerialVecEnv "
            f"around Gymnasium env constructors), got {type(envs).__module__}.{type(envs).__qualname__}"
        )
    if envs.batch_size != envs.num_envs:
        raise ValueError(
            f"{algorithm.upper()} steps all envs together: this VecEnv has batch_size={envs.batch_size} < "
            f"num_envs={envs.num_envs} (async mode); make it without batch_size"
        )


def env_id_of(envs: VecEnv) -> str:
    """The env id of a ready VecEnv, from the identity it was made with (`envs.env_spec`)."""
    env_id = envs.env_spec.id
    if env_id is None:
        raise ValueError("cannot tell the env id of this VecEnv: pass env_id=... with the hyperparameters")
    return env_id
