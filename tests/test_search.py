"""Per-format searches on validation with Optuna: trials never read the test set, the journal
resumes a search and is shared by workers, dead trials are retried from their checkpoints."""

from __future__ import annotations

import json
import subprocess
import sys

import optuna
import pytest

from tt_rnn import experiments as E
from tt_rnn import search as S
from tt_rnn.config import TrainConfig
from tt_rnn.runfiles import read_results, this_process
from tt_rnn.sweep import SweepRun, run_local
from tt_rnn.train import parameter_count


@pytest.fixture
def spec(tmp_path, monkeypatch, fake_data_dir):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    base = TrainConfig(dataset="mnist", model="cp", rank=2, m=8, features="linear", batch_size=64, val_size=100,
                       test_subset=50, device="cpu", num_threads=1, progress=False, data_dir=str(fake_data_dir),
                       download=False)
    return S.SearchSpec("tiny/cp", base, epochs=2, train_subset=200, n_trials=3)


def test_a_search_runs_its_trials_on_validation_only_and_resumes(spec, tmp_path):
    record = S.run_trials(spec)
    assert record["status"] == "completed" and record["n_finished"] == 3
    assert json.loads((tmp_path / "results/search/tiny/cp.json").read_text())["best"] == record["best"]
    for trial in record["trials"]:
        assert trial["state"] in ("COMPLETE", "PRUNED") and trial["params"]["init"] in ("identity", "random")
        run = read_results(tmp_path / "runs/search/tiny/cp" / f"{trial['key']}.json")
        assert all("test_acc" not in h for h in run["history"]) and run["config"]["evaluate_test"] is False
        assert trial["val_curve"] == [h["val_acc"] for h in run["history"]][:len(trial["val_curve"])]
    best = record["best"]
    assert best["value"] == max(t["value"] for t in record["trials"] if t["state"] == "COMPLETE")
    again = S.run_trials(spec)  # the journal holds the study: nothing more to do
    assert len(again["trials"]) == 3
    assert S.summary(S.SearchSpec("tiny/cp", spec.base, epochs=2, train_subset=200, n_trials=5))["status"] == "incomplete"


def test_a_trial_left_running_by_a_dead_worker_is_retried(spec, tmp_path):
    S.run_trials(spec)
    the_study = S.study(spec)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = the_study.ask()  # a worker asked for a trial, started it, and died
    dead.set_user_attr("key", "trial0099")
    dead.set_user_attr("worker", {**this_process(), "pid": int(gone.stdout)})
    dead.suggest_categorical("init", ["identity", "random"])
    alive = the_study.ask()  # another worker's trial, just started: left alone
    alive.set_user_attr("key", "trial0100")
    alive.set_user_attr("worker", this_process())
    starting = the_study.ask()  # asked, not yet labelled: left alone
    assert S._retry_dead_trials(spec, the_study) == 1
    assert starting.number != dead.number
    states = [t.state for t in the_study.get_trials(deepcopy=False)]
    assert states.count(optuna.trial.TrialState.FAIL) == 1 and states.count(optuna.trial.TrialState.WAITING) == 1
    assert states.count(optuna.trial.TrialState.RUNNING) == 2
    queued = [t for t in the_study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.WAITING][0]
    assert queued.user_attrs["resume_key"] == "trial0099"  # it resumes the dead trial's folder


def test_two_workers_share_one_journal_through_the_sweep_runner(spec, tmp_path):
    spec = S.SearchSpec("tiny/cp2", spec.base, epochs=1, train_subset=200, n_trials=4)
    runs = [SweepRun(f"search/tiny/cp2#{w}", spec.base, job=S.SearchJob(spec, worker=w)) for w in range(2)]
    report = run_local(runs, max_parallel=2, log_dir=tmp_path / "logs", out=lambda line: None)
    assert report["failed"] == [] and len(report["done"]) == 2
    record = S.summary(spec)
    assert record["n_finished"] >= 4 and record["status"] == "completed"
    assert len({t["number"] for t in record["trials"]}) == len(record["trials"])
    assert len({t["key"] for t in record["trials"]}) == len(record["trials"])  # one folder per trial


def test_every_format_of_a_data_set_gets_the_same_space_and_budget():
    for dataset in ("mnist", "cifar10"):
        specs = [s for name, s in S.SEARCHES.items() if name.startswith(dataset + "/")]
        assert {s.name.split("/")[1] for s in specs} == {"tt-shared", "tt", "ht", "cp", "pool-linear", "cnn"}
        assert len({(s.epochs, s.train_subset, s.n_trials, s.base.rank, s.base.val_size) for s in specs}) == 1
        assert all(s.base.val_size > 0 for s in specs)


def test_the_baselines_draw_only_the_fields_that_apply_to_them():
    params = {"init": "identity", "lr": 1e-3, "weight_decay": 0.0, "dropout": 0.1, "m": 64, "init_noise": 1.0,
              "features": "linear", "augment": "shift"}
    for dataset, augment, size in (("mnist", "shift", 28), ("cifar10", "crop-flip", 32)):
        drawn = {}
        for fmt in ("tt", "pool-linear", "cnn"):
            trial = optuna.trial.FixedTrial({**params, "augment": augment})
            spec = S.SEARCHES[f"{dataset}/{fmt}"]
            changes = S.suggest(trial, dataset, spec.base)
            drawn[fmt] = set(trial.params)
            spec.base.replace(**changes).validate()  # every trial is a configuration that can run
        assert drawn["tt"] == set(params)
        assert drawn["pool-linear"] == set(params) - {"init", "init_noise"}
        assert drawn["cnn"] == set(params) - {"init", "init_noise", "features"}
        cnn = S.SEARCHES[f"{dataset}/cnn"].base
        assert (cnn.features, cnn.patch_size) == ("cnn", size)  # the whole image


def test_a_dry_run_reads_the_journal_without_writing_to_it(spec, tmp_path, monkeypatch, capsys):
    S.run_trials(spec)
    before = spec.journal.read_bytes()
    monkeypatch.setitem(S.SEARCHES, spec.name, spec)
    assert S.main([spec.name, "--dry-run"]) == 0
    assert "tiny/cp: 3 of 3 trials finished" in capsys.readouterr().out
    assert spec.journal.read_bytes() == before


def test_a_search_resumed_one_trial_at_a_time_draws_new_configurations(spec):
    # every call is a new process in practice (a new study object, a freshly seeded sampler); an
    # earlier version seeded each with the same number and drew the first start-up trial again
    spec = S.SearchSpec("tiny/cp3", spec.base, epochs=1, train_subset=200, n_trials=4)
    for _ in range(4):
        S.run_trials(spec, max_trials=1)
    record = S.summary(spec)
    drawn = [json.dumps(t["params"], sort_keys=True) for t in record["trials"]]
    assert len(drawn) == 4 and len(set(drawn)) == 4
    # the seed depends on the worker and on how many trials the journal holds, and on nothing else
    assert S.sampler_seed(spec, 0, 3) == S.sampler_seed(spec, 0, 3)
    assert len({S.sampler_seed(spec, w, n) for w in (0, 1) for n in (0, 1, 2)}) == 6


def test_the_equal_parameter_budgets_are_where_every_format_lands_within_one_percent(monkeypatch, capsys, selection):
    entry = S.equal_params_entry("mnist", [300_000])
    assert entry == {300_000: E.EQUAL_PARAMS["mnist"][300_000]}  # the fixture's budget, found again
    for fmt, rank in entry[300_000].items():
        count = parameter_count(E.selected_config(f"mnist/{fmt}").replace(rank=rank))
        assert abs(count - 300_000) <= 0.01 * 300_000, (fmt, rank, count)
    monkeypatch.setattr(S, "SELECTED", {k: v for k, v in E.SELECTED.items() if not k.startswith("cifar10/")})
    assert S.main(["cifar10/", "--budgets", "80000"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no format of 'cifar10' has a SELECTED entry yet" in err


def test_the_pruner_waits_half_a_trial_and_a_name_selects_only_itself(spec):
    assert spec.prune_after == 1 and S.SearchSpec("x/y", spec.base, epochs=10, train_subset=None, n_trials=1).prune_after == 5
    assert S.study(spec).pruner._n_warmup_steps == spec.prune_after
    assert all(s.prune_after == s.epochs // 2 for s in S.SEARCHES.values())
    assert [s.name for s in S._select("cifar10/tt")] == ["cifar10/tt"]  # not also cifar10/tt-shared
    assert {s.name for s in S._select("cifar10/tt*")} == {"cifar10/tt", "cifar10/tt-shared"}


def test_a_command_can_start_its_workers_at_another_index(spec, monkeypatch, capsys):
    # two commands on the same search at once need different worker indices (different samplers)
    monkeypatch.setitem(S.SEARCHES, spec.name, spec)
    assert S.main([spec.name, "--first-worker", "3", "--max-trials", "1", "--max-parallel", "1"]) == 0
    out = capsys.readouterr().out
    assert f"{spec.name}#3" in out and f"{spec.name}#0" not in out
    assert S.main([spec.name, "--first-worker", "-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--first-worker -1" in err
