"""Results files: portable paths, the one matching rule, load_or_train, named experiments, tables."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tt_rnn import experiments
from tt_rnn.config import RUN_ONLY_FIELDS, same_experiment
from tt_rnn.notebooks import load_or_train
from tt_rnn.runfiles import portable_path, read_results, write_json
from tt_rnn.tables import (budget_table, budget_tables, history_entry, select_budget, sweep_table, update_file,
                           xi_comparison_table)
from tt_rnn.train import TrainConfig, main

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = sorted(p for p in (ROOT / "results").rglob("*.json"))
# An absolute POSIX or Windows path, or a home directory, anywhere in a string value.
ABSOLUTE = re.compile(r'(^|[\s"=:])(/(?:work|home|tmp|root|Users|var|mnt|opt|usr)/|[A-Za-z]:\\\\|~/)')


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def test_there_are_committed_results_files():
    assert len(COMMITTED) >= 50


def machine_paths(path) -> list[str]:
    """The strings of a JSON file that are, or hold, an absolute machine path."""
    text = path.read_text()
    found = [str(ROOT)] if str(ROOT) in text else []
    return found + [s for s in _strings(json.loads(text)) if s.startswith("/") or ABSOLUTE.search(s)]


def test_committed_results_hold_no_machine_paths():
    offending = {p.relative_to(ROOT).as_posix(): bad[:3] for p in COMMITTED if (bad := machine_paths(p))}
    assert not offending, f"{len(offending)} results files hold absolute paths: {offending}"


def test_the_machine_path_check_finds_a_file(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"config": {"data_dir": "/home/me/data"}}))
    assert machine_paths(tmp_path / "x.json") == ["/home/me/data"]


def test_the_path_check_catches_an_absolute_path():
    assert ABSOLUTE.search("python /work/x/tt_rnn/train.py --rank 2")
    assert ABSOLUTE.search("C:\\\\Users\\\\me")
    assert not ABSOLUTE.search("python -m tt_rnn.train --results-path results/mnist/x.json")


def test_portable_path(tmp_path, monkeypatch):
    assert portable_path(None) is None
    assert portable_path(ROOT / "results" / "x.json") == "results/x.json"
    monkeypatch.setenv("TT_RNN_DATA", str(tmp_path / "data"))
    assert portable_path(tmp_path / "data" / "MNIST" / "raw") == "$TT_RNN_DATA/MNIST/raw"
    monkeypatch.chdir(ROOT)
    assert portable_path("results/a.json") == "results/a.json"
    assert portable_path("/somewhere/else/run.json") == "<outside>/run.json"


def test_every_named_experiment_matches_its_committed_results_file():
    checked = 0
    for name, config in experiments.EXPERIMENTS.items():
        assert config.results_path == f"results/{name}.json"
        path = ROOT / config.results_path
        if path.is_file():
            same, diff = same_experiment(read_results(path)["config"], config)
            assert same, (name, diff)
            checked += 1
    assert checked == len(list((ROOT / "results").glob("mnist/*/*.json"))) + \
        len(list((ROOT / "results").glob("cifar10/*/*.json")))


def test_every_committed_training_result_is_a_named_experiment():
    named = {config.results_path for config in experiments.EXPERIMENTS.values()}
    for path in list((ROOT / "results").glob("mnist/*/*.json")) + list((ROOT / "results").glob("cifar10/*/*.json")):
        assert path.relative_to(ROOT).as_posix() in named, path


def test_experiment_names_errors():
    with pytest.raises(KeyError, match="no experiment named 'mnist/best/nope'.*mnist/best"):
        experiments.get("mnist/best/nope")
    assert len(experiments.group("mnist/best/")) == 7
    with pytest.raises(KeyError, match="no experiment starts with"):
        experiments.group("imagenet/")


def test_same_experiment_counts_every_field_that_changes_the_run():
    base = TrainConfig(dataset="mnist", rank=4)
    stored = json.loads(json.dumps(base.__dict__))
    assert same_experiment(stored, base) == (True, {})
    for field, value in [("product", "tree"), ("grad_clip", 1.0), ("label_smoothing", 0.1), ("amp", True),
                         ("rank", 8), ("val_size", 5000), ("xi", "rectifier")]:
        same, diff = same_experiment(stored, base.replace(**{field: value}))
        assert not same and set(diff) == {field}, field
    for field, value in [("results_path", "elsewhere.json"), ("num_threads", 2), ("progress", False),
                         ("data_dir", "/data"), ("device", "cuda"), ("name", "x")]:
        assert field in RUN_ONLY_FIELDS
        assert same_experiment(stored, base.replace(**{field: value}))[0], field


def test_fields_missing_from_old_files_take_their_legacy_value():
    stored = {k: v for k, v in TrainConfig().__dict__.items() if k not in ("xi", "val_size", "split_seed")}
    assert same_experiment(stored, TrainConfig())[0]
    assert not same_experiment(stored, TrainConfig(val_size=5000))[0]


def _fake_results(config: TrainConfig, status="completed") -> dict:
    return {"config": dict(config.__dict__), "history": [{"epoch": 1, "test_acc": 0.5}], "status": status}


def test_load_or_train_reads_a_completed_matching_file(tmp_path):
    config = TrainConfig(rank=3, results_path="r/x.json")
    write_json(_fake_results(config.replace(num_threads=4)), tmp_path / "r" / "x.json")
    run = load_or_train(config, root=tmp_path, train_missing=False)
    assert run.source == "read" and run.results["status"] == "completed"


def test_load_or_train_never_overwrites_another_experiment(tmp_path):
    config = TrainConfig(rank=3, results_path="r/x.json")
    write_json(_fake_results(config.replace(rank=5)), tmp_path / "r" / "x.json")
    with pytest.raises(ValueError, match=r"another experiment.*'rank': \(5, 3\)"):
        load_or_train(config, root=tmp_path)


def test_load_or_train_reports_missing_without_training(tmp_path):
    config = TrainConfig(rank=3, results_path="r/x.json")
    run = load_or_train(config, root=tmp_path, train_missing=False)
    assert run.source == "missing" and run.results is None and "no results file" in run.reason
    write_json(_fake_results(config, status="running"), tmp_path / "r" / "x.json")
    assert "status 'running'" in load_or_train(config, root=tmp_path, train_missing=False).reason


def test_load_or_train_reports_missing_data_instead_of_failing(tmp_path):
    config = TrainConfig(rank=3, epochs=1, results_path="r/x.json", data_dir=str(tmp_path / "no_data"),
                         download=False, progress=False)
    run = load_or_train(config, root=tmp_path)
    assert run.source == "missing" and "MNIST" in run.reason
    assert not (tmp_path / "r" / "x.json").exists()


def test_sweep_table_marks_unfinished_runs():
    runs = [{"config": {"model": "tt", "rank": 4}, "history": [{"test_acc": 0.5}], "params": 10,
             "status": "running"}]
    assert "50.00 (10) (running)" in sweep_table(runs)


def test_xi_comparison_puts_product_beside_rectifier_and_skips_unfinished_runs():
    def run(model, rank, acc, status="completed"):
        return {"config": {"model": model, "rank": rank}, "history": [{"test_acc": acc}], "status": status}
    product = [run("tt", 4, 0.9), run("tt", 4, 0.8), run("cp", 4, 0.7)]
    rectifier = [run("tt", 4, 0.6), run("cp", 4, 0.5), run("cp", 4, 0.1, status="running")]
    table = xi_comparison_table(product, rectifier)
    assert table.splitlines()[0] == "| rank | TT (distinct cores) x | max | CP (shallow) x | max |"
    assert table.splitlines()[2] == "| 4 | 85.00 ± 7.07 [2] | 60.00 | 70.00 | 50.00 |"


TABLE_FILES = [p for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
               if "<!-- results:" in p.read_text()]


def test_some_markdown_file_has_generated_tables():
    assert TABLE_FILES, "no README.md or docs/*.md holds a <!-- results:KEY --> block"


@pytest.mark.parametrize("path", TABLE_FILES, ids=[p.relative_to(ROOT).as_posix() for p in TABLE_FILES])
def test_generated_tables_are_up_to_date(path, tmp_path, monkeypatch):
    copy = tmp_path / path.name
    copy.write_text(path.read_text())
    monkeypatch.chdir(ROOT)
    update_file(copy, ROOT / "results")
    name = path.relative_to(ROOT).as_posix()
    assert copy.read_text() == path.read_text(), \
        f"{name}: tables differ from results/: run `make tables` (python -m tt_rnn.tables --update {name})"


# ----------------------------------------------------------------------------- command line

def _one_line_error(capsys, rc):
    err = capsys.readouterr().err
    assert rc == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize("argv, expected", [
    (["--rank", "0"], "rank = 0"),
    (["--lr", "-1"], "lr = -1"),
    (["--dropout", "1.5"], "dropout = 1.5"),
    (["--config", "mnist/best/nope"], "no experiment named"),
])
def test_cli_bad_values_are_one_line(capsys, argv, expected):
    line = _one_line_error(capsys, main(argv + ["--no-progress"]))
    assert expected in line


@pytest.mark.parametrize("argv", [["--model", "rnn"], ["--rank", "two"], ["--no-such-flag"]])
def test_cli_bad_arguments_are_one_line(capsys, argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    _one_line_error(capsys, info.value.code)


def test_cli_missing_data_is_one_line_and_debug_shows_the_traceback(capsys, tmp_path):
    argv = ["--data-dir", str(tmp_path / "empty"), "--no-download", "--epochs", "1", "--no-progress",
            "--results-path", str(tmp_path / "r.json"), "--checkpoint-dir", str(tmp_path / "ck")]
    line = _one_line_error(capsys, main(argv))
    assert "MNIST" in line
    assert main(argv + ["--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_cli_lists_named_experiments(capsys):
    assert main(["--list-configs", "cifar10/best/"]) == 0
    assert capsys.readouterr().out.split() == list(experiments.group("cifar10/best/"))


# ----------------------------------------------------------------------------- the budget on validation

def _write_budget_runs(root, study, val_acc_of, status_of=lambda *key: "completed"):
    """Fake results files for every run of ``study``'s budget probes: ``val_acc_of(probe, epochs)``."""
    for (probe, epochs), name in experiments.budget_study(study).items():
        acc = val_acc_of(probe, epochs)
        if acc is None:
            continue
        path = Path(root) / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json({"config": {"epochs": epochs},
                    "history": [{"val_acc": acc - 0.5, "test_acc": 0.0}, {"val_acc": acc, "test_acc": 1.0}],
                    "status": status_of(probe, epochs)}, path)


@pytest.mark.parametrize("study", list(experiments.BUDGET_EPOCHS))
def test_budget_study_doubles_the_budget_of_the_groups_own_runs(study):
    epochs = experiments.BUDGET_EPOCHS[study]
    assert all(b == 2 * a for a, b in zip(epochs, epochs[1:]))
    names = experiments.budget_study(study)
    assert len(names) == len(epochs) * len(experiments.BUDGET_PROBES[study])
    for (probe, e), name in names.items():
        config, own = experiments.get(name), experiments.get(f"{study}/{probe}")
        assert config.epochs == e
        assert config.replace(epochs=own.epochs, name=own.name, results_path=own.results_path,
                              checkpoint_dir=own.checkpoint_dir) == own, name
    assert sum(name.startswith(f"{study}/") for name in names.values()) == len(experiments.BUDGET_PROBES[study])


def test_select_budget_picks_the_first_doubling_that_stops_helping(tmp_path):
    tol = experiments.BUDGET_TOL
    e = experiments.BUDGET_EPOCHS["mnist/val_sweep"]
    # every probe gains 1 point from e[0] to e[1]; then cp_r64 alone gains just under tol, then tol
    gain = {e[0]: 0.0, e[1]: 0.01, e[2]: 0.01 + 0.9 * tol, e[3]: 0.01 + 1.9 * tol}
    _write_budget_runs(tmp_path, "mnist/val_sweep",
                       lambda probe, epochs: 0.9 + (gain[epochs] if probe == "cp_r64" else min(gain[epochs], 0.01)))
    choice = select_budget("mnist/val_sweep", tmp_path)
    assert choice.epochs == e[1]
    assert choice.gains[e[0]] == pytest.approx(0.01) and choice.gains[e[1]] == pytest.approx(0.9 * tol)
    assert choice.val_acc["cp_r64"][e[2]] == pytest.approx(0.9 + gain[e[2]])   # the final epoch, not the best
    table = budget_table(choice)
    assert f"**Chosen: {e[1]} epochs**" in table and "| `cp_r64` |" in table
    assert choice.to_dict()["epochs"] == e[1]


def test_select_budget_never_decides_without_every_probe(tmp_path):
    first, second = experiments.BUDGET_EPOCHS["cifar10/val_sweep"][:2]
    _write_budget_runs(tmp_path, "cifar10/val_sweep",
                       lambda probe, e: None if (probe, e) == ("ht_r4", second) else 0.5,
                       status_of=lambda probe, e: "running" if (probe, e) == ("tt_r64", second) else "completed")
    choice = select_budget("cifar10/val_sweep", tmp_path)
    assert choice.epochs is None
    assert "ht_r4" in choice.reason and "tt_r64" in choice.reason and "cp_r4" not in choice.reason
    assert "No budget chosen" in budget_table(choice)


def test_select_budget_stays_undecided_when_every_doubling_helps(tmp_path):
    _write_budget_runs(tmp_path, "mnist/val_best", lambda probe, e: 0.5 + e / 100)
    choice = select_budget("mnist/val_best", tmp_path)
    assert choice.epochs is None and "last candidate pair" in choice.reason


def test_select_budget_rejects_a_budget_as_soon_as_one_probe_still_gains(tmp_path):
    """A probe run at both budgets that rises by the tolerance rejects the shorter one, whatever the
    probes not yet run would show; a small rise decides nothing while probes are missing."""
    tol, study = experiments.BUDGET_TOL, "cifar10/val_best"
    e = experiments.BUDGET_EPOCHS[study]
    lead = experiments.BUDGET_PROBES[study][0]

    def val_acc(rise_at_last):
        return lambda probe, epochs: (0.5 + 0.1 * e.index(epochs) + (rise_at_last if epochs == e[-1] else 0)
                                      if epochs <= e[1] or probe == lead else None)
    _write_budget_runs(tmp_path / "gains", study, val_acc(2 * tol))
    choice = select_budget(study, tmp_path / "gains")
    assert choice.epochs is None and choice.partial == e[1:-1]
    assert choice.gains[e[-2]] == pytest.approx(0.1 + 2 * tol)
    assert "at least" in choice.reason and "last candidate pair" in choice.reason
    assert f"≥ {100 * choice.gains[e[-2]]:+.2f}" in budget_table(choice)
    _write_budget_runs(tmp_path / "flat", study, lambda probe, epochs: 0.5 + 0.1 * min(e.index(epochs), 1)
                       if epochs <= e[1] or probe == lead else None)
    choice = select_budget(study, tmp_path / "flat")
    assert choice.epochs is None and choice.reason.startswith(f"undecided: {e[1]} against {e[2]} epochs lacks")
    assert lead not in choice.reason and all(p in choice.reason for p in experiments.BUDGET_PROBES[study][1:])


@pytest.mark.parametrize("study", list(experiments.BUDGET_SEEDS))
def test_budget_seeds_are_the_groups_seeded_runs_with_the_studys_budget(study):
    seeds = experiments.budget_seeds(study)
    assert seeds
    for (probe, epochs, seed), name in seeds.items():
        assert epochs in experiments.BUDGET_EPOCHS[study] and seed != 0
        config, own = experiments.get(name), experiments.get(f"{study}/{probe}_s{seed}")
        assert (config.epochs, config.seed) == (epochs, seed)
        assert config.replace(epochs=own.epochs, name=own.name, results_path=own.results_path,
                              checkpoint_dir=own.checkpoint_dir) == own, name


def test_budget_section_names_a_folder_no_study_writes_to(tmp_path):
    with pytest.raises(ValueError, match=r"results/svhn/budget;.*results/mnist/budget_best"):
        budget_tables(tmp_path / "svhn" / "budget")


def test_best_model_budget_section_lists_every_longer_run():
    folder = ROOT / "results" / "cifar10" / "budget_best"
    own = experiments.get("cifar10/val_best/tt-shared_r32").epochs
    longer = [p for p in folder.glob("*.json") if json.loads(p.read_text())["config"]["epochs"] > own]
    text = budget_tables(folder)
    assert ("The runs longer than" in text) == bool(longer)
    rows = [line for line in text.split("The runs longer than")[-1].splitlines() if line.startswith("| ")
            and " 45,000 | " in line]
    assert len(rows) == len(longer)


def test_budget_study_names_an_unknown_study():
    with pytest.raises(ValueError, match="'svhn/val_sweep'.*mnist/val_sweep"):
        select_budget("svhn/val_sweep")


@pytest.mark.parametrize("dataset", list(experiments.SWEEP_EPOCHS))
def test_the_sweep_budget_is_the_doubling_rules_choice(dataset):
    """The converged sweeps train for the budget select_budget reads from the committed probes (the
    largest candidate where the rule cannot decide)."""
    study = f"{dataset}/val_sweep"
    choice = select_budget(study, ROOT / "results")
    assert not choice.reason.startswith("undecided: ") or "last candidate pair" in choice.reason, choice.reason
    assert experiments.SWEEP_EPOCHS[dataset] == (choice.epochs or experiments.BUDGET_EPOCHS[study][-1])
    for name, config in experiments.group(f"{dataset}/converged_sweep/").items():
        assert config.epochs == experiments.SWEEP_EPOCHS[dataset], name
        own = experiments.get(name.replace("converged_sweep", "val_sweep"))
        assert config.replace(epochs=own.epochs, name=own.name, results_path=own.results_path,
                              checkpoint_dir=own.checkpoint_dir) == own, name


def test_sweep_table_early_stopping_reads_the_epoch_of_best_validation_accuracy():
    history = [{"val_acc": 0.5, "test_acc": 0.1}, {"val_acc": 0.7, "test_acc": 0.2},
               {"val_acc": 0.7, "test_acc": 0.9}, {"val_acc": 0.6, "test_acc": 0.95}]
    runs = [{"config": {"model": "cp", "rank": 2}, "history": history, "params": 5, "status": "completed"}]
    assert "| 2 | 20.00 (5) |" in sweep_table(runs, epoch="best-val")   # the first best epoch, not the best test
    assert "| 2 | 95.00 (5) |" in sweep_table(runs)
    assert history_entry({"history": [{"test_acc": 0.3}]}, "best-val") is None
    with pytest.raises(ValueError, match="'best'"):
        history_entry(runs[0], "best")


def test_training_curves_plot_the_split_asked_for():
    import matplotlib
    matplotlib.use("Agg")
    from tt_rnn import plots
    history = [{"epoch": 1, "train_acc": 0.3, "val_acc": 0.4, "val_loss": 1.5, "test_acc": 0.2, "test_loss": 2.0},
               {"epoch": 2, "train_acc": 0.5, "val_acc": 0.6, "val_loss": 1.1, "test_acc": 0.3, "test_loss": 1.9}]
    run = {"history": history, "params": 7}
    fig = plots.training_curves({"a": run}, split="val")
    assert list(fig.axes[0].lines[0].get_ydata()) == [40.0, 60.0]
    assert list(fig.axes[1].lines[0].get_ydata()) == [1.5, 1.1]
    assert "validation" in fig.axes[0].get_title()
    assert list(plots.training_curves({"a": run}).axes[0].lines[0].get_ydata()) == [20.0, 30.0]
    with pytest.raises(ValueError, match="'train'"):
        plots.training_curves({"a": run}, split="train")


def test_scratch_dir_is_removed_when_the_process_exits(tmp_path):
    import os
    import subprocess
    import sys
    code = ("from tt_rnn.notebooks import scratch_dir\n"
            "d = scratch_dir('probe_')\n(d / 'f.txt').write_text('x')\nprint(d)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "TMPDIR": str(tmp_path)}).stdout.strip()
    assert Path(out).parent == tmp_path and Path(out).name.startswith("probe_")
    assert not Path(out).exists()


def test_the_readme_figure_is_drawn_from_the_results_files(tmp_path, monkeypatch):
    from tt_rnn import plots
    monkeypatch.chdir(ROOT)
    assert plots.main(["--out", str(tmp_path)]) == 0
    assert (tmp_path / plots.README_FIGURE).stat().st_size > 10_000
    assert (ROOT / "docs" / "figures" / plots.README_FIGURE).is_file(), "run `make figures`"
    assert f"docs/figures/{plots.README_FIGURE}" in (ROOT / "README.md").read_text()


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; details belong in docs/"


def test_results_files_keep_arrays_of_numbers_on_one_line(tmp_path):
    # a final run stores 10,000 test predictions: one line, not 10,000; strings are never touched
    obj = {"test_predictions": {"predicted": list(range(10)) * 3, "acc": 0.5}, "val_curve": [0.1, 2.5e-07, -3],
           "note": "[1,\n 2]", "nested": [[1, 2], [3]], "mixed": [1, "x"], "empty": []}
    write_json(obj, tmp_path / "r.json")
    text = (tmp_path / "r.json").read_text()
    assert json.loads(text) == obj
    assert '"predicted": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1,' in text and '"val_curve": [0.1, 2.5e-07, -3]' in text
    assert '"mixed": [\n' in text  # an array that is not all numbers keeps one item per line
