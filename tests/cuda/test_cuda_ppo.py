"""PPO on native envs on the GPU (backend "cuda"): the same run as on the CPU envs, and no host reads per step.

Under the simulator the GPU envs' tensors live on the CPU and the learner runs on the CPU device, so the
GPU envs' path through the collector is what differs from the CPU run: actions as tensors, every row's final
observation valued in one forward, episode statistics gathered on the device. The first rollout is the
CPU run's exactly; the values of time-limited final observations come from a forward over more rows, which
may round differently in the last bit, so later iterations agree to within float32 rounding.
"""

import numpy as np
import pytest
import torch
from cuda_target import SIMULATED, requires_cuda_target

import thrust
from thrust.envs.native_cuda import NativeCudaVecEnv

pytestmark = requires_cuda_target
DEVICE = "cpu" if SIMULATED else "cuda"
CASES = {
    "CartPole, time limit 14": ("CartPole-v1", {"env_kwargs": {"max_episode_steps": 14}}),
    "Pendulum (Box actions, its preset's reward scaling)": ("Pendulum-v1", {"env_kwargs": {"max_episode_steps": 12}}),
    "CartPole, LSTM": ("CartPole-v1", {"env_kwargs": {"max_episode_steps": 12}, "recurrent": "lstm"}),
}


def model(env_id: str, backend: str, **kwargs) -> thrust.PPO:
    return thrust.PPO(env_id, seed=3, backend=backend, device=DEVICE, num_envs=8, num_steps=16,
                      total_timesteps=8 * 16 * 3, num_threads=1, **kwargs)


@pytest.mark.parametrize("case", CASES)
def test_ppo_on_gpu_envs_follows_the_cpu_envs_run(case):
    env_id, kwargs = CASES[case]
    runs = []
    for backend in ("native", "cuda"):
        agent, metrics, rollouts = model(env_id, backend, **kwargs), [], []

        def record(agent, iteration_metrics, metrics=metrics, rollouts=rollouts):
            metrics.append(iteration_metrics)
            storage = agent.storage
            rollouts.append({name: getattr(storage, name).clone() for name in
                             ("obs", "actions", "logprobs", "values", "rewards", "terminations", "truncations")})
            used = storage.truncations & ~storage.terminations
            rollouts[-1]["final_values"] = storage.final_values[used].clone()

        agent.learn(callback=record)
        runs.append((agent, metrics, rollouts))
    (cpu, cpu_metrics, cpu_rollouts), (gpu, gpu_metrics, gpu_rollouts) = runs
    assert isinstance(gpu.envs, NativeCudaVecEnv) and not isinstance(cpu.envs, NativeCudaVecEnv)
    first = cpu_rollouts[0]
    assert first["truncations"].any() and (first["terminations"].any() or env_id != "CartPole-v1")
    for name, expected in cpu_rollouts[0].items():
        if name == "final_values":
            torch.testing.assert_close(gpu_rollouts[0][name].cpu(), expected.cpu(), rtol=1e-6, atol=1e-6)
        else:
            assert torch.equal(gpu_rollouts[0][name].cpu(), expected.cpu()), name
    for expected, got in zip(cpu_metrics, gpu_metrics, strict=True):
        for key in ("losses/value_loss", "losses/policy_loss", "losses/entropy", "charts/episodic_return"):
            if key in expected:
                assert got[key] == pytest.approx(expected[key], rel=1e-4, abs=1e-6), key
    for name, parameter in cpu.policy.state_dict().items():
        torch.testing.assert_close(gpu.policy.state_dict()[name].cpu(), parameter.cpu(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("backend", ["cuda", "native"])
def test_the_step_loop_reads_nothing_back_from_the_device(monkeypatch, backend):
    """Host reads of tensors (`.item()`, `.tolist()`, `.cpu()`, `.numpy()`, `bool()`, `int()`, `float()`,
    numpy conversion) in a rollout on GPU envs do not grow with its length: the collector reads once per
    rollout. On CPU envs (the negative control) the actions go to numpy at every step."""
    agent = model("CartPole-v1", backend, env_kwargs={"max_episode_steps": 5})
    agent.collector.reset(agent.envs, seed=0)
    counts = {"reads": 0}
    for method in ("item", "tolist", "cpu", "numpy", "__bool__", "__int__", "__float__", "__array__"):
        original = getattr(torch.Tensor, method)

        def counted(self, *args, original=original, **kwargs):
            counts["reads"] += 1
            return original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, method, counted)
    reads = []
    for num_steps in (4, 12):
        agent.collector.storage.num_steps = num_steps  # a shorter rollout in the same storage
        counts["reads"] = 0
        statistics = agent.collector.collect(agent.envs)
        reads.append(counts["reads"])
    monkeypatch.undo()
    if backend == "native":
        assert reads[1] >= reads[0] + 8, reads
        return
    assert reads[0] == reads[1] and reads[1] <= 4, reads
    assert statistics.episode_lengths and set(statistics.episode_lengths) <= {1, 2, 3, 4, 5}


@pytest.mark.skipif(SIMULATED, reason="CUDA synchronizations: a GPU")
def test_no_cuda_synchronization_per_step():
    agent = model("CartPole-v1", "cuda", env_kwargs={"max_episode_steps": 5})
    agent.collector.reset(agent.envs, seed=0)
    agent.collector.collect(agent.envs)  # compiles the kernels
    counts = []
    for num_steps in (4, 12):
        agent.collector.storage.num_steps = num_steps
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with pytest.warns(UserWarning) as warnings:  # the rollout's one read warns too
                agent.collector.collect(agent.envs)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        counts.append(sum("synchroniz" in str(warning.message) for warning in warnings))
    assert counts[0] == counts[1], counts


def test_the_reward_scaler_computes_alike_on_tensors_and_numpy():
    scalers = [thrust.normalize.RewardScaler(3, 0.99), thrust.normalize.RewardScaler(3, 0.99)]
    rng = np.random.default_rng(0)
    for _ in range(20):
        rewards, dones = rng.normal(size=3).astype(np.float32), rng.random(3) < 0.2
        expected = scalers[0](rewards, dones)
        got = scalers[1](torch.from_numpy(rewards).to(DEVICE), torch.from_numpy(dones).to(DEVICE))
        np.testing.assert_array_equal(got.cpu().numpy(), expected)


def test_save_load_continues_exactly_and_evaluation_runs_on_host_envs(tmp_path):
    kwargs = {"env_kwargs": {"max_episode_steps": 14}}
    uninterrupted = model("CartPole-v1", "cuda", **kwargs).learn()
    interrupted = model("CartPole-v1", "cuda", **kwargs).learn(callback=lambda agent, _: agent.iteration < 2)
    interrupted.save(tmp_path / "model.pt")
    resumed = thrust.PPO.load(tmp_path / "model.pt")
    assert isinstance(resumed.envs, NativeCudaVecEnv)
    resumed.learn()
    for name, parameter in uninterrupted.policy.state_dict().items():
        assert torch.equal(resumed.policy.state_dict()[name], parameter), name
    result = thrust.evaluate(resumed, num_episodes=4)  # on CPU envs: predict takes numpy
    assert len(result["episodes"]) == 4 and all(length <= 14 for _, length in result["episodes"])
