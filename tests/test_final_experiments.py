"""The final comparison: every format at the configuration its own search selected on validation
(tied to the committed search summaries), at equal parameter counts, and the report that compares
them with intervals and paired tests (on synthetic results files; no training)."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from tt_rnn import experiments as E
from tt_rnn import search as S
from tt_rnn.config import experiment_fields, portable_config
from tt_rnn.final_report import collect, compare, equal_params_tables, final_tables
from tt_rnn.runfiles import ResultsFileError
from tt_rnn.stats import holm, mcnemar, paired_bootstrap
from tt_rnn.tables import update_file
from tt_rnn.train import parameter_count, rank_for_parameters, train

ROOT = Path(__file__).resolve().parents[1]
SEARCH_ROOT = ROOT / "results" / "search"
BUDGET_TOL = 0.02  # an equal-parameter run's count is within 2 % of its budget
# what a final run changes in the searched configuration: the budget, and what the comparison keeps
FINAL_CHANGES = {"epochs", "train_subset", "patience", "save_predictions", "seed"}


# ----------------------------------------------------------------------------- selected configurations

def test_every_selected_configuration_is_the_best_trial_of_its_completed_search():
    # the committed entries against the committed summaries: every completed search has its entry,
    # every entry is its completed search's best trial
    assert S.selection_problems(E.SELECTED, SEARCH_ROOT) == []


# the trial parameters that map onto the fixture's mnist/tt entry (tests/conftest.py)
TT_PARAMS = {"init": "identity", "lr": 0.0007358980360455339, "weight_decay": 0.002, "dropout": 0.2, "m": 64,
             "init_noise": 1.0, "features": "mlp", "augment": "shift"}


def _completed(name: str, params: dict, number: int = 27) -> dict:
    """A completed search summary of ``name`` whose best trial drew ``params``."""
    return {"search": S.SEARCHES[name].to_dict(), "status": "completed", "n_finished": 30, "trials": [],
            "best": {"number": number, "state": "COMPLETE", "value": 0.98, "params": params}}


def _summaries(root: Path, records: dict) -> Path:
    for name, record in records.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / f"{name}.json").write_text(json.dumps(record))
    return root


def test_a_selection_that_is_not_the_best_trial_or_from_an_unfinished_search_is_an_error(tmp_path, selection):
    record = _completed("mnist/tt", TT_PARAMS)
    root = _summaries(tmp_path, {"mnist/tt": record})
    assert S.selection_problems({"mnist/tt": E.SELECTED["mnist/tt"]}, root) == []
    # an entry that differs from the best trial, naming the field
    wrong = {"mnist/tt": {**E.SELECTED["mnist/tt"], "lr": 1e-3}}
    assert any("lr = 0.001" in p and "not the best trial" in p for p in S.selection_problems(wrong, root))
    # a completed search without an entry
    assert any("has no entry" in p for p in S.selection_problems({}, root))
    # an entry for an incomplete search, and one without a summary
    incomplete = {**copy.deepcopy(record), "status": "incomplete", "n_finished": 12}
    root = _summaries(tmp_path / "b", {"mnist/tt": incomplete})
    problems = S.selection_problems({"mnist/tt": E.SELECTED["mnist/tt"], "cifar10/tt": {}}, root)
    assert any("'incomplete' (12 of 30 trials finished)" in p for p in problems)
    assert any("cifar10/tt" in p and "no search summary" in p for p in problems)
    with pytest.raises(ValueError, match="search mnist/tt is 'incomplete'"):
        S.selected_entry(incomplete)


def _check_selection(name: str, record: dict) -> None:
    """The final runs of ``name`` are its search's trial configuration with the best trial's
    parameters, changed only in what a final run changes."""
    searched = E.selected_config(name)
    stored_base = record["search"]["base"]
    # the base the search trained is the one the final runs start from
    assert experiment_fields(stored_base) == experiment_fields(E.search_base(*name.split("/")))
    trial = S._trial_config(S.SEARCHES[name], E.trial_changes(record["best"]["params"], stored_base["dataset"]),
                            "trial")
    for seed in E.FINAL_SEEDS:
        final = E.get(E.final_names(name.split("/")[0])[name.split("/")[1]][seed])
        differ = {k for k, v in experiment_fields(final).items() if experiment_fields(trial)[k] != v}
        assert differ <= FINAL_CHANGES, (name, differ)
        assert experiment_fields(final) == experiment_fields(E.final_config(name, seed)) and final.seed == seed
    assert searched.rank == E.SEARCH_RANK == record["search"]["base"]["rank"]


def test_the_selected_configurations_are_the_searched_ones_with_the_best_trials_changes():
    for name in E.SELECTED:  # the committed ones
        _check_selection(name, json.loads((SEARCH_ROOT / f"{name}.json").read_text()))


def test_a_selection_defines_final_runs_that_change_only_the_budget(selection):
    _check_selection("mnist/tt", _completed("mnist/tt", TT_PARAMS))
    wrong = {**TT_PARAMS, "dropout": 0.0}  # a best trial that is not the entry
    with pytest.raises(AssertionError):
        _check_selection("mnist/tt", _completed("mnist/tt", wrong))


def test_the_final_runs_choose_on_validation_and_keep_their_test_predictions(selection):
    finals = E.group("mnist/final/")
    assert len(finals) == len(E.FINAL_SEEDS) * sum(name.startswith("mnist/") for name in E.SELECTED)
    for name, config in finals.items():
        assert (config.val_size, config.split_seed) == (5000, 0), name  # the searches' split
        assert (config.epochs, config.patience) == (30, 10) and config.save_predictions, name
        assert config.train_subset is None and config.evaluate_test and config.num_threads == 1, name
        assert config.results_path == f"results/{name}.json"
        config.validate()
    # a search without a selected configuration has names but no runs yet (the baselines until
    # their searches are completed)
    for fmt, names in E.final_names("mnist").items():
        assert all((name in E.EXPERIMENTS) == (f"mnist/{fmt}" in E.SELECTED) for name in names.values())
    with pytest.raises(KeyError, match="no selected configuration"):
        E.selected_config("mnist/cnn" if "mnist/cnn" not in E.SELECTED else "cifar10/nope")


def test_the_mapping_of_a_trial_names_what_it_cannot_map():
    params = {"lr": 1e-3, "weight_decay": 0.0, "dropout": 0.0, "m": 32, "augment": "none", "init": "identity"}
    with pytest.raises(ValueError, match="lack init_noise"):
        E.trial_changes(params, "mnist")
    with pytest.raises(ValueError, match=r"unknown search parameters \['rank'\]"):
        E.trial_changes({**params, "init_noise": 1.0, "rank": 4}, "mnist")
    assert E.trial_changes({**params, "init_noise": 1.0, "features": "conv"}, "cifar10")["hidden"] == 16


# ----------------------------------------------------------------------------- equal parameters

EQUAL = [(dataset, budget, fmt) for dataset, budgets in E.EQUAL_PARAMS.items()
         for budget, ranks in budgets.items() for fmt in ranks]


@pytest.mark.parametrize("dataset, budget, fmt", EQUAL, ids=lambda v: str(v))
def test_an_equal_parameter_run_has_the_rank_closest_to_its_budget(dataset, budget, fmt):
    config = E.get(E.equal_params_names(dataset)[budget][fmt][0])
    count = parameter_count(config)
    assert abs(count - budget) <= BUDGET_TOL * budget, (
        f"{fmt} at rank {config.rank} has {count:,} parameters, {100 * (count - budget) / budget:+.1f} % off "
        f"the budget {budget:,}: choose budgets every format can meet")
    closest = rank_for_parameters(E.selected_config(f"{dataset}/{fmt}"), budget)
    assert config.rank == closest, f"set EQUAL_PARAMS[{dataset!r}][{budget}][{fmt!r}] = {closest}"
    # the budget leaves the network something beyond the feature map alone
    assert parameter_count(config.replace(rank=1)) < 0.5 * budget


def test_the_equal_parameter_runs_are_the_final_runs_at_another_rank(selection):
    budgets = E.equal_params_names("mnist")
    assert set(budgets) == set(E.EQUAL_PARAMS["mnist"]) and len(budgets) == 3
    assert len(E.group("mnist/equal_params/")) == 3 * len(E.MODELS) * len(E.FINAL_SEEDS)
    for budget, formats in budgets.items():
        assert set(formats) == set(E.MODELS)  # every tensor-network format at every budget
        for fmt, names in formats.items():
            for seed, name in names.items():
                config = E.get(name)
                final = E.final_config(f"mnist/{fmt}", seed)
                assert experiment_fields(config) == experiment_fields(final.replace(rank=config.rank))
                assert name == f"mnist/equal_params/{fmt}_p{budget}" + ("" if seed == 0 else f"_s{seed}")


def test_cifar10_compares_at_the_search_budget_and_the_baselines_train_like_the_equal_parameter_runs(monkeypatch):
    # CIFAR-10's equal-parameter runs train at the searches' per-trial budget (the final runs' is out of reach)
    assert E.EQUAL_PARAMS_TRAINING["mnist"] == {}
    short = E.EQUAL_PARAMS_TRAINING["cifar10"]
    spec = S.SEARCHES["cifar10/tt"]
    assert (short["epochs"], short["train_subset"]) == (spec.epochs, spec.train_subset)
    monkeypatch.setitem(E.SELECTED, "cifar10/tt", dict(lr=1e-3, weight_decay=0.0, dropout=0.0, m=32,
                                                       augment="crop-flip", init="random", constant_feature=False))
    config = E.comparison_config("cifar10/tt", seed=2, rank=5)
    assert (config.epochs, config.train_subset, config.patience, config.rank, config.seed) == (10, 20000, None, 5, 2)
    assert config.save_predictions and config.evaluate_test and (config.val_size, config.split_seed) == (5000, 0)
    assert E.final_config("cifar10/tt").epochs == E.FINAL_BUDGET["cifar10"]["epochs"]  # the finals keep theirs
    # the baselines: searched on both data sets; the CNN's patch is the whole image
    for dataset, size in E.IMAGE_SIZE.items():
        assert {"pool-linear", "cnn"} <= set(E.SEARCH_FORMATS[dataset])
        cnn = E.search_base(dataset, "cnn")
        assert (cnn.features, cnn.patch_size, cnn.model) == ("cnn", size, "pool-linear")
        assert E.search_base(dataset, "pool-linear").patch_size == E.SEARCH_BASES[dataset].patch_size
        assert set(E.final_names(dataset)) == set(E.MODELS)
        for fmt, names in E.baseline_names(dataset).items():
            assert fmt in E.BASELINES
            assert all(name.startswith(f"{dataset}/baselines/{fmt}") for name in names.values())
            assert all((name in E.EXPERIMENTS) == (f"{dataset}/{fmt}" in E.SELECTED) for name in names.values())
    # channels 16, 32, 64 on 3 input channels: a few hundred parameters more than on MNIST's 1
    assert parameter_count(E.search_base("cifar10", "cnn").replace(m=64)) == 77_338


# ----------------------------------------------------------------------------- the report (synthetic files)

N_IMAGES = 400


def _labels() -> list[int]:
    return [i % 10 for i in range(N_IMAGES)]


def _write_run(root: Path, name: str, wrong: list[int] | None = None, *, status="completed", predictions=True,
               labels=None, **config_changes) -> Path:
    """A results file for experiment ``name`` that got every test image right but those in ``wrong``."""
    labels = _labels() if labels is None else labels
    predicted = [(y + 1) % 10 if i in set(wrong or ()) else y for i, y in enumerate(labels)]
    acc = sum(p == y for p, y in zip(predicted, labels)) / len(labels)
    history = [{"epoch": e, "val_acc": 0.9 + 0.01 * e, "test_acc": acc} for e in (1, 2, 3, 4)]
    config = dataclasses.asdict(portable_config(E.get(name).replace(**config_changes)))
    run = {"config": config, "history": history if status == "completed" else history[:2], "status": status,
           "params": 1234, "dataset": {"n_train": 55000}}
    if status == "completed":
        run.update(chosen=history[3], best_epoch=4)
        if predictions:
            run["test_predictions"] = {"epoch": 4, "acc": acc, "predicted": predicted, "labels": labels}
    path = root / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run))
    return path


# images each format gets wrong on seeds 0, 1, 2: TT 2 / 4 / 3 (99.25 % on average), HT 6 other images
# each seed (98.5 %), CP 6 further images (98.5 %, wrong where HT is right: a null difference to HT),
# the shared core 80 images (80 %)
WRONG = {"tt": [list(range(2)), list(range(4)), list(range(3))],
         "ht": [list(range(100, 106))] * 3,
         "cp": [list(range(200, 206))] * 3,
         "tt-shared": [list(range(300, 380))] * 3}


def _final_group(root: Path, formats=("tt-shared", "tt", "ht", "cp")) -> None:
    for fmt in formats:
        for seed, name in E.final_names("mnist")[fmt].items():
            _write_run(root, name, WRONG[fmt][seed])


def _rows(text: str) -> dict[str, list[str]]:
    return {cells[1].strip(): [c.strip() for c in cells[2:-1]] for line in text.splitlines()
            if line.startswith("| ") and len(cells := line.split("|")) > 3}


def test_the_final_report_gives_means_intervals_and_paired_tests(tmp_path, selection):
    _final_group(tmp_path)
    text = final_tables(tmp_path / "mnist" / "final", n_resamples=500)
    rows = _rows(text)
    # TT: 99.50, 99.00, 99.25 %: mean 99.25, std 0.25, t interval 99.25 ± 4.303 * 0.25 / sqrt(3)
    assert rows["TT (distinct cores)"][:2] == ["3 of 3", "32"]
    assert rows["TT (distinct cores)"][5] == "99.25 ± 0.25 [3]"
    half = 4.302653 * 0.25 / 3 ** 0.5
    assert rows["TT (distinct cores)"][6] == f"[{99.25 - half:.2f}, {99.25 + half:.2f}]" == "[98.63, 99.87]"
    assert rows["TT (distinct cores)"][3] == "4 (4), 4 (4), 4 (4)"  # the epoch validation chose
    assert rows["TT (distinct cores)"][4] == "94.00 ± 0.00 [3]"  # validation accuracy at that epoch
    assert rows["HT (deep)"][5] == "98.50 ± 0.00 [3]" and rows["CP (shallow)"][5] == "98.50 ± 0.00 [3]"
    assert "CNN (baseline)" not in rows and "pool-linear (baseline)" not in rows  # with the equal-parameter runs
    lines = {line.split(":")[0]: line for line in text.splitlines() if line.startswith("- ")}
    assert len(lines) == 6  # every pair of the four formats
    # HT and CP: the same accuracy on other images: a null difference
    null = lines.get("- HT (deep) = CP (shallow)") or lines["- CP (shallow) = HT (deep)"]
    assert "+0.00 points" in null and "**not significant** (p 1.00)" in null
    # TT against the shared core: 80 discordant images on every seed, far beyond chance
    far = lines["- TT (distinct cores) > TT (shared core)"]
    assert "+19.25 points" in far and "; significant (p < 0.0001, every seed)" in far
    assert "McNemar, Holm over 6 pairs: seed 0" in far
    # TT against HT: 4 to 6 discordant images a seed: never significant on one seed
    assert "not significant" in lines["- TT (distinct cores) > HT (deep)"]


def test_holm_runs_over_the_pairs_of_each_seed(tmp_path, selection):
    _final_group(tmp_path)
    groups = [collect(E.final_names("mnist")[fmt], fmt, tmp_path) for fmt in ("tt", "ht", "cp")]
    pairs = compare(groups, n_resamples=200)
    for seed in E.FINAL_SEEDS:
        raw = [mcnemar(p["a"].correct[seed], p["b"].correct[seed]) for p in pairs]
        assert [p["p_seed"][seed] for p in pairs] == pytest.approx(holm(raw))
    assert all(p["p"] == max(p["p_seed"].values()) for p in pairs)
    boot = paired_bootstrap(np.stack([groups[0].correct[s] for s in E.FINAL_SEEDS]),
                            np.stack([groups[1].correct[s] for s in E.FINAL_SEEDS]), n_resamples=200, seed=0)
    tt_ht = next(p for p in pairs if {p["a"].fmt, p["b"].fmt} == {"tt", "ht"})
    assert (tt_ht["low"], tt_ht["high"]) == pytest.approx((boot.low, boot.high))


def test_a_partial_group_is_reported_with_its_missing_runs(tmp_path, selection):
    _final_group(tmp_path, formats=("tt", "ht"))
    (tmp_path / "mnist/final/ht_s2.json").unlink()
    _write_run(tmp_path, "mnist/final/ht_s1", status="running")
    text = final_tables(tmp_path / "mnist" / "final", n_resamples=200)
    rows = _rows(text)
    assert rows["HT (deep)"][0] == "1 of 3" and rows["HT (deep)"][5] == "98.50 [1]"
    assert rows["CP (shallow)"][0] == "0 of 3" and rows["CP (shallow)"][5] == "not run yet"
    assert "`mnist/final/ht` (seed 1 running, 2 epochs; seed 2 no results file)" in text
    assert "`mnist/final/cp` (seeds 0, 1, 2 no results file)" in text
    line = next(line for line in text.splitlines() if line.startswith("- TT (distinct cores) > HT"))
    assert "× 1 seed)" in line and "Holm over 1 pairs: seed 0" in line  # the seed both have
    # nothing run at all: every run listed as missing, no comparison
    empty = final_tables(tmp_path / "empty" / "mnist" / "final")
    assert "not run yet" in empty and "`mnist/final/tt-shared` (seeds 0, 1, 2 no results file)" in empty
    assert "follow once two formats have completed runs" in empty


def test_a_completed_run_without_predictions_is_an_error_naming_the_file(tmp_path, selection):
    _final_group(tmp_path)
    path = _write_run(tmp_path, "mnist/final/cp_s1", WRONG["cp"][1], predictions=False)
    with pytest.raises(ResultsFileError, match=r"mnist/final/cp_s1\.json is completed but has no test_predictions"):
        final_tables(tmp_path / "mnist" / "final", n_resamples=200)
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- results:mnist/final -->\n<!-- /results:mnist/final -->\n")
    with pytest.raises(ResultsFileError, match="cp_s1.json"):
        update_file(doc, tmp_path)
    # a file of another configuration, and runs tested on other images, are errors too
    _write_run(tmp_path, "mnist/final/cp_s1", WRONG["cp"][1], lr=0.1)
    with pytest.raises(ResultsFileError, match=r"cp_s1\.json is not the named experiment mnist/final/cp_s1 \(lr = 0.1"):
        final_tables(tmp_path / "mnist" / "final", n_resamples=200)
    _write_run(tmp_path, "mnist/final/cp_s1", WRONG["cp"][1], labels=_labels()[::-1])
    with pytest.raises(ResultsFileError, match="tested on different images"):
        final_tables(tmp_path / "mnist" / "final", n_resamples=200)
    assert path.is_file()


def test_the_equal_parameter_report_and_the_searches_not_finished(tmp_path, selection):
    budgets = E.equal_params_names("mnist")
    small = min(budgets)
    for fmt, names in budgets[small].items():
        for seed, name in names.items():
            _write_run(tmp_path, name, WRONG[fmt][seed])
    text = equal_params_tables(tmp_path / "mnist" / "equal_params", n_resamples=200)
    rows = _rows(text)
    rank = E.EQUAL_PARAMS["mnist"][small]["tt"]
    assert rows["TT (distinct cores)"][0] == f"99.25 ± 0.25 [3] [98.63, 99.87] (r {rank}, 1,234)"
    assert rows["TT (distinct cores)"][1].startswith("not run yet (r ")
    assert f"At {small:,} parameters, every pair of formats" in text
    assert f"At {sorted(budgets)[1]:,} parameters" not in text  # nothing to compare there yet
    assert f"`mnist/equal_params/tt_p{sorted(budgets)[1]}` (seeds 0, 1, 2 no results file)" in text
    # CIFAR-10 before its searches are done (the progress of a search is not shown: the page changes
    # only when a search completes)
    (tmp_path / "search/cifar10").mkdir(parents=True)
    (tmp_path / "search/cifar10/tt.json").write_text(json.dumps({"status": "incomplete", "n_finished": 12}))
    (tmp_path / "search/cifar10/ht.json").write_text(json.dumps({"status": "completed", "n_finished": 30}))
    for group in ("final", "equal_params"):
        text = (final_tables if group == "final" else equal_params_tables)(tmp_path / "cifar10" / group)
        assert text.startswith("Search not finished: no CIFAR-10 format has a selected configuration yet")
        assert "- TT (distinct cores): search not finished\n" in text and "- CP (shallow): search not finished" in text
        assert "- HT (deep): search completed; its best trial is not in `SELECTED` yet" in text


def test_the_docs_have_the_generated_blocks():
    for page, dataset in (("results-mnist.md", "mnist"), ("results-cifar10.md", "cifar10")):
        text = (ROOT / "docs" / page).read_text()
        for group in ("final", "equal_params"):
            key = f"{dataset}/{group}"
            assert f"<!-- results:{key} -->" in text and f"<!-- /results:{key} -->" in text, (page, key)


def test_the_report_reads_what_training_writes(tmp_path, monkeypatch, fake_data_dir, selection):
    """Two tiny final runs trained on the synthetic data (seconds), then reported."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    for fmt in ("tt", "ht"):
        name = E.final_names("mnist")[fmt][0]
        config = E.get(name).replace(m=8, rank=2, features="linear", hidden=32, augment="none", epochs=3, patience=1,
                                     train_subset=300, val_size=100, batch_size=64, warmup_epochs=0.0,
                                     data_dir=str(fake_data_dir), download=False, device="cpu",
                                     results_path=str(tmp_path / f"{name}.json"),
                                     checkpoint_dir=str(tmp_path / "ckpt" / fmt))
        monkeypatch.setitem(E.EXPERIMENTS, name, config)
        train(config)
    text = final_tables(tmp_path / "mnist" / "final", n_resamples=200)
    rows = _rows(text)
    for label in ("TT (distinct cores)", "HT (deep)"):
        assert rows[label][0] == "1 of 3" and rows[label][5].endswith("[1]"), rows[label]
    line = next(line for line in text.splitlines() if line.startswith("- ") and "HT (deep)" in line)
    assert "(200 images × 1 seed)" in line and "Holm over 1 pairs: seed 0" in line


def test_the_equal_parameter_curves_draw_the_means_and_intervals_of_the_completed_runs(tmp_path, selection):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tt_rnn.plots import equal_params_curves
    assert equal_params_curves("mnist", tmp_path) is None  # nothing run: nothing drawn
    budgets = E.equal_params_names("mnist")
    small = min(budgets)
    for fmt, names in budgets[small].items():
        for seed, name in names.items():
            _write_run(tmp_path, name, WRONG[fmt][seed])
    _final_group(tmp_path, formats=("tt",))
    fig, ax = plt.subplots()
    assert equal_params_curves("mnist", tmp_path, ax=ax) is ax
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["TT (shared core)", "TT (distinct cores)", "HT (deep)", "CP (shallow)"]
    means = [round(float(y), 4) for bars in ax.containers for y in bars.lines[0].get_ydata()]
    # TT: 2, 4 and 3 of 400 images wrong on seeds 0-2 -> 99.25, at the budget and as a final run;
    # the shared core 80 wrong -> 80.0; HT and CP 6 wrong -> 98.5
    assert sorted(means) == [80.0, 98.5, 98.5, 99.25, 99.25]
    plt.close(fig)


def test_the_baselines_are_reported_with_the_formats_at_the_budget_nearest_their_size(tmp_path, monkeypatch, selection):
    budgets = E.equal_params_names("mnist")
    small = min(budgets)
    for fmt, names in budgets[small].items():
        for seed, name in names.items():
            _write_run(tmp_path, name, WRONG[fmt][seed])
    cnn = dict(lr=1e-3, weight_decay=0.0, dropout=0.0, m=64, augment="shift")
    monkeypatch.setitem(E.SELECTED, "mnist/cnn", cnn)
    for seed, name in E.baseline_names("mnist")["cnn"].items():
        config = E.comparison_config("mnist/cnn", seed)
        monkeypatch.setitem(E.EXPERIMENTS, name, config.replace(results_path=f"results/{name}.json"))
        _write_run(tmp_path, name, list(range(380, 400)))  # 95 % on every seed
    text = equal_params_tables(tmp_path / "mnist" / "equal_params", n_resamples=200)
    rows = _rows(text)
    assert rows["CNN (baseline)"][:2] == ["3 of 3", "1,234"] and rows["CNN (baseline)"][3] == "95.00 ± 0.00 [3]"
    assert rows["pool-linear (baseline)"][0] == "search not finished"
    # compared with every format at the budget nearest its count (1,234 -> the smallest), Holm over
    # that group's pairs (the four formats and the baseline: 10)
    section = text.split("CNN (baseline) against the formats at")[1]
    assert section.startswith(f" {small:,} parameters")
    lines = [line for line in section.splitlines() if line.startswith("- ")]
    assert len(lines) == 4 and all("CNN (baseline)" in line for line in lines)
    tt = next(line for line in lines if line.startswith("- TT (distinct cores) > CNN (baseline)"))
    assert "; significant (p 0.0093, every seed)" in tt and "Holm over 10 pairs" in tt  # 20 vs 2-4 discordant
    assert "- CNN (baseline) > TT (shared core)" in section  # 95 % against 80 %
    assert "each run up to 30 epochs on the whole training set less the 5,000-image validation split, stopped " \
           "after 10" in text
