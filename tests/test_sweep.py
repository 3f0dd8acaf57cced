"""The sweep runner on submitit: real jobs through the local executor (separate processes, no
mocks), skipping completed runs, resuming a killed job to the numbers of an uninterrupted one,
and the SLURM submission script checked with ``--dry-run`` (no cluster, no network)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tt_rnn.config import TrainConfig
from tt_rnn.runfiles import read_results
from tt_rnn.sweep import plan, plan_configs, run_local, slurm_parameters, slurm_script


def tiny(tmp_path, data_dir, tag, **kw) -> TrainConfig:
    base = dict(dataset="mnist", model="cp", rank=4, m=8, features="linear", epochs=2, batch_size=64, lr=3e-3,
                train_subset=300, test_subset=100, val_size=100, seed=0, device="cpu", num_threads=1,
                progress=False, data_dir=str(data_dir), download=False,
                results_path=str(tmp_path / "out" / f"{tag}.json"), checkpoint_dir=str(tmp_path / "ckpt" / tag))
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # submitit's job folders and any relative path stay in tmp_path
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return tmp_path


def test_local_sweep_runs_two_jobs_then_skips_them(in_tmp, fake_data_dir):
    configs = {"tiny/cp": tiny(in_tmp, fake_data_dir, "cp"),
               "tiny/tt-shared": tiny(in_tmp, fake_data_dir, "tt-shared", model="tt-shared")}
    lines = []
    report = run_local(plan_configs(configs), max_parallel=2, log_dir=in_tmp / "logs", out=lines.append)
    assert sorted(report["done"]) == ["tiny/cp", "tiny/tt-shared"] and report["failed"] == []
    assert sum(line.startswith("done    tiny/") for line in lines) == 2
    assert lines[-1] == "sweep: 2 done, 0 skipped, 0 failed"
    for tag in ("cp", "tt-shared"):
        saved = read_results(in_tmp / "out" / f"{tag}.json")
        assert saved["status"] == "completed" and saved["command"].startswith("python -m tt_rnn.sweep tiny/")
        assert saved["provenance"]["data_sha256"]
    again = plan_configs(configs)
    assert [r.action for r in again] == ["skip", "skip"]
    lines.clear()
    report = run_local(again, max_parallel=2, log_dir=in_tmp / "logs", out=lines.append)
    assert report["skipped"] == ["tiny/cp", "tiny/tt-shared"] and lines[-1] == "sweep: 0 done, 2 skipped, 0 failed"


def test_a_failing_job_is_reported_in_one_line(in_tmp, fake_data_dir):
    bad = tiny(in_tmp, fake_data_dir, "bad", val_size=10_000)  # larger than the training set
    lines = []
    report = run_local(plan_configs({"tiny/bad": bad}), log_dir=in_tmp / "logs", out=lines.append)
    assert report["failed"][0][0] == "tiny/bad" and "val_size = 10000" in report["failed"][0][1]
    assert lines[-1].startswith("sweep: 0 done, 0 skipped, 1 failed\n  failed tiny/bad: ")


def test_a_killed_job_resumes_to_the_numbers_of_an_uninterrupted_run(in_tmp, fake_data_dir):
    kw = dict(model="tt", rank=8, m=16, features="mlp", hidden=64, epochs=4, train_subset=600, dropout=0.1,
              augment="shift", schedule="onecycle")
    reference = {"tiny/ref": tiny(in_tmp, fake_data_dir, "ref", **kw)}
    victim = {"tiny/victim": tiny(in_tmp, fake_data_dir, "victim", **kw)}
    assert run_local(plan_configs(reference), log_dir=in_tmp / "logs", out=lambda line: None)["failed"] == []

    report = {}
    worker = threading.Thread(target=lambda: report.update(
        run_local(plan_configs(victim), log_dir=in_tmp / "logs", out=lambda line: None)))
    worker.start()
    results, lock = in_tmp / "out" / "victim.json", in_tmp / "out" / "victim.json.lock"
    deadline = time.time() + 240
    while time.time() < deadline and not (results.is_file() and read_results(results)["history"]):
        time.sleep(0.02)
    pid = json.loads(lock.read_text())["pid"]
    os.kill(pid, signal.SIGKILL)  # no chance to clean up: the lock and status "running" stay behind
    worker.join(timeout=240)
    killed = read_results(results)
    assert report["failed"] and killed["status"] == "running" and 1 <= len(killed["history"]) < 4
    assert lock.is_file()

    resumed = run_local(plan_configs(victim), log_dir=in_tmp / "logs", out=lambda line: None)
    assert resumed["done"] == ["tiny/victim"]
    final, ref = read_results(results), read_results(in_tmp / "out" / "ref.json")
    assert final["status"] == "completed" and final["resumed_from"]["epoch"] == len(killed["history"])
    for a, b in zip(ref["history"], final["history"], strict=True):
        assert (a["train_loss"], a["val_acc"], a["test_acc"]) == (b["train_loss"], b["val_acc"], b["test_acc"])


def test_slurm_dry_run_prints_the_submission_script(tmp_path):
    config = tmp_path / "slurm.toml"
    config.write_text('partition = "gpu"\ntime = 720\ngpus_per_node = 1\nmem = "16G"\n')
    proc = subprocess.run([sys.executable, "-m", "tt_rnn.sweep", "mnist/val_best/tt-shared_r32", "--seeds", "7", "8",
                           "--executor", "slurm", "--slurm-config", str(config), "--cpus-per-task", "4",
                           "--max-parallel", "2", "--dry-run", "--log-dir", "logs"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "run   mnist/val_best/tt-shared_r32@seed7 -> runs/mnist/val_best/tt-shared_r32_seed7.json" in out
    for line in ("#SBATCH --array=0-1%2", "#SBATCH --partition=gpu", "#SBATCH --time=720",
                 "#SBATCH --gpus-per-node=1", "#SBATCH --cpus-per-task=4", "#SBATCH --mem=16G",
                 "#SBATCH --signal=USR2@120", "-m submitit.core._submit logs"):
        assert line in out, line
    assert not (tmp_path / "runs").exists() and not (tmp_path / "logs").exists()  # a dry run writes nothing


def test_sweep_plan_skips_completed_named_runs_and_refuses_bad_input():
    runs = plan("mnist/val_best/cp_r32")
    assert [(r.name, r.action) for r in runs] == [("mnist/val_best/cp_r32", "skip")]
    with pytest.raises(ValueError, match="no named experiment matches 'nope/'"):
        plan("nope/")
    with pytest.raises(ValueError, match="lr would change what they compute"):
        plan("mnist/val_best/cp_r32", overrides={"lr": 1.0})
    with pytest.raises(ValueError, match="unknown SLURM option.*walltime"):
        slurm_parameters({"walltime": 5}, 1)
    assert "#SBATCH --array=0-2%3" in slurm_script(3, slurm_parameters({}, 8), "logs")


def test_sweep_command_line_errors_are_one_line(tmp_path):
    for argv, text in ((["nope/"], "no named experiment matches"),
                       (["mnist/sweep/", "--executor", "pbs"], "invalid choice: 'pbs'")):
        proc = subprocess.run([sys.executable, "-m", "tt_rnn.sweep", *argv], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and text in proc.stderr, proc.stderr


def test_a_preempted_job_is_requeued_and_resumes_from_its_checkpoint(in_tmp, fake_data_dir):
    """submitit's preemption signal (USR2) reaches the job: the run records status ``interrupted``,
    submitit requeues the same job, and it resumes from the last epoch's checkpoint."""
    import submitit

    from tt_rnn.sweep import TrainJob

    config = tiny(in_tmp, fake_data_dir, "preempted", model="tt", rank=8, m=16, features="mlp", hidden=64,
                  epochs=4, train_subset=600)
    executor = submitit.LocalExecutor(folder=str(in_tmp / "logs"))
    executor.update_parameters(timeout_min=60, signal_delay_s=5)
    job = executor.submit(TrainJob("tiny/preempted", config))
    results = in_tmp / "out" / "preempted.json"
    deadline = time.time() + 240
    while time.time() < deadline and not (results.is_file() and read_results(results)["history"]):
        time.sleep(0.02)
    # what SLURM sends before a time limit or preemption, to the training process itself
    os.kill(json.loads((in_tmp / "out" / "preempted.json.lock").read_text())["pid"], signal.SIGUSR2)
    summary = job.result()
    final = read_results(results)
    assert summary["status"] == "completed" and final["status"] == "completed"
    assert final["resumed_from"] is not None and final["resumed_from"]["epoch"] >= 1
    assert [h["epoch"] for h in final["history"]] == [1, 2, 3, 4]
