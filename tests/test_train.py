"""Training loop: a short real run beats chance, resume is exact, NaN stops cleanly, CLI."""

from __future__ import annotations

import json
import math

import pytest
import torch

from tt_rnn.data import DataError, load_mnist
from tt_rnn.train import NonFiniteLossError, TrainConfig, evaluate, main, train, validation_split


@pytest.fixture(scope="module")
def mnist(fake_data_dir):
    """The real MNIST when the data directory ($TT_RNN_DATA, as in CI) holds it, else synthetic
    images in the same IDX format (tests/conftest.py): no test needs data or network."""
    try:
        return load_mnist(download=False)
    except DataError:
        return load_mnist(fake_data_dir, download=False)


def small(tmp_path, **kw) -> TrainConfig:
    base = dict(dataset="mnist", model="tt-shared", rank=8, m=8, features="linear", epochs=2,
                batch_size=64, lr=3e-3, train_subset=2000, test_subset=500, seed=0, device="cpu",
                num_threads=1,
                progress=False, checkpoint_dir=str(tmp_path / "ckpt"),
                results_path=str(tmp_path / "results.json"))
    base.update(kw)
    return TrainConfig(**base)


def test_short_run_beats_chance(mnist, tmp_path):
    cfg = small(tmp_path, train_subset=4000, test_subset=1000, rank=16, m=16, epochs=3)
    res, model = train(cfg, data=mnist)
    assert res["status"] == "completed" and len(res["history"]) == 3
    assert res["history"][-1]["test_acc"] >= 0.5, res["history"]  # chance is 0.1
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["final_test_acc"] == res["history"][-1]["test_acc"]
    assert saved["n_test"] == min(1000, len(mnist.test_labels)) and saved["dataset_label"] == mnist.label
    assert saved["params"] > 0 and saved["device"] == "cpu" and "torch" in saved["versions"]
    assert saved["config"]["model"] == "tt-shared"
    # evaluate() agrees with the recorded test accuracy
    test = mnist.subset(n_test=min(1000, len(mnist.test_labels)), seed=cfg.seed)  # the same seeded test subset as the run
    ev = evaluate(model, test.test_images, test.test_labels, mean=mnist.mean, std=mnist.std)
    assert ev["acc"] == pytest.approx(res["history"][-1]["test_acc"])


@pytest.mark.parametrize("model", ["tt", "cp", "ht"])
def test_other_networks_train(mnist, tmp_path, model):
    # every network of the foundation runs through the same loop (accuracy: see MNIST/ notebooks)
    res, _ = train(small(tmp_path, model=model, epochs=1, train_subset=500, test_subset=200), data=mnist)
    rec = res["history"][-1]
    assert res["status"] == "completed" and math.isfinite(rec["train_loss"]) and 0 <= rec["test_acc"] <= 1


class Stop(Exception):
    pass


def test_resume_matches_uninterrupted(mnist, tmp_path):
    kw = dict(epochs=3, dropout=0.1, augment="shift", features="mlp", hidden=16, train_subset=800,
              test_subset=200, schedule="onecycle")
    full, full_model = train(small(tmp_path / "a", **kw), data=mnist)

    def stop_after_first(epoch, model, record):
        if epoch == 1:
            raise Stop

    with pytest.raises(Stop):
        train(small(tmp_path / "b", **kw), data=mnist, on_epoch_end=stop_after_first)
    resumed, resumed_model = train(small(tmp_path / "b", resume=True, **kw), data=mnist)
    assert resumed["resumed_from"]["epoch"] == 1
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3]
    for a, b in zip(full["history"], resumed["history"]):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6)
        assert a["test_acc"] == b["test_acc"]
    for (name, p), q in zip(full_model.state_dict().items(), resumed_model.state_dict().values()):
        assert torch.allclose(p.float(), q.float(), atol=1e-6), name


def test_nan_loss_stops_and_keeps_checkpoint(mnist, tmp_path):
    def poison(epoch, model, record):
        if epoch == 1:
            with torch.no_grad():
                model.network.last_core.fill_(float("nan"))

    cfg = small(tmp_path, epochs=3, train_subset=500, test_subset=100)
    with pytest.raises(NonFiniteLossError) as info:
        train(cfg, data=mnist, on_epoch_end=poison)
    msg = str(info.value)
    assert "epoch 2, step 1" in msg and "checkpoint (epoch 1)" in msg
    ckpt = torch.load(tmp_path / "ckpt" / "last.pt", weights_only=False)
    assert ckpt["epoch"] == 1 and torch.isfinite(ckpt["model"]["network.last_core"]).all()
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["status"] == "diverged" and "epoch 2, step 1" in saved["error"]
    assert len(saved["history"]) == 1
    # the kept checkpoint resumes and finishes
    done, _ = train(cfg.replace(resume=True), data=mnist)
    assert done["status"] == "completed" and len(done["history"]) == 3


def test_huge_learning_rate_diverges_cleanly(mnist, tmp_path):
    cfg = small(tmp_path, lr=1e30, epochs=1, train_subset=640, test_subset=100, schedule="constant")
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step \d+"):
        train(cfg, data=mnist)
    assert (tmp_path / "ckpt" / "last.pt").is_file()  # the initial (epoch 0) checkpoint
    assert json.loads((tmp_path / "results.json").read_text())["status"] == "diverged"


def test_cli_writes_results(mnist, tmp_path, capsys):
    out = tmp_path / "cli.json"
    rc = main(["--dataset", "mnist", "--model", "ht", "--rank", "4", "--m", "8", "--epochs", "1",
               "--train-subset", "500", "--test-subset", "100", "--no-progress", "--device", "cpu",
               "--data-dir", mnist.source.rsplit("/MNIST", 1)[0], "--no-download",
               "--results-path", str(out), "--checkpoint-dir", str(tmp_path / "ck")])
    assert rc == 0 and out.is_file()
    res = json.loads(out.read_text())
    assert res["config"]["model"] == "ht" and res["config"]["rank"] == 4 and len(res["history"]) == 1
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["results"] == str(out)


def test_cli_resumes_a_named_configuration(mnist, tmp_path, capsys, monkeypatch):
    # --config NAME with overrides: an ad-hoc run below runs/; a second call with --resume finds it completed
    monkeypatch.chdir(tmp_path)
    argv = ["--config", "mnist/sweep/tt-shared_r4", "--epochs", "1", "--train-subset", "300",
            "--test-subset", "100", "--data-dir", mnist.source.rsplit("/MNIST", 1)[0], "--no-download",
            "--no-progress"]
    assert main(argv) == 0
    written = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["results"]
    saved = json.loads((tmp_path / written).read_text())
    assert saved["status"] == "completed" and saved["config"]["hidden"] == 256 and saved["config"]["rank"] == 4
    assert saved["command"].startswith("python -m tt_rnn.train --config mnist/sweep/tt-shared_r4")
    assert main(argv + ["--resume"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["status"] == "completed"


def test_validation_split_is_fixed_disjoint_and_recorded(mnist, tmp_path):
    train_idx, val_idx = validation_split(100, 20, seed=3)
    again = validation_split(100, 20, seed=3)
    assert torch.equal(train_idx, again[0]) and torch.equal(val_idx, again[1])
    assert len(val_idx) == 20 and not set(train_idx.tolist()) & set(val_idx.tolist())
    assert sorted(train_idx.tolist() + val_idx.tolist()) == list(range(100))
    with pytest.raises(ValueError, match="val_size = 100"):
        validation_split(100, 100, seed=0)
    res, _ = train(small(tmp_path, epochs=1, val_size=100, train_subset=200, test_subset=100), data=mnist)
    rec = res["history"][-1]
    assert {"train_acc", "val_acc", "val_loss", "test_acc"} <= set(rec)
    assert res["split"]["n_val"] == 100 and res["split"]["n_train"] == 200
    assert res["split"]["val_size"] == 100 and len(res["split"]["val_indices_sha1"]) == 16


def test_bad_config_values_name_the_field(tmp_path):
    for field, value in [("rank", 0), ("model", "rnn"), ("batch_size", 2.5), ("dropout", 1.0),
                         ("grad_clip", 0.0), ("train_subset", 0)]:
        with pytest.raises(ValueError, match=f"{field} = "):
            small(tmp_path, **{field: value}).validate()


def test_onecycle_on_a_tiny_run_and_too_few_steps(mnist, tmp_path):
    # 300 images in batches of 128: 3 steps per epoch; one-cycle needs its warm-up to have 2 steps
    res, _ = train(small(tmp_path, schedule="onecycle", epochs=1, train_subset=300, batch_size=128), data=mnist)
    assert res["status"] == "completed"
    with pytest.raises(ValueError, match="needs at least 3 optimizer steps, got 1"):
        train(small(tmp_path / "b", schedule="onecycle", epochs=1, train_subset=100, batch_size=128), data=mnist)
