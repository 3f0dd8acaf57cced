"""The final comparison: every format at the configuration its own search selected on validation
(tied to the committed search summaries), at equal parameter counts, and the report that compares
them with intervals and paired tests (on synthetic results files; no training)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tt_rnn import experiments as E
from tt_rnn import search as S
from tt_rnn.config import experiment_fields
from tt_rnn.train import parameter_count, rank_for_parameters

ROOT = Path(__file__).resolve().parents[1]
SEARCH_ROOT = ROOT / "results" / "search"
BUDGET_TOL = 0.02  # an equal-parameter run's count is within 2 % of its budget
# what a final run changes in the searched configuration: the budget, and what the comparison keeps
FINAL_CHANGES = {"epochs", "train_subset", "patience", "save_predictions", "seed"}


# ----------------------------------------------------------------------------- selected configurations

def test_every_selected_configuration_is_the_best_trial_of_its_completed_search():
    assert S.selection_problems(E.SELECTED, SEARCH_ROOT) == []
    assert {"mnist/tt-shared", "mnist/tt", "mnist/ht", "mnist/cp"} <= set(E.SELECTED)


def _summaries(root: Path, records: dict) -> Path:
    for name, record in records.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / f"{name}.json").write_text(json.dumps(record))
    return root


def test_a_selection_that_is_not_the_best_trial_or_from_an_unfinished_search_is_an_error(tmp_path):
    record = json.loads((SEARCH_ROOT / "mnist/tt.json").read_text())
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


def test_the_selected_configuration_is_the_searched_one_with_the_best_trials_changes():
    for name in E.SELECTED:
        record = json.loads((SEARCH_ROOT / f"{name}.json").read_text())
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


def test_the_final_runs_choose_on_validation_and_keep_their_test_predictions():
    finals = E.group("mnist/final/")
    assert len(finals) == 3 * len(E.SELECTED)
    for name, config in finals.items():
        assert (config.val_size, config.split_seed) == (5000, 0), name  # the searches' split
        assert (config.epochs, config.patience) == (60, 10) and config.save_predictions, name
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


def test_the_equal_parameter_runs_are_the_final_runs_at_another_rank():
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
