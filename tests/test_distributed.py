"""Data-parallel training (thrust.distributed): 2 ranks on localhost over gloo, as torchrun starts them.

The ranks are started either by torchrun itself (the CLI: train, Ctrl-C, resume) or as plain processes
with torchrun's environment variables (the Python API checks and the faults, where no launcher may
clean up for the ranks).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from thrust import checkpoint, distributed
from thrust.cli import main
from thrust.normalize import RunningMeanStd

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "distributed_worker.py"
TORCHRUN = Path(sys.executable).with_name("torchrun")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rank_env(rank: int, world_size: int, port: int, **extra: str) -> dict[str, str]:
    return {**os.environ, "RANK": str(rank), "WORLD_SIZE": str(world_size), "LOCAL_RANK": str(rank),
            "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
            "PYTHONFAULTHANDLER": "1", **extra}  # a rank that aborts prints every thread's Python stack


def start_ranks(args: list[str], world_size: int = 2, **extra: str) -> list[subprocess.Popen]:
    port = free_port()
    return [subprocess.Popen([sys.executable, *args], cwd=ROOT, env=rank_env(rank, world_size, port, **extra),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for rank in range(world_size)]


def finish(processes: list[subprocess.Popen], timeout: float) -> list[tuple[int, str, str]]:
    results = []
    for process in processes:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for p in processes:
                p.kill()
            raise
        results.append((process.returncode, out, err))
    return results


def torchrun(args: list[str], **kwargs) -> subprocess.Popen:
    command = [str(TORCHRUN), "--nproc-per-node", "2", "--master-port", str(free_port()), "-m", "thrust", *args]
    return subprocess.Popen(command, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kwargs)


def wait_for_progress(run_dir: Path, rows: int, processes: list[subprocess.Popen], timeout: float = 120) -> None:
    """Until rank 0 has logged `rows` iterations."""
    deadline = time.monotonic() + timeout
    csv = run_dir / "progress.csv"
    while not (csv.is_file() and len(csv.read_text().splitlines()) > rows):
        assert all(p.poll() is None for p in processes), "a rank ended before training got going"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.2)


# -- without processes -----------------------------------------------------------------------------


def test_merged_statistics_are_those_of_all_ranks_samples():
    """SharedStatistics' merge (each rank's samples recovered from its statistics, folded in rank order)
    against one RunningMeanStd fed every rank's batches."""
    generator = torch.Generator().manual_seed(0)
    batches = [torch.randn(5, 3, generator=generator, dtype=torch.float64) * 4 + 2 for _ in range(5)]
    base = RunningMeanStd((3,))
    base.update(batches[0])
    ranks = []
    for own in (batches[1:3], batches[3:]):
        stats = RunningMeanStd((3,))
        stats.load_state_dict(base.state_dict())
        for batch in own:
            stats.update(batch)
        ranks.append(stats)
    synced = distributed._moments(base)
    merged = synced
    for stats in ranks:
        merged = distributed.combine(merged, distributed.increment(synced, distributed._moments(stats)))
    reference = RunningMeanStd((3,))
    for batch in batches:
        reference.update(batch)
    torch.testing.assert_close(merged[0], reference.count, rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(merged[1], reference.mean, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(merged[2], reference.var, rtol=1e-10, atol=1e-12)
    # a rank that saw nothing adds nothing
    same = distributed.combine(merged, distributed.increment(merged, merged))
    assert all(torch.equal(a, b) for a, b in zip(same, merged, strict=True))


def test_bad_world_and_timeout_settings_are_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(distributed.DistributedError, match=r"RANK=2 must be in \[0, WORLD_SIZE=2\)"):
        distributed.world()
    monkeypatch.setenv(distributed.TIMEOUT_VARIABLE, "soon")
    with pytest.raises(distributed.DistributedError, match="THRUST_DISTRIBUTED_TIMEOUT must be a positive"):
        distributed.timeout()


def test_pbt_and_sweeps_refuse_to_run_as_ranks(monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    for command in (["pbt", "ppo"], ["pbt", "--resume", "runs/x"], ["sweep", "ppo"]):
        assert main(command) == 2
        assert "runs in one process, not under torchrun" in capsys.readouterr().err


# -- two ranks, Python API -------------------------------------------------------------------------


def test_every_algorithm_keeps_the_ranks_identical_after_every_update(tmp_path):
    """The averaged gradients are those of the pooled batch (a linear layer's, against autograd's). PPO with
    observation normalization, reward scaling and a target_kl early stop, recurrent PPO, PPO with RND, IMPALA
    and APPO:
    after every update the weights, Adam's moments and the statistics are bit-identical on both ranks while
    their rollouts differ; the checkpoint holds each rank's own state."""
    results = finish(start_ranks([str(WORKER), "variants", str(tmp_path)]), timeout=300)
    assert all(rc == 0 for rc, _, _ in results), [err[-3000:] for _, _, err in results]
    assert len(list(tmp_path.glob("*.pt"))) == 5
    assert sorted(p.name for p in tmp_path.glob("*.txt")) == ["gradients-0.txt", "gradients-1.txt"]


def test_two_ranks_solve_cartpole_with_the_preset(tmp_path):
    """The CartPole preset at 2 ranks (its budget per rank, every update checked for identical weights)."""
    results = finish(start_ranks([str(WORKER), "solve", str(tmp_path)]), timeout=600)
    assert all(rc == 0 for rc, _, _ in results), [err[-3000:] for _, _, err in results]
    mean_return, steps = (tmp_path / "solve.txt").read_text().split()
    assert int(steps) == 149_504  # per rank: the preset's iterations, each of 2 × 1024 env steps
    assert float(mean_return) >= 475.0, mean_return


# -- faults ------------------------------------------------------------------------------------------

LONG_RUN = ["-m", "thrust", "train", "ppo", "--env", "CartPole-v1", "--num-envs", "4", "--num-steps", "16",
            "--total-timesteps", "100000000", "--quiet", "--eval-episodes", "0", "--no-plot",
            "--checkpoint-every", "100000"]


def test_the_ranks_leave_together_and_a_failed_rank_leaves_at_once(tmp_path):
    """At the end, a finished rank waits for the others at a barrier; one that failed does not, and the
    barrier of the others then fails at once, as a warning naming it, not as an error."""
    (rc0, _, err0), (rc1, _, err1) = finish(start_ranks([str(WORKER), "leave", str(tmp_path)]), timeout=120)
    assert (rc0, rc1) == (0, 3), (err0[-3000:], err1[-3000:])
    assert "rank 0: another rank left the run before the end" in err0, err0[-3000:]
    assert float((tmp_path / "left.txt").read_text()) < 30  # not the collective timeout (300 s)


@pytest.mark.parametrize("fault", ["killed", "hung"])
def test_a_rank_that_dies_or_hangs_ends_the_others_naming_it(tmp_path, fault):
    timeout = 4.0
    processes = start_ranks([*LONG_RUN, "--run-dir", str(tmp_path / "run")],
                            THRUST_DISTRIBUTED_TIMEOUT=str(timeout))
    try:
        wait_for_progress(tmp_path / "run", 3, processes)
        processes[1].send_signal(signal.SIGKILL if fault == "killed" else signal.SIGSTOP)
        started = time.monotonic()
        _, err = processes[0].communicate(timeout=60)
        elapsed = time.monotonic() - started
    finally:
        for process in processes:
            process.kill()
            process.communicate()
    assert processes[0].returncode == 2
    assert "rank 1 stopped answering (died or hung)" in err, err[-2000:]
    assert elapsed < (timeout if fault == "hung" else 0) + 15, elapsed  # the timeout, then 3 s of heartbeat check


# -- two ranks under torchrun: the CLI ---------------------------------------------------------------

SMALL_RUN = ["train", "ppo", "--env", "CartPole-v1", "--num-envs", "4", "--num-steps", "16", "--total-timesteps",
             str(4 * 16 * 120), "--quiet", "--eval-episodes", "2", "--no-plot", "--checkpoint-every", "1000"]


def test_ctrl_c_on_torchrun_leaves_a_checkpoint_that_resumes_at_two_ranks_only(tmp_path, capsys):
    """(That a resumed run continues bit-identically is checked at the Python API, in the worker's variants.)"""
    run_dir = tmp_path / "run"
    stopped = torchrun([*SMALL_RUN, "--run-dir", str(run_dir)])
    wait_for_progress(run_dir, 3, [stopped])
    stopped.send_signal(signal.SIGINT)  # to the launcher alone: torchrun passes it on to the ranks
    output = stopped.communicate(timeout=120)[0]
    assert "stopping after this iteration and saving a checkpoint" in output, output[-3000:]
    assert f"resume: torchrun --nproc-per-node 2 -m thrust train --resume {run_dir}" in output, output[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert not summary["finished"] and summary["world_size"] == 2, summary
    saved = checkpoint.load(run_dir / "checkpoint.pt", "ppo")
    assert saved["global_step"] == summary["global_step"] > 0 and len(saved["ranks"]) == 2

    # at another world size: refused, with what to do, before anything in the folder changes
    before = {path.name: path.stat().st_mtime_ns for path in run_dir.iterdir()}
    assert main(["train", "--resume", str(run_dir)]) == 2
    error = capsys.readouterr().err
    assert "checkpointed by 2 rank(s)" in error and "--nproc-per-node 2" in error, error
    assert before == {path.name: path.stat().st_mtime_ns for path in run_dir.iterdir()}

    resumed = torchrun(["train", "--resume", str(run_dir)])
    output = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, output[-3000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["finished"] and summary["global_step"] == 4 * 16 * 120, summary
    assert summary["evaluation"]["mean_return"] > 0
