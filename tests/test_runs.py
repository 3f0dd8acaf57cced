"""Runs that cannot corrupt the results: resume checks, results/ only for named experiments,
Ctrl-C, corrupt files, atomic writes, safe checkpoint loading, provenance, locks.

Each test fails without the fix it names (the reproductions of the bugs are in the docstrings).
"""

from __future__ import annotations

import dataclasses
import hashlib
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

from tt_rnn import experiments
from tt_rnn.config import (RESUMABLE_CHANGES, RUN_ONLY_FIELDS, TrainConfig, checkpoint_path, resume_conflicts,
                           results_path)
from tt_rnn.data import DataError, load_mnist
from tt_rnn.data import main as data_main
from tt_rnn.fixtures import make_fake_data_dir
from tt_rnn.runfiles import (ResultsFileError, RunLock, RunLockedError, atomic_write, load_runs, read_results,
                             write_json)
from tt_rnn.train import CheckpointMismatchError, RunInterrupted, load_checkpoint, train

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def mnist(fake_data_dir):
    return load_mnist(fake_data_dir, download=False)


def small(folder, **kw) -> TrainConfig:
    base = dict(dataset="mnist", model="tt-shared", rank=4, m=8, features="linear", epochs=2, batch_size=64,
                lr=3e-3, train_subset=400, test_subset=100, seed=0, device="cpu", num_threads=1, progress=False,
                checkpoint_dir=str(Path(folder) / "ckpt"), results_path=str(Path(folder) / "results.json"))
    base.update(kw)
    return TrainConfig(**base)


def _cli(*argv, cwd, env=None, timeout=300):
    """``python -m tt_rnn.train ARGV`` in a real process (one thread)."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", "TT_RNN_OFFLINE": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "tt_rnn.train", *argv], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


# ----------------------------------------------------------------------------- bug 1: resume

def test_resume_refuses_a_checkpoint_of_another_configuration(mnist, tmp_path):
    """Bug 1: ``--resume`` continued silently from a checkpoint written by another configuration."""
    train(small(tmp_path, epochs=1, lr=1e-2), data=mnist)
    with pytest.raises(CheckpointMismatchError, match=r"lr = 0\.01 there, 0\.003 now") as info:
        train(small(tmp_path, epochs=1, resume=True), data=mnist)
    assert "ckpt/last.pt" in str(info.value) and "--out DIR" in str(info.value)
    # the results file of the first run is untouched by the refused one
    assert read_results(tmp_path / "results.json")["config"]["lr"] == 1e-2


def test_resume_may_extend_the_number_of_epochs(mnist, tmp_path):
    train(small(tmp_path, epochs=1), data=mnist)
    done, _ = train(small(tmp_path, epochs=2, resume=True), data=mnist)
    assert done["resumed_from"]["epoch"] == 1 and [h["epoch"] for h in done["history"]] == [1, 2]


def test_resumable_changes_are_run_only_fields_and_epochs():
    stored = dataclasses.asdict(TrainConfig())
    assert resume_conflicts(stored, TrainConfig(epochs=99, device="cuda", num_threads=3)) == {}
    assert set(resume_conflicts(stored, TrainConfig(rank=5, seed=1))) == {"rank", "seed"}
    assert RESUMABLE_CHANGES == RUN_ONLY_FIELDS | {"epochs"}


def test_cli_resume_mismatch_is_one_line_with_exit_2(fake_data_dir, tmp_path):
    common = ["--dataset", "mnist", "--model", "cp", "--rank", "2", "--m", "4", "--epochs", "1",
              "--train-subset", "200", "--test-subset", "50", "--no-progress", "--device", "cpu",
              "--data-dir", str(fake_data_dir), "--out", str(tmp_path / "run")]
    assert _cli(*common, cwd=tmp_path).returncode == 0
    proc = _cli(*common, "--lr", "0.5", "--resume", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: checkpoint ")
    assert "lr = 0.001 there, 0.5 now" in proc.stderr


# ----------------------------------------------------------------------------- bug 2: results/

def test_overriding_a_named_configuration_never_writes_into_results(fake_data_dir, tmp_path):
    """Bug 2: ``--config NAME`` with overriding flags overwrote results/NAME.json."""
    name = "mnist/val_sweep/tt-shared_r4"
    argv = ["--config", name, "--epochs", "1", "--train-subset", "300", "--test-subset", "100", "--val-size", "100",
            "--data-dir", str(fake_data_dir), "--no-download", "--no-progress"]
    proc = _cli(*argv, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith(f"ad-hoc variant of {name} (") and "results runs/mnist/val_sweep/tt-shared_r4-" in first
    assert not (tmp_path / "results").exists() and not (tmp_path / "checkpoints").exists()
    written = json.loads(proc.stdout.splitlines()[-1])["results"]
    assert written.startswith("runs/") and (tmp_path / written).is_file()
    # the same overrides again with --resume find the same ad-hoc folder
    again = _cli(*argv, "--resume", cwd=tmp_path)
    assert again.returncode == 0 and json.loads(again.stdout.splitlines()[-1])["results"] == written


def test_a_named_experiment_writes_its_own_results_file(mnist, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative results/ and checkpoints/ paths land in tmp_path
    name = "mnist/sweep/cp_r1"
    config = experiments.get(name)
    with pytest.raises(ValueError, match=r"differs from the named experiment mnist/sweep/cp_r1 \(epochs = 1"):
        train(config.replace(epochs=1), data=mnist)
    with pytest.raises(ValueError, match="no experiment is named 'mine'"):
        train(small(tmp_path, results_path="results/mine.json"), data=mnist)
    assert not (tmp_path / "results").exists()
    done, _ = train(config, data=mnist)  # 600 synthetic images: the whole named configuration is quick
    assert done["status"] == "completed" and (tmp_path / f"results/{name}.json").is_file()


def test_adhoc_runs_default_to_the_ignored_runs_folder():
    config = TrainConfig(dataset="mnist", model="cp", rank=3)
    assert results_path(config).parts[0] == "runs" and checkpoint_path(config).parts[0] == "runs"
    ignored = subprocess.run(["git", "check-ignore", "-q", "runs/x.json"], cwd=REPO).returncode
    assert ignored == 0


# ----------------------------------------------------------------------------- bug 3: Ctrl-C

def test_interrupt_records_status_and_the_resume_command(mnist, tmp_path):
    def ctrl_c(epoch, model, record):
        raise KeyboardInterrupt

    config = small(tmp_path, epochs=3)
    with pytest.raises(RunInterrupted) as info:
        train(config, data=mnist, on_epoch_end=ctrl_c, command="python -m tt_rnn.train --out here")
    msg = str(info.value)
    assert "checkpoint (epoch 1) is kept" in msg and msg.endswith("Resume with: python -m tt_rnn.train --out here --resume")
    saved = read_results(tmp_path / "results.json")
    assert saved["status"] == "interrupted" and saved["error"] == msg
    assert not (tmp_path / "results.json.lock").exists()
    done, _ = train(config.replace(resume=True), data=mnist)
    assert done["status"] == "completed" and done["resumed_from"]["epoch"] == 1


def test_ctrl_c_on_the_command_line_is_one_line(fake_data_dir, tmp_path):
    argv = ["--dataset", "mnist", "--model", "tt", "--rank", "8", "--m", "16", "--features", "mlp", "--hidden", "64",
            "--epochs", "200", "--train-subset", "600", "--test-subset", "100", "--no-progress",
            "--device", "cpu", "--data-dir", str(fake_data_dir), "--out", str(tmp_path / "run")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TT_RNN_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "tt_rnn.train", *argv], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = tmp_path / "run" / "results.json"
    deadline = time.time() + 120
    while time.time() < deadline and not (results.is_file() and read_results(results)["history"]):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.strip().endswith("--resume") and "Resume with: python -m tt_rnn.train --dataset mnist" in err
    assert read_results(results)["status"] == "interrupted"
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] >= 1


# ----------------------------------------------------------------------------- bug 4: corrupt inputs

def test_corrupt_results_file_is_named_not_skipped(tmp_path):
    good = {"config": {}, "history": []}
    write_json(good, tmp_path / "a.json")
    (tmp_path / "b.json").write_text('{"config": {"model": "cp"}, "hist')  # a truncated file
    with pytest.raises(ResultsFileError, match=r"b\.json is not a readable results file .*git checkout"):
        load_runs(tmp_path)
    write_json({"rows": []}, tmp_path / "b.json")  # JSON of another kind is passed over
    assert [Path(r["_path"]).name for r in load_runs(tmp_path)] == ["a.json"]


def test_tables_fail_loudly_on_a_corrupt_results_file(tmp_path):
    (tmp_path / "results" / "mnist").mkdir(parents=True)
    (tmp_path / "results" / "mnist" / "x.json").write_text("{")
    proc = subprocess.run([sys.executable, "-m", "tt_rnn.tables", "--results-root", "results"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error: results/mnist/x.json is not a readable")
    assert proc.stderr.count("\n") == 1


def test_corrupt_checkpoint_is_one_line_naming_the_file(mnist, tmp_path, fake_data_dir):
    train(small(tmp_path, epochs=1), data=mnist)
    ckpt = tmp_path / "ckpt" / "last.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])  # truncated
    with pytest.raises(ResultsFileError, match=r"ckpt/last\.pt cannot be read .*delete it to start the run over"):
        train(small(tmp_path, epochs=2, resume=True), data=mnist)
    argv = ["--dataset", "mnist", "--model", "tt-shared", "--rank", "4", "--m", "8", "--epochs", "2",
            "--train-subset", "400", "--test-subset", "100", "--lr", "0.003", "--batch-size", "64",
            "--no-progress", "--device", "cpu", "--data-dir", str(fake_data_dir), "--resume",
            "--checkpoint-dir", str(tmp_path / "ckpt"), "--results-path", str(tmp_path / "results.json")]
    proc = _cli(*argv, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "last.pt cannot be read" in proc.stderr


def test_corrupt_witness_is_one_line(tmp_path):
    decomposition = sorted((REPO / "results" / "rank" / "decompositions").glob("*.npz"))[0]
    bad = tmp_path / "bad.npz"
    bad.write_bytes(decomposition.read_bytes()[:300])
    proc = subprocess.run([sys.executable, "-m", "tt_rnn.rank", "verify", str(bad)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert "cannot read decomposition" in proc.stderr and "bad.npz" in proc.stderr


def test_failed_download_leaves_no_empty_folders(tmp_path, monkeypatch):
    import torchvision
    monkeypatch.delenv("TT_RNN_OFFLINE", raising=False)

    def refuse(*args, **kwargs):  # like torchvision offline: it makes its folders, then fails
        (tmp_path / "data" / "MNIST" / "raw").mkdir(parents=True, exist_ok=True)
        raise OSError("network unreachable")

    monkeypatch.setattr(torchvision.datasets, "MNIST", refuse)
    with pytest.raises(DataError, match="MNIST download into"):
        load_mnist(tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_data_check_reports_every_data_set(tmp_path, capsys, fake_data_dir):
    assert data_main(["check", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert [line.split(":")[1].strip() for line in err] == ["mnist", "cifar10"]
    # the first load of the JPEG archive says what it is doing
    root = make_fake_data_dir(tmp_path / "fresh", mnist=True, cifar10="tar")
    assert data_main(["check", "--data-dir", str(root)]) == 0
    captured = capsys.readouterr()
    assert "decoding cifar10-jpeg.tar.gz once" in captured.err and captured.out.count("\n") == 2


# ----------------------------------------------------------------------------- bug 5: atomic writes

def test_a_write_that_dies_midway_leaves_the_old_file(tmp_path):
    path = tmp_path / "results.json"
    write_json({"config": {}, "history": [1]}, path)

    def dies(fh):
        fh.write(b'{"config": {}, "hist')
        raise KeyboardInterrupt  # killed in the middle of writing

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, dies)
    assert read_results(path)["history"] == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary file left
    plain = tmp_path / "plain"
    plain.write_text("x")
    assert path.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777  # not private, as open() would make it


def test_checkpoint_and_results_are_written_atomically(mnist, tmp_path, monkeypatch):
    train(small(tmp_path, epochs=1), data=mnist)
    before = (tmp_path / "ckpt" / "last.pt").read_bytes()
    real_save = torch.save

    def half_then_die(obj, fh, *args, **kwargs):
        fh.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", half_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(small(tmp_path, epochs=2, resume=True), data=mnist)
    monkeypatch.setattr(torch, "save", real_save)
    assert (tmp_path / "ckpt" / "last.pt").read_bytes() == before
    assert load_checkpoint(tmp_path / "ckpt" / "last.pt")["epoch"] == 1


# ----------------------------------------------------------------------------- bug 6: weights_only

class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_checkpoints_load_with_weights_only_and_refuse_code(mnist, tmp_path, monkeypatch):
    train(small(tmp_path, epochs=1), data=mnist)
    ckpt = torch.load(tmp_path / "ckpt" / "last.pt", weights_only=True)  # plain data only
    assert ckpt["config"]["rank"] == 4 and isinstance(ckpt["history"], list)
    evil = tmp_path / "evil.pt"
    torch.save({"model": _Exploit()}, evil)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ResultsFileError, match="evil.pt cannot be read"):
        load_checkpoint(evil)
    assert not (tmp_path / "pwned").exists()


def test_training_code_never_loads_with_weights_only_false():
    offenders = [str(p.relative_to(REPO)) for p in (REPO / "tt_rnn").rglob("*.py")
                 if "weights_only=False" in p.read_text()]
    assert offenders == []


# ----------------------------------------------------------------------------- provenance and locks

def test_results_record_commit_machine_and_data_checksums(mnist, tmp_path):
    results, _ = train(small(tmp_path, epochs=1), data=mnist)
    prov = results["provenance"]
    assert prov["code"]["commit"] is None or len(prov["code"]["commit"]) == 40
    assert prov["code"]["dirty"] in (True, False, None)
    assert prov["machine"] and prov["machine"] != "CPU (x86_64, 1 threads)"
    expected = {name: hashlib.sha256(Path(f).read_bytes()).hexdigest() for name, f in
                zip(sorted(prov["data_sha256"]), sorted(map(str, mnist.files)))}
    assert prov["data_sha256"] == expected and len(expected) == 4


def test_two_writers_never_share_a_results_file(tmp_path):
    path = tmp_path / "results.json"
    with RunLock(path):
        with pytest.raises(RunLockedError, match=r"results\.json is being written by pid \d+"):
            RunLock(path).acquire()
    # a lock left by a process that died on this host is taken over
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / "results.json.lock").write_text(json.dumps({"host": socket.gethostname(),
                                                             "pid": int(dead.stdout), "since": "x"}))
    with RunLock(path) as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    assert not lock.path.exists()
