"""Asynchronous actors: threads that keep stepping envs with a copy of the policy while the learner trains.

The learner (the training loop's thread) and `K` actor threads meet at fixed-length segments:

- each actor owns a slice of the envs (its own `VecEnv`), a CPU copy of the policy, its own random
  generator and a few preallocated slots, each a `RolloutStorage` `[T, n]` on the CPU;
- it fills a free slot with one segment of `T` steps, stepped by the shared `Collector` (so the storage
  layout, the truncation bootstrapping from V(final obs) and the episode statistics are PPO's),
  tags it with the version of the weights it acted with and its sequence number, and marks it ready;
- the learner takes `K` ready segments, oldest first, copies each into columns of its own `[T, N]`
  storage and frees the slot; before that it publishes its weights: one copy into a CPU parameter set
  under the pool's lock, with a version counter. An asynchronous actor copies the newest weights into
  its policy at the start of each segment. Nothing is pickled, nothing allocates per step.

Synchronous mode (`synchronous=True`): every actor writes exactly one segment per `take`, and the
learner takes them in actor order. With `lag=0` (lockstep) each is acted with the weights just
published: policy lag 0, and actors run only while the learner waits. With `lag=1` each actor writes
its next segment while the learner updates on this one, acting with the weights from before that
update: policy lag exactly 1, the env time overlapping the update's as with asynchronous actors.
Either way a run is bit-reproducible for a seed: each actor has its own envs and generator, and it is
the learner that copies the weights into an idle actor when it allows it a segment, so which weights
act on which segment never depends on thread timing. Asynchronous mode is not reproducible: which
segments make a batch, and with which weights they were acted (an actor takes the newest at the start
of each segment), depend on thread timing.

An actor that raises (its env, a dead env worker, its policy) is reported by the learner's next (or
current) `take` as `ActorError` with the actor's message, chained from its exception; the pool stops.
With `max_restarts` and a `make_envs`, a failed actor instead gets fresh envs and a new thread (its
unfinished segment is dropped, with a warning), up to `max_restarts` times in all.

Why threads, not processes (measured on the 2-core machine of BENCHMARKS.md): torch and the numba env
kernels spend much of their time outside the GIL, so an actor thread (policy inference + native
CartPole steps) and a learner thread (forward, backward, Adam at batch 1024) running together kept
53% and 71% of their speeds alone: 1.24x the work of one thread. Two processes kept about 100% each,
but a fresh actor process takes 3-6 s to import torch and build its envs, more than PPO's whole time
to solve CartPole (2 s). Gymnasium envs already step in worker processes (the multiprocessing
backend), where an actor thread mostly waits on pipes, without the GIL.
"""

from __future__ import annotations

import contextlib
import copy
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from thrust.collector import Collector, RolloutStatistics
from thrust.policies import ActorCritic
from thrust.storage import RolloutStorage
from thrust.vector.base import VecEnv
from thrust.vector.multiagent import AgentStatistics, MultiAgentRows, agents_per_env

POLL_SECONDS = 0.1  # the learner re-checks the actors' threads this often while it waits (failures wake it at once)
JOIN_SECONDS = 30.0  # how long `stop` waits for an actor to finish the segment it is writing


class ActorError(RuntimeError):
    """An actor thread failed; raised in the learner, chained from the actor's own exception."""


@dataclass
class Segment:
    """A slot an actor has filled: whose, which, its place in the actor's sequence, the policy version it
    acted with, and what it measured (env and inference seconds, finished episodes)."""

    actor: int
    slot: int
    index: int
    version: int
    statistics: RolloutStatistics


class Actor:
    """One actor's state: envs, policy copy, generator, slots, where its next segment starts."""

    def __init__(
        self, index: int, envs: VecEnv, policy: ActorCritic, generator: torch.Generator, num_steps: int,
        num_slots: int, obs_dtype: torch.dtype,
    ) -> None:
        self.index, self.envs, self.policy, self.generator = index, envs, policy, generator
        cpu = torch.device("cpu")
        self.slots = [
            RolloutStorage(num_steps, envs.num_envs, envs.single_observation_space, envs.single_action_space, cpu,
                           obs_dtype, row_masks=isinstance(envs, MultiAgentRows))
            for _ in range(num_slots)
        ]
        self.collector = Collector(policy, self.slots[0], envs.single_action_space, generator)
        # multi-agent envs: each slot's segment carries the per-agent episodes that ended while it was written
        self.slot_statistics = [AgentStatistics(envs.agent_names, 0) for _ in range(num_slots)] \
            if isinstance(envs, MultiAgentRows) else None
        self.parameters = list(policy.parameters())
        self.obs = torch.zeros_like(self.slots[0].next_obs)  # the observation the next segment starts from
        self.free = deque(range(num_slots))
        self.version = -1  # of the weights in self.policy
        self.next_index = 0  # sequence number of the next segment
        self.allowance = 0  # segments it may still start (synchronous mode)
        self.writing: int | None = None  # the slot it is filling
        self.thread: threading.Thread | None = None


class ActorPool:
    """`len(envs)` actor threads, one per `VecEnv`, acting with CPU copies of `policy` into segment slots.

    `envs[k]` is actor `k`'s slice; its env `i` should be seeded as env `k·n + i` of the whole set
    (`reset` does that; a multi-agent VecEnv's `n` envs are `n·A` rows, masked in the slots where absent).
    `num_slots`: segments an actor may have written ahead of the learner
    (asynchronous mode; lag is bounded by it). `lag` (synchronous mode): 1 lets every actor write its
    next segment while the learner updates (see the module docstring). Threads start at the first
    `take` and after a `stop`. `make_envs(k)` makes fresh envs for actor `k`, to restart it after a
    failure (`max_restarts` in all). The pool stands where the training loop keeps its envs: `close()`
    stops the threads and closes the envs (if `owns_envs`); `state_dict`/`load_state_dict` exist for
    lockstep pools (synchronous, lag 0) of envs that have them (native envs), holding every actor's env
    state, observation, generator and counters.
    """

    def __init__(
        self,
        envs: list[VecEnv],
        policy: ActorCritic,
        num_steps: int,
        seed: int,
        num_slots: int = 2,
        synchronous: bool = False,
        lag: int = 0,
        obs_dtype: torch.dtype = torch.float32,
        owns_envs: bool = True,
        make_envs: Callable[[int], VecEnv] | None = None,
        max_restarts: int = 0,
    ) -> None:
        if not envs:
            raise ValueError("an actor pool needs at least one VecEnv")
        sizes = {e.num_envs for e in envs}
        if len(sizes) != 1:
            raise ValueError(f"every actor needs the same number of envs, got {[e.num_envs for e in envs]}")
        if num_slots < 1:
            raise ValueError(f"num_slots must be >= 1, got {num_slots}")
        if lag not in (0, 1) or (lag and not synchronous):
            raise ValueError(f"lag must be 0 or 1, for synchronous actors only, got lag={lag!r} with "
                             f"synchronous={synchronous}")
        self.envs_per_actor = sizes.pop()  # rows: a multi-agent env's agents
        self.num_envs = self.envs_per_actor * len(envs)
        self.seeds_per_actor = self.envs_per_actor // agents_per_env(envs[0])  # envs, which take a seed each
        self.num_steps, self.synchronous, self.lag, self.owns_envs, self.seed = \
            num_steps, synchronous, lag, owns_envs, seed
        self.make_envs, self.max_restarts, self.restarts = make_envs, max_restarts, 0
        self.single_observation_space: gym.Space = envs[0].single_observation_space
        self.single_action_space: gym.Space = envs[0].single_action_space
        self.statistics = AgentStatistics(envs[0].agent_names, 0) if isinstance(envs[0], MultiAgentRows) else None
        """multi-agent envs: the per-agent episodes of the segments taken, until `episode_metrics`"""
        self.lock = threading.Condition()
        self.published = [p.detach().to("cpu", copy=True) for p in policy.parameters()]
        self.published_version = -1
        self.actors = []
        for k, actor_envs in enumerate(envs):
            actor_policy = copy.deepcopy(policy).cpu().requires_grad_(False)
            generator = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, k]).generate_state(1)[0]))
            self.actors.append(Actor(k, actor_envs, actor_policy, generator, num_steps,
                                     1 + lag if synchronous else num_slots, obs_dtype))
        self.ready: deque[Segment] = deque()
        self.failures: dict[int, BaseException] = {}  # actor index → what ended its thread
        self.stopping = False
        self.ahead = False  # synchronous, lag 1: every actor has been allowed the segment after the last batch
        self.closed = False
        self.produced = 0  # segments written
        self.consumed = 0  # segments taken by the learner
        self.discarded = 0  # segments written but dropped unread by `stop`

    # -- the learner's side -----------------------------------------------------------------------

    def reset(self, seed: int | None) -> None:
        """Reset every actor's envs, env `i` of actor `k` with `seed + k·n + i`; threads must be stopped."""
        self.stop()
        for actor in self.actors:
            obs, _ = actor.envs.reset(seed=None if seed is None else seed + actor.index * self.seeds_per_actor)
            actor.collector.observe(obs, update_statistics=False, out=actor.obs)

    def publish(self, policy: ActorCritic, version: int) -> None:
        """Copy `policy`'s weights where the actors read them, as `version` (one copy, under the lock)."""
        with self.lock, torch.no_grad():
            for shared, parameter in zip(self.published, policy.parameters(), strict=True):
                shared.copy_(parameter)
            self.published_version = version

    def take(self) -> list[Segment]:
        """Wait for one ready segment per actor's worth of envs (`K` segments), oldest first; the learner
        reads each one's slot (`slot(segment)`) and hands it back with `release`.

        Synchronous: first allows each actor one segment (lag 1: unless allowed by the last `take`),
        and returns them in actor order (lag 1: after allowing each actor its next segment).
        Raises `ActorError` as soon as an actor has failed and cannot be restarted (the pool is then stopped).
        """
        if self.closed:
            raise RuntimeError("this actor pool is closed")
        self.start()
        count = len(self.actors)
        with self.lock:
            if self.synchronous and not self.ahead:
                self._allow()
        while True:
            with self.lock:
                if not self.failures and len(self.ready) >= count:
                    segments = [self.ready.popleft() for _ in range(count)]
                    self.consumed += count
                    if self.synchronous:
                        segments.sort(key=lambda segment: segment.actor)
                    if self.lag:
                        self._allow()
                        self.ahead = True
                    return segments
                for actor in self.actors:
                    if (actor.thread is None or not actor.thread.is_alive()) and actor.index not in self.failures:
                        self.failures[actor.index] = RuntimeError("the actor thread ended without a segment")
                if not self.failures:
                    self.lock.wait(POLL_SECONDS)
                    continue
                index = min(self.failures)
                if self.restarts >= self.max_restarts or self.make_envs is None:
                    break
            self._restart(index)
        self._raise_failure(index)
        raise AssertionError("unreachable")

    def _allow(self) -> None:
        """Synchronous: allow every actor, idle now, one segment, acted with the published weights (copied
        into its policy here, in the learner's thread). Under the lock."""
        for actor in self.actors:
            if actor.version != self.published_version:
                self._refresh(actor)
            actor.allowance += 1
        self.lock.notify_all()

    def _refresh(self, actor: Actor) -> None:
        """Copy the published weights into `actor`'s policy. Under the lock."""
        with torch.no_grad():
            for mine, published in zip(actor.parameters, self.published, strict=True):
                mine.copy_(published)
        actor.version = self.published_version

    def _restart(self, index: int) -> None:
        """Actor `index` failed: fresh envs, a new thread, its unfinished segment dropped (learner thread)."""
        actor = self.actors[index]
        error = self.failures[index]
        actor.thread.join(JOIN_SECONDS)
        actor.thread = None
        with contextlib.suppress(Exception):
            actor.envs.close()
        self.restarts += 1
        warnings.warn(
            f"actor {index} failed ({type(error).__name__}: {error}); restarting it with fresh envs "
            f"(restart {self.restarts} of {self.max_restarts}); its unfinished segment is dropped",
            stacklevel=4,
        )
        actor.envs = self.make_envs(index)
        seeds = self.seeds_per_actor
        obs, _ = actor.envs.reset(seed=self.seed + seeds * (len(self.actors) * self.restarts + index))
        actor.collector.observe(obs, update_statistics=False, out=actor.obs)
        with self.lock:
            if actor.writing is not None:
                actor.free.append(actor.writing)
                actor.writing = None
                actor.allowance += self.synchronous  # the segment the learner still waits for
            del self.failures[index]
        self.start()

    def slot(self, segment: Segment) -> RolloutStorage:
        """The storage `[T, n]` a segment was written into (the learner's until `release`)."""
        return self.actors[segment.actor].slots[segment.slot]

    def release(self, segment: Segment) -> None:
        """Give a segment's slot back to its actor, to be written again (its per-agent episodes counted)."""
        actor = self.actors[segment.actor]
        if actor.slot_statistics is not None:
            actor.slot_statistics[segment.slot].move_into(self.statistics)
        with self.lock:
            self.actors[segment.actor].free.append(segment.slot)
            self.lock.notify_all()

    def _raise_failure(self, index: int) -> None:
        error = self.failures[index]
        self.stop(join=False)
        first = index * self.seeds_per_actor
        restarted = f" (after {self.restarts} restart(s) of failed actors)" if self.restarts else ""
        raise ActorError(
            f"actor {index} (envs {first}..{first + self.seeds_per_actor - 1}) failed: "
            f"{type(error).__name__}: {error}; "
            f"training stopped{restarted}"
        ) from error

    # -- threads ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the actor threads that are not running."""
        for actor in self.actors:
            if actor.thread is None:
                actor.thread = threading.Thread(
                    target=self._run, args=(actor,), name=f"thrust-actor-{actor.index}", daemon=True
                )
                actor.thread.start()

    def stop(self, join: bool = True) -> None:
        """Stop the threads (each finishes the segment it is writing) and drop unread segments.

        Env states, observations and generators stay: `start` (or the next `take`) continues from them.
        """
        with self.lock:
            self.stopping = True
            self.lock.notify_all()
        if not join:
            return
        for actor in self.actors:
            if actor.thread is not None:
                actor.thread.join(JOIN_SECONDS)
                if actor.thread.is_alive():
                    raise RuntimeError(f"actor {actor.index} did not stop within {JOIN_SECONDS} s (an env step hangs?)")
                actor.thread = None
        with self.lock:
            for segment in self.ready:
                self.actors[segment.actor].free.append(segment.slot)
            self.discarded += len(self.ready)
            self.ready.clear()
            self.ahead = False
            for actor in self.actors:
                actor.allowance = 0
                if actor.writing is not None:  # a segment its failure left unfinished
                    actor.free.append(actor.writing)
                    actor.writing = None
            self.stopping = False
            self.failures.clear()

    def _run(self, actor: Actor) -> None:
        """An actor thread: wait for a free slot (and, synchronous, an allowance), refresh the weights if
        newer ones are published (asynchronous), write one segment, mark it ready; until stopped. Failures
        are reported."""
        torch.set_flush_denormal(True)  # a per-thread CPU flag: the learner's setting does not reach here
        lock = self.lock
        try:
            while True:
                with lock:
                    lock.wait_for(lambda: self.stopping or (
                        bool(actor.free) and (not self.synchronous or actor.allowance > 0)))
                    if self.stopping:
                        return
                    slot_index = actor.writing = actor.free.popleft()
                    actor.allowance -= self.synchronous
                    if not self.synchronous and actor.version != self.published_version:
                        self._refresh(actor)
                slot = actor.slots[slot_index]
                slot.next_obs.copy_(actor.obs)
                actor.collector.storage = slot
                statistics = actor.collector.collect(actor.envs)
                actor.obs.copy_(slot.next_obs)
                if actor.slot_statistics is not None:
                    actor.slot_statistics[slot_index].forget()  # a dropped segment's
                    actor.envs.statistics.move_into(actor.slot_statistics[slot_index])
                with lock:
                    self.ready.append(Segment(actor.index, slot_index, actor.next_index, actor.version, statistics))
                    actor.writing = None
                    actor.next_index += 1
                    self.produced += 1
                    lock.notify_all()
        except BaseException as error:  # everything reaches the learner, which decides
            with lock:
                self.failures[actor.index] = error
                lock.notify_all()

    # -- where the training loop keeps its envs ---------------------------------------------------------

    def episode_metrics(self) -> dict[str, float]:
        """Multi-agent envs: each agent's mean episode return and the team's over the segments taken since the
        last call (as a multi-agent VecEnv's `episode_metrics`); else nothing."""
        return {} if self.statistics is None else self.statistics.drain()

    def close(self) -> None:
        """Stop the threads, then close the envs if the pool owns them. Idempotent."""
        if self.closed:
            return
        self.stop()
        self.closed = True
        if self.owns_envs:
            for actor in self.actors:
                actor.envs.close()

    @property
    def state_dict(self) -> Any:
        """`state_dict()`: every actor's env state, observation, generator and counters (synchronous pools of
        envs with a `state_dict` only: elsewhere this attribute does not exist, so checkpoints skip it)."""
        if not self.synchronous or self.lag:
            raise AttributeError("asynchronous actors, and actors a segment ahead, are not checkpointed: their "
                                 "segments are in flight")
        if not all(hasattr(actor.envs, "state_dict") for actor in self.actors):
            raise AttributeError("these envs have no state_dict")
        return self._state_dict

    def _state_dict(self) -> dict[str, Any]:
        with self.lock:  # synchronous actors between takes are idle: this is a consistent picture
            return {"actors": [
                {"env": actor.envs.state_dict(), "obs": actor.obs.clone(), "generator": actor.generator.get_state(),
                 "next_index": actor.next_index}
                for actor in self.actors
            ]}

    @property
    def load_state_dict(self) -> Any:
        """`load_state_dict(state)`: restore `state_dict()` (envs with a `load_state_dict` only)."""
        if not all(hasattr(actor.envs, "load_state_dict") for actor in self.actors):
            raise AttributeError("these envs have no load_state_dict")
        return self._load_state_dict

    def _load_state_dict(self, state: dict[str, Any]) -> None:
        if len(state["actors"]) != len(self.actors):
            raise ValueError(f"the state holds {len(state['actors'])} actors, this pool has {len(self.actors)}")
        self.stop()
        for actor, saved in zip(self.actors, state["actors"], strict=True):
            actor.envs.load_state_dict(saved["env"])
            actor.obs.copy_(saved["obs"])
            actor.generator.set_state(saved["generator"])
            actor.next_index = saved["next_index"]


class ActorCollector(Collector):
    """The learner's collector over an `ActorPool`: `collect` publishes the weights, takes one batch of
    segments into the learner's storage and frees their slots.

    The storage's `[T, N]` columns are the `K` segments side by side, in the order taken; `logprobs` and
    `values` are the behaviour policy's, `final_values` its V(final obs); `next_obs` is where each
    segment's env went on. `behaviour_versions [N]` are the versions the columns were acted with,
    `version` the learner's (updates applied), `policy_lags` and `wait_time` describe the last batch.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.version = 0
        self.behaviour_versions = torch.zeros(self.storage.num_envs, dtype=torch.int64)
        self.policy_lags: list[int] = []
        self.wait_time = 0.0
        self.segments: list[tuple[int, int]] = []  # (actor, index) of the last batch's segments

    def reset(self, envs: ActorPool, seed: int | None) -> None:  # type: ignore[override]
        envs.reset(seed)

    def collect(self, envs: ActorPool) -> RolloutStatistics:  # type: ignore[override]
        pool, storage = envs, self.storage
        pool.publish(self.policy, self.version)
        tick = time.perf_counter()
        segments = pool.take()
        self.wait_time = time.perf_counter() - tick
        stats = RolloutStatistics()
        n = pool.envs_per_actor
        for j, segment in enumerate(segments):
            columns = slice(j * n, (j + 1) * n)
            slot = pool.slot(segment)
            for name in ("obs", "actions", "logprobs", "values", "rewards", "terminations", "truncations",
                         "final_values"):
                getattr(storage, name)[:, columns].copy_(getattr(slot, name))
            if storage.row_masks is not None:  # the agents present (multi-agent rows)
                storage.row_masks[:, columns].copy_(slot.row_masks)
            storage.next_obs[columns].copy_(slot.next_obs)
            pool.release(segment)
            self.behaviour_versions[columns] = segment.version
            # The actors run side by side: a batch's env and inference seconds are their means over its segments.
            stats.env_time += segment.statistics.env_time / len(segments)
            stats.inference_time += segment.statistics.inference_time / len(segments)
            stats.episode_returns.extend(segment.statistics.episode_returns)
            stats.episode_lengths.extend(segment.statistics.episode_lengths)
        self.policy_lags = [self.version - segment.version for segment in segments]
        self.segments = [(segment.actor, segment.index) for segment in segments]
        self.version += 1  # the update that follows makes the next version
        return stats
