"""Grid ranks and regions of trained rectifier networks (tt_rnn.rectifier_analysis), and the
validation-selected learning rates of the rectifier experiments."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tt_rnn import experiments
from tt_rnn.generalized import grid_tensor
from tt_rnn.networks import make_network
from tt_rnn.rectifier_analysis import (analyse_run, distinct_templates, load_model, main, sliced_grid_tensor, trained_table,
                                       write_analysis, RectifierRecord)
from tt_rnn.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("kind", ["tt", "tt-shared", "cp", "ht"])
def test_sliced_grid_over_every_position_is_the_grid_tensor(kind):
    torch.manual_seed(0)
    net = make_network(kind, 4, 3, 3, 2, xi="rectifier")
    templates = np.random.default_rng(0).normal(size=(3, 3))
    base = np.zeros((4, 3))
    full = grid_tensor(net, templates)
    sliced = sliced_grid_tensor(net, templates, base, range(4))
    np.testing.assert_allclose(sliced, full, rtol=1e-6, atol=1e-6)  # network params are float32


def test_sliced_grid_keeps_the_other_positions_fixed():
    torch.manual_seed(1)
    net = make_network("tt-shared", 6, 3, 4, 2, xi="rectifier")
    rng = np.random.default_rng(1)
    templates, base = rng.normal(size=(2, 3)), rng.normal(size=(6, 3))
    grid = sliced_grid_tensor(net, templates, base, [1, 4])
    assert next(net.parameters()).dtype == torch.float32  # the caller's network is untouched
    x = base.copy()
    x[1], x[4] = templates[1], templates[0]
    want = net.double().score(torch.tensor(x)[None])[0].detach().numpy()
    np.testing.assert_allclose(grid[:, 1, 0], want, rtol=1e-12)


def test_sliced_grid_refuses_bad_input():
    net = make_network("tt", 4, 3, 2, 2, xi="rectifier")
    with pytest.raises(ValueError, match="distinct"):
        sliced_grid_tensor(net, np.zeros((2, 3)), np.zeros((4, 3)), [0, 0])
    with pytest.raises(ValueError, match=r"in \[0, 4\)"):
        sliced_grid_tensor(net, np.zeros((2, 3)), np.zeros((4, 3)), [4])
    with pytest.raises(ValueError, match="base must have shape"):
        sliced_grid_tensor(net, np.zeros((2, 3)), np.zeros((5, 3)), [0])
    with pytest.raises(ValueError, match="too many"):
        sliced_grid_tensor(make_network("tt", 24, 3, 2, 2, xi="rectifier"), np.zeros((2, 3)),
                           np.zeros((24, 3)), range(23))


@pytest.fixture
def tiny_rectifier_run(tmp_path, fake_data_dir, monkeypatch):
    """A named rectifier experiment trained for 2 epochs on the synthetic data, in a temp dir."""
    name = "mnist/test_rectifier/tt-shared_r3"
    config = TrainConfig(dataset="mnist", model="tt-shared", rank=3, m=4, patch_size=7, features="linear",
                         xi="rectifier", constant_feature=True, epochs=2, batch_size=64, val_size=100,
                         train_subset=300, test_subset=100, data_dir=str(fake_data_dir), num_threads=1,
                         progress=False, results_path=str(tmp_path / "run.json"),
                         checkpoint_dir=str(tmp_path / "ckpt"))
    monkeypatch.setitem(experiments.EXPERIMENTS, name, config)
    return name, config


def test_analysis_of_a_trained_run(tiny_rectifier_run, fake_data_dir):
    from tt_rnn.data import load_dataset
    name, config = tiny_rectifier_run
    data = load_dataset("mnist", fake_data_dir)
    with pytest.raises(FileNotFoundError, match=f"--config {name}"):
        load_model(name, "trained", data)
    _, initial = load_model(name, "initial", data)
    _, model = train(config, data)
    _, trained = load_model(name, "trained", data)
    for a, b in zip(trained.state_dict().values(), model.state_dict().values()):
        torch.testing.assert_close(a, b.cpu())
    torch.manual_seed(config.seed)
    for a, b in zip(load_model(name, "initial", data)[1].state_dict().values(), initial.state_dict().values()):
        torch.testing.assert_close(a, b)  # the initial weights are rebuilt exactly
    records = [analyse_run(name, state, data, n_templates=2, n_segments=2) for state in ("initial", "trained")]
    for rec in records:
        assert 1 <= rec.half_rank_min <= rec.half_rank_mean <= rec.half_rank_max <= rec.max_rank == 2 ** 4
        assert rec.regions_mean >= rec.pieces_mean >= 1
    assert records[1].val_acc is not None and records[0].val_acc is None
    payload = json.loads(write_analysis(Path(config.results_path).with_name("a.json"), records,
                                        dict(n_templates=2, n_segments=2)).read_text())
    table = trained_table(payload)
    assert "| mnist | 3 | tt-shared | 0 |" in table


def test_pooled_statistics_are_those_of_the_union():
    from tt_rnn.rectifier_analysis import _pooled
    a, b = np.array([1.0, 2.0, 6.0]), np.array([4.0, 4.0, 10.0])
    recs = [dict(m=x.mean(), s=x.std(ddof=1)) for x in (a, b)]
    union = np.concatenate([a, b])
    assert _pooled(recs, "m", "s", 3) == pytest.approx((union.mean(), union.std(ddof=1)))


def test_unfinished_checkpoint_is_refused(tiny_rectifier_run, fake_data_dir):
    from tt_rnn.data import load_dataset
    name, config = tiny_rectifier_run
    data = load_dataset("mnist", fake_data_dir)
    train(config.replace(epochs=1), data)  # a checkpoint at epoch 1 of the named run's 2
    with pytest.raises(ValueError, match="epoch 1 of 2"):
        load_model(name, "trained", data)
    with pytest.raises(ValueError, match="state must be one of"):
        load_model(name, "final", data)


def test_cli_unknown_prefix_is_one_line(capsys):
    assert main(["nothing/like/this/"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def _calibration_argmax(dataset: str, model: str):
    best = None
    for lr in experiments.RECTIFIER_CALIBRATION_LRS[dataset]:
        name = f"{dataset}/rectifier_calibration/{model}_r{experiments.RECTIFIER_CALIBRATION_RANK}_lr{lr:g}"
        path = ROOT / "results" / f"{name}.json"
        if not path.is_file():
            pytest.skip(f"results/{name}.json not committed")
        payload = json.loads(path.read_text())
        assert payload["status"] == "completed"
        if best is None or payload["final_val_acc"] > best[1]:
            best = (lr, payload["final_val_acc"])
    return best[0]


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
@pytest.mark.parametrize("model", experiments.MODELS)
def test_rectifier_learning_rate_is_the_validation_argmax(dataset, model):
    assert experiments.RECTIFIER_LR[dataset][model] == _calibration_argmax(dataset, model)
    sweep = experiments.get(f"{dataset}/val_sweep_rectifier/{model}_r16")
    assert sweep.lr == experiments.RECTIFIER_LR[dataset][model] and sweep.xi == "rectifier"
    assert sweep.val_size > 0 and sweep.init == "random"


def test_records_round_trip():
    rec = RectifierRecord(name="x", dataset="mnist", kind="tt", rank=2, seed=0, state="initial", d=4, m=3,
                          n_parameters=10, val_acc=None, n_templates=2, templates="t", half_rank_mean=1.0, half_rank_min=1,
                          half_rank_max=1, odd_even_rank_mean=1.0, odd_even_rank_min=1, odd_even_rank_max=1,
                          max_rank=4, n_segments=1, regions_mean=1.0, regions_sd=0.0, pieces_mean=1.0,
                          pieces_sd=0.0, time_s=0.1)
    assert RectifierRecord(**rec.to_dict()) == rec


def test_templates_are_distinct_feature_vectors():
    features = torch.zeros(3, 4, 2, dtype=torch.float64)  # mostly blank patches, as on MNIST
    features[1, 2] = torch.tensor([1.0, 0.0])
    features[2, 3] = torch.tensor([0.0, 2.0])
    templates = distinct_templates(features, [2, 3], 3)
    assert len({tuple(t.tolist()) for t in templates}) == 3
    with pytest.raises(ValueError, match="only 3 distinct feature vectors among 6 patches"):
        distinct_templates(features, [2, 3], 4)
