"""One rank of the data-parallel checks of tests/test_distributed.py, started there with torchrun's
environment variables (RANK, WORLD_SIZE, MASTER_ADDR, ...). Asserts as it goes; a failed check exits
non-zero with its message on stderr.

    python tests/distributed_worker.py variants OUT  # gradients; PPO (normalizers, target_kl, LSTM, RND), IMPALA, APPO
    python tests/distributed_worker.py solve OUT     # PPO's CartPole preset, checked after every update
    python tests/distributed_worker.py leave OUT     # rank 1 fails and leaves, rank 0 finishes after it
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

import thrust
from thrust import algorithms, checkpoint, distributed


def weights(model: thrust.PPO) -> list[torch.Tensor]:
    """What must be identical on every rank: networks, optimizer moments, normalization statistics."""
    tensors = [p.detach() for p in model.parameters]
    tensors += [value for state in model.optimizer.state.values() for value in state.values() if value.ndim > 0]
    for module in model.shared_statistics.modules:
        tensors += [module.count.reshape(1), module.mean.reshape(-1), module.var.reshape(-1)]
    return tensors


def check_every_update(model: thrust.PPO, metrics: dict[str, float]) -> None:
    assert distributed.identical_across_ranks(weights(model)), \
        f"weights differ across ranks at update {model.iteration}"
    # the negative control of the check: the ranks' rollouts are their own (distinct env and action streams)
    assert not distributed.identical_across_ranks([model.storage.obs, model.storage.actions.double()]), \
        f"the ranks collected the same rollout at update {model.iteration}"


def until(iteration: int):
    """A callback that checks the ranks and stops training after `iteration`."""
    def callback(model: thrust.PPO, metrics: dict[str, float]) -> bool:
        check_every_update(model, metrics)
        return model.iteration < iteration
    return callback


def variants(out: Path) -> None:
    gradients(out)
    world = distributed.world()
    settings = [
        ("ppo", dict(normalize_obs=True, normalize_reward=True, num_minibatches=2, update_epochs=3, target_kl=0.002)),
        ("ppo", dict(recurrent="lstm", recurrent_size=16, bptt_horizon=8, num_minibatches=2)),
        ("ppo", dict(curiosity="rnd", num_minibatches=2)),
        ("impala", dict(num_actors=1)),
        ("appo", dict(num_actors=2, num_minibatches=2)),
    ]
    for name, hyperparameters in settings:
        cls = algorithms.get(name)
        path = out / f"{name}-{len(hyperparameters)}.pt"
        with cls("CartPole-v1", seed=5, num_envs=4, num_steps=16, total_timesteps=4 * 16 * 4,
                 **hyperparameters) as model:
            model.learn(callback=until(2))
            model.save(path)  # every rank takes part, rank 0 writes
            model.learn(callback=check_every_update)
            if hyperparameters.get("normalize_obs"):
                # every observation of every rank counted once: the resets' and each rollout step's
                expected = 1e-4 + world.size * 4 * (1 + 4 * 16)
                assert abs(model.obs_normalizer.count.item() - expected) < 1e-6, model.obs_normalizer.count.item()
            if name == "ppo":  # every rank resumes its own envs, streams and recurrent state: bit-identically
                with cls.load(path) as resumed:
                    resumed.learn(callback=check_every_update)
                    assert all(torch.equal(a, b) for a, b in zip(weights(model), weights(resumed), strict=True)), \
                        f"{hyperparameters}: the resumed run differs from the uninterrupted one"
        if world.is_main:  # the checkpoint holds every rank's own state
            state = checkpoint.load(path, name)
            assert state["world_size"] == world.size and len(state["ranks"]) == world.size
            if hyperparameters.get("recurrent"):
                assert state["ranks"][1]["recurrent_state"] is not None
                assert not torch.equal(state["ranks"][0]["recurrent_state"], state["ranks"][1]["recurrent_state"])


def solve(out: Path) -> None:
    with thrust.PPO("CartPole-v1", seed=7) as model:
        model.learn(callback=check_every_update)
        if distributed.world().is_main:
            result = thrust.evaluate(model, num_episodes=20, seed=10_007)
            (out / "solve.txt").write_text(f"{result['mean_return']}\n{model.global_step}\n")


def gradients(out: Path) -> None:
    """Each rank's gradient of its own data, averaged, is the gradient of the mean over all ranks' data."""
    world = distributed.init()
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 2)
    data = torch.randn(world.size, 8, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float32)
    loss = layer(data[world.rank]).square().mean()
    loss.backward()
    mean_loss = distributed.average_gradients(list(layer.parameters()), loss)
    averaged = [p.grad.clone() for p in layer.parameters()]
    layer.zero_grad()
    pooled = layer(data.flatten(0, 1)).square().mean()
    pooled.backward()
    for got, want in zip(averaged, (p.grad for p in layer.parameters()), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(mean_loss, pooled.detach(), rtol=1e-6, atol=1e-7)
    (out / f"gradients-{world.rank}.txt").write_text("ok\n")


def leave(out: Path) -> None:
    """Rank 1 fails (leaves without waiting); rank 0 finishes a second later and waits for the others."""
    world = distributed.init()
    distributed.broadcast_tensors([torch.zeros(3)])
    if world.rank == 1:
        distributed.shutdown(finished=False)
        sys.exit(3)
    time.sleep(1.0)
    started = time.monotonic()
    distributed.shutdown()
    (out / "left.txt").write_text(f"{time.monotonic() - started}\n")


if __name__ == "__main__":
    torch.set_num_threads(1)
    {"variants": variants, "solve": solve, "leave": leave}[sys.argv[1]](Path(sys.argv[2]))
    distributed.shutdown()
