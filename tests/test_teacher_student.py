"""Teacher-student experiments: teachers and their certified bounds, students, the closed-form
table loss, the epsilon-rank extraction, and the sweep integration (fast: a few seconds)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from tt_rnn.networks import CPNetwork, TTNetwork
from tt_rnn.rank import w_tensor
from tt_rnn.sweep import plan_configs, run_local
from tt_rnn.teacher_student import (TeacherStudentConfig, best_cp_approximation, cp_ranks_for, fit_classifier,
                                    distinct_rows, fit_student, load_results, make_student, one_hot_features,
                                    run_experiment, sampled_inputs, skip_reason, table_inputs, table_sse,
                                    train_with_lr_selection)
from tt_rnn.teacher_student_analysis import (epsilon_rank, error_by_rank_markdown, fraction_reaching, rank_needed,
                                             teacher_student_tables)
from tt_rnn.teachers import certified_cp_lower_bound, make_teacher

torch.set_num_threads(1)


def _table_data(table: np.ndarray):
    n, d = table.shape[0], table.ndim
    return one_hot_features(table_inputs(n, d), n), torch.as_tensor(table.reshape(-1), dtype=torch.float64)


def test_a_shared_core_student_at_the_teachers_cores_reproduces_the_teacher_exactly():
    teacher = make_teacher("tt-shared", 2, 3, 6, [5, 1])
    student = make_student("tt-shared", 6, 2, 3, seed=0)
    student.load_state_dict(teacher.network.state_dict())
    features, target = _table_data(teacher.table)
    with torch.no_grad():
        reproduced = student.score(features)[:, 0] / teacher.scale
        assert torch.max(torch.abs(reproduced - target)).item() < 1e-12
        student.last_core /= teacher.scale  # the normalised teacher, exactly in the student's format
    # ... and training from there keeps it (the loss is 0 up to rounding: no step is taken).
    fit = fit_student(student, features, target, lr=1e-2, steps=20, table=torch.as_tensor(teacher.table))
    assert fit["train_error"] < 1e-10 and fit["steps"] == 0
    # A random student of the same format and rank does not start there.
    other = make_student("tt-shared", 6, 2, 3, seed=0)
    with torch.no_grad():
        assert (other.score(features)[:, 0] - target).norm() / target.norm() > 0.1


def test_teachers_are_seeded_and_their_certified_bound_is_a_rank_lower_bound():
    a, b = make_teacher("tt-shared", 2, 3, 6, [0, 3]), make_teacher("tt-shared", 2, 3, 6, [0, 3])
    assert np.array_equal(a.table, b.table) and a.seed == [0, 3]
    assert not np.array_equal(a.table, make_teacher("tt-shared", 2, 3, 6, [0, 4]).table)
    assert abs(np.sqrt(np.mean(a.table ** 2)) - 1) < 1e-12  # normalised
    # The certified bound never exceeds the numerical unfolding rank (both are ranks of the same matrix).
    for family, r in (("tt-shared", 3), ("tt", 3), ("ht", 3), ("cp", 4)):
        t = make_teacher(family, 2, r, 4, [1, 2])
        assert 1 <= t.cp_lower_bound <= t.numerical_rank
    assert make_teacher("cp", 2, 2, 4, [1, 2]).cp_lower_bound <= 2  # a rank-2 CP teacher: bound <= its rank
    with pytest.raises(ValueError, match="power of two, got d = 6"):
        make_teacher("ht", 2, 3, 6, 0)
    with pytest.raises(ValueError, match="unknown teacher family 'rnn'"):
        make_teacher("rnn", 2, 3, 6, 0)


def test_a_cp_student_below_the_certified_bound_stays_at_the_best_rank_one_error():
    # W = e1e1e2 + e1e2e1 + e2e1e1: certified unfolding bound 2; its best rank-1 approximation is
    # (2/sqrt 3) x (unit vector)^3 along (1,1,1)/sqrt3 ... with ||W|| = sqrt 3 and spectral norm
    # 2/sqrt 3, so the best rank-1 relative error is sqrt(1 - (4/3) / 3) = sqrt(5) / 3.
    w = w_tensor()
    bound, _ = certified_cp_lower_bound(w.astype(np.int64).astype(object))
    assert bound == 2
    best_rank_one = math.sqrt(5) / 3
    features, target = _table_data(w)
    errors = []
    for seed in range(3):
        student = make_student("cp", 3, 2, 1, seed=seed)
        fit = fit_student(student, features, target, lr=3e-2, steps=1500, table=torch.as_tensor(w))
        errors.append(fit["train_error"])
    assert min(errors) >= best_rank_one - 1e-9  # no rank-1 student can do better ...
    assert min(errors) < best_rank_one + 1e-3   # ... and gradient descent finds the optimum
    als = best_cp_approximation(w, 1, restarts=2, n_iter=300, seed=0)
    assert best_rank_one - 1e-9 <= als["error"] < best_rank_one + 1e-4


@pytest.mark.parametrize("kind", ["cp", "tt", "tt-shared"])
def test_the_closed_form_table_loss_equals_the_forward_pass(kind):
    table = torch.as_tensor(make_teacher("tt-shared", 2, 3, 6, [0, 9]).table)
    features, target = _table_data(table.numpy())
    net = make_student(kind, 6, 2, 4, seed=3)
    closed = table_sse(net, table)
    forward = (net.score(features)[:, 0] - target).square().sum()
    assert torch.allclose(closed, forward, rtol=1e-10)
    g_closed = torch.autograd.grad(closed, list(net.parameters()))
    g_forward = torch.autograd.grad((net.score(features)[:, 0] - target).square().sum(), list(net.parameters()))
    for a, b in zip(g_closed, g_forward):
        assert torch.allclose(a, b, rtol=1e-8, atol=1e-10)
    assert table_sse(make_student("ht", 4, 2, 2), torch.zeros(2, 2, 2, 2, dtype=torch.float64)) is None


def test_identity_initialisation_is_near_a_constant_for_one_hot_features():
    features = one_hot_features(table_inputs(2, 8), 2)
    for kind in ("cp", "tt-shared", "tt", "ht"):
        net = make_student(kind, 8, 2, 4, init="identity", seed=1)
        random = make_student(kind, 8, 2, 4, init="random", seed=1)
        with torch.no_grad():
            spread = lambda n: float(torch.log(n(features, return_log_scale=True)[1].exp()).std())  # noqa: E731
            assert spread(net) < spread(random), kind  # the per-input scale varies less near the identity
    assert isinstance(make_student("cp", 4, 2, 3), CPNetwork) and make_student("tt-shared", 4, 2, 3).shared
    assert isinstance(make_student("tt", 4, 2, 3), TTNetwork)
    with pytest.raises(ValueError, match="init = 'ones'"):
        make_student("cp", 4, 2, 3, init="ones")


def test_epsilon_rank_on_synthetic_curves():
    ranks = [1, 2, 4, 8, 16]
    assert epsilon_rank(ranks, [0.9, 0.3, 0.05, 0.004, 1e-5], 1e-1) == 4
    assert epsilon_rank(ranks, [0.9, 0.3, 0.05, 0.004, 1e-5], 1e-2) == 8
    assert epsilon_rank(ranks, [0.9, 0.3, 0.2, 0.15, 0.11], 1e-1) is None  # never reached: None, not a number
    assert epsilon_rank(ranks, [0.9, 0.05, 0.2, 0.15, 0.01], 1e-1) == 2    # non-monotone: the first that reaches
    assert epsilon_rank([8, 2, 4], [0.001, 0.5, float("nan")], 1e-2) == 8  # unsorted input, nan never reaches
    assert epsilon_rank(ranks, [0.9, 0.3, 0.1, 0.0, 0.0], 1e-1) == 4       # the threshold itself reaches
    with pytest.raises(ValueError):
        epsilon_rank([1, 2], [0.1], 0.1)


def test_cp_ranks_reach_past_the_generic_rank():
    assert cp_ranks_for(2, 4, 256) == [1, 2, 4, 8]          # generic rank of 2x2x2x2 is 4
    assert cp_ranks_for(2, 12, 128)[-1] == 128              # capped
    assert cp_ranks_for(2, 8, 256)[-1] >= 2 * 29


def _tiny(tmp_path, tag, **kw) -> TeacherStudentConfig:
    base = dict(family="tt-shared", n=2, r=2, ds=(4,), teachers=2, students=(("cp", (1, 4)), ("tt-shared", (2,))),
                inits=("random",), restarts=2, lrs=(1e-2, 3e-2), select_steps=10, steps=40, als_restarts=1,
                als_iter=50, results_path=str(tmp_path / "out" / f"{tag}.json"))
    base.update(kw)
    return TeacherStudentConfig(f"tiny/{tag}", **base)


def test_a_tiny_experiment_records_everything_and_resumes_unit_by_unit(tmp_path):
    config = _tiny(tmp_path, "resume")
    partial = run_experiment(config, max_units=3)
    assert partial["status"] == "running" and len(partial["records"]) == 3
    assert skip_reason(config) == ""
    done = run_experiment(config)
    stored = load_results(tmp_path / "out" / "resume.json")
    assert done["status"] == stored["status"] == "completed"
    assert [r["key"] for r in stored["records"][:3]] == [r["key"] for r in partial["records"]]
    assert stored["records"][:3] == partial["records"]  # kept, not recomputed
    kinds = {(r["job"], r.get("kind")) for r in stored["records"]}
    assert kinds == {("teacher", None), ("student", "cp"), ("student", "tt-shared"), ("als", None)}
    assert stored["config"]["results_path"].endswith("resume.json") and not stored["config"]["results_path"].startswith("/")
    assert stored["provenance"]["code"].keys() >= {"commit", "dirty"}
    assert skip_reason(config) == "completed"
    # The analysis reads it: every teacher has an epsilon-rank entry and fractions add up.
    needed = rank_needed(stored, 1e-1)
    assert set(needed) == {4} and len(needed[4]["cp"]) == 2 and needed[4]["certified"] == [
        r["cp_lower_bound_certified"] for r in stored["records"] if r["job"] == "teacher"]
    frac = fraction_reaching(stored, "tt-shared", 2, 1.0)[4]
    assert frac["total"] == 4 and 0 <= frac["reached"] <= 4
    assert "tiny/resume" in teacher_student_tables(tmp_path / "out")
    with pytest.raises(ValueError, match="steps differ"):
        skip_reason(config.replace(steps=101))


def test_a_config_names_the_offending_value():
    with pytest.raises(ValueError, match="family = 'rnn'"):
        TeacherStudentConfig("x", family="rnn")
    with pytest.raises(ValueError, match="continuous inputs need n = 2"):
        TeacherStudentConfig("x", inputs="continuous", n=3, n_train=(10,))
    with pytest.raises(ValueError, match="ranks 'auto' is for CP students only"):
        TeacherStudentConfig("x", students=(("tt", "auto"),))


def test_the_sweep_runs_a_teacher_student_experiment_then_skips_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    configs = {"tiny/sweep": _tiny(tmp_path, "sweep", teachers=1, students=(("cp", (1, 2)),), als_iter=0)}
    lines = []
    report = run_local(plan_configs(configs), log_dir=tmp_path / "logs", out=lines.append)
    assert report["done"] == ["tiny/sweep"] and report["failed"] == []
    assert lines[0].startswith("done    tiny/sweep: completed, 3 units")
    saved = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert saved["status"] == "completed" and saved["command"] == "python -m tt_rnn.sweep tiny/sweep"
    again = plan_configs(configs)
    assert [r.action for r in again] == ["skip"]
    lines.clear()
    report = run_local(again, log_dir=tmp_path / "logs", out=lines.append)
    assert report["skipped"] == ["tiny/sweep"] and lines[-1] == "sweep: 0 done, 1 skipped, 0 failed"


# ----------------------------------------------------------------------------- beyond the table, classification

def test_sampled_inputs_are_distinct_disjoint_and_nested():
    test, train = sampled_inputs(2, 12, 300, 1000, [0, 1])
    codes = lambda x: {tuple(row) for row in x}  # noqa: E731
    assert test.shape == (300, 12) and train.shape == (1000, 12)
    assert len(codes(test)) == 300 and len(codes(train)) == 1000 and not codes(test) & codes(train)
    assert set(np.unique(train)) <= {0, 1}
    again_test, smaller = sampled_inputs(2, 12, 300, 1000, [0, 1])
    assert np.array_equal(again_test, test) and np.array_equal(smaller[:400], train[:400])
    big_test, big_train = sampled_inputs(3, 40, 50, 200, 3)  # 3^40 > 2^62: rows drawn, repeats dropped
    assert len(codes(big_test) | codes(big_train)) == 250
    with pytest.raises(ValueError, match="1300 distinct inputs asked for, but n\\^d = 1024"):
        sampled_inputs(2, 10, 300, 1000, 0)



def test_distinct_rows_draws_again_until_enough_rows_are_distinct():
    # all 8 rows of {0,1}^3: the first batch of 16 draws almost surely repeats some, so this
    # needs the redraw loop (a single batch would return fewer rows)
    for seed in range(20):
        rows = distinct_rows(np.random.default_rng(seed), 2, 3, 8)
        assert rows.shape == (8, 3) and len({tuple(r) for r in rows}) == 8
    first = distinct_rows(np.random.default_rng(0), 3, 40, 100)
    assert np.array_equal(first, distinct_rows(np.random.default_rng(0), 3, 40, 100))
    with pytest.raises(ValueError, match="count = 9 distinct rows asked for, but n\\^d = 8"):
        distinct_rows(np.random.default_rng(0), 2, 3, 9)

def test_a_classifier_teacher_extends_the_regression_teacher_of_its_seed():
    for family, r, d in (("tt-shared", 3, 6), ("tt", 3, 6), ("ht", 3, 4), ("cp", 4, 6)):
        one, ten = make_teacher(family, 2, r, d, [4, 2]), make_teacher(family, 2, r, d, [4, 2], outputs=10)
        assert np.array_equal(one.table, ten.table) and one.cp_lower_bound == ten.cp_lower_bound
        features = one_hot_features(table_inputs(2, d), 2)
        with torch.no_grad():
            s1, s10 = one.network.score(features), ten.network.score(features)
        assert s10.shape == (2 ** d, 10) and torch.allclose(s1[:, 0], s10[:, 0], rtol=1e-12, atol=1e-12)
        assert len(set(s10.argmax(1).tolist())) > 1  # the labels are not constant
        assert ten.summary()["outputs"] == 10 and one.summary()["outputs"] == 1
    with pytest.raises(ValueError, match="outputs = 0"):
        make_teacher("tt", 2, 3, 6, 0, outputs=0)


def test_without_a_table_the_scale_is_estimated_on_random_inputs():
    teacher = make_teacher("tt-shared", 2, 3, 18, [0, 9])
    assert teacher.table is None and teacher.cp_lower_bound is None
    assert teacher.summary()["scale_from"] == "random inputs (estimate)"
    x, _ = sampled_inputs(2, 18, 4000, 1, 5)
    with torch.no_grad():
        rms = float((teacher.network.score(one_hot_features(x, 2))[:, 0] / teacher.scale).square().mean().sqrt())
    assert 0.8 < rms < 1.25  # the normalised teacher has about unit RMS on fresh inputs


def test_a_classifier_student_at_the_teachers_cores_classifies_everything_and_training_learns():
    teacher = make_teacher("tt-shared", 2, 3, 12, [1, 1], outputs=10)
    test, train = sampled_inputs(2, 12, 500, 1500, 2)
    f_train, f_test = one_hot_features(train, 2), one_hot_features(test, 2)
    with torch.no_grad():
        y_train, y_test = teacher.network.score(f_train).argmax(1), teacher.network.score(f_test).argmax(1)
    exact = make_student("tt-shared", 12, 2, 3, outputs=10)
    exact.load_state_dict(teacher.network.state_dict())
    fit = fit_classifier(exact, f_train, y_train, lr=1e-3, steps=0)
    assert fit["train_error"] == 0.0
    out = train_with_lr_selection("tt-shared", 6, 12, 2, (f_train, y_train), init="random", seeds=[0], lrs=(3e-2,),
                                  select_steps=20, steps=300, val_fraction=0.1, split_seed=0,
                                  evaluate={"test": (f_test, y_test)}, outputs=10)
    run = out["runs"][0]
    majority = float(torch.bincount(y_test, minlength=10).max()) / len(y_test)
    assert run["test_error"] < 1 - majority  # better than a constant classifier
    assert out["n_parameters"] == sum(p.numel() for p in make_student("tt-shared", 12, 2, 6, outputs=10).parameters())


def test_a_tiny_sampled_classification_experiment_records_test_errors_and_majority_share(tmp_path):
    config = _tiny(tmp_path, "classify", inputs="sampled", task="classification", classes=4, ds=(10,), teachers=1,
                   n_train=(200, 400), n_test=100, students=(("cp", (2,)), ("tt-shared", (2,))), inits=("random",),
                   restarts=1, als_iter=0)
    done = run_experiment(config)
    students = [r for r in done["records"] if r["job"] == "student"]
    assert done["status"] == "completed" and len(students) == 4
    assert {r["N"] for r in students} == {200, 400}
    for rec in students:
        assert 0 < rec["majority_share"] <= 1 and 0 <= rec["runs"][0]["test_error"] <= 1
    assert done["config"]["task"] == "classification"
    tables = teacher_student_tables(tmp_path / "out")
    assert "tiny/classify" in tables and "Test accuracy (labels: argmax" in tables
    row = next(line for line in tables.splitlines() if line.startswith("| 10 | ") and "| TT-shared | 2 |" in line)
    at_largest = next(r for r in students if r["kind"] == "tt-shared" and r["N"] == 400)  # the largest N is shown
    accuracy = 1 - at_largest['runs'][0]['test_error']
    assert f"| {accuracy:.1%} | {accuracy:.1%}–{accuracy:.1%} | 1 |" in row
    regression = _tiny(tmp_path, "sampled", inputs="sampled", ds=(10,), teachers=2, n_train=(300,), n_test=100,
                       students=(("cp", (2, 4)),), inits=("random",), restarts=1, als_iter=0)
    out = run_experiment(regression)
    errors = sorted(min(r["runs"][0]["test_error"] for r in out["records"] if r["job"] == "student"
                        and r["teacher"] == t and r["rank"] == 4) for t in (0, 1))
    text = error_by_rank_markdown(out)
    row = next(line for line in text.splitlines() if "| CP | 4 |" in line)
    reached = sum(e <= 0.1 for e in errors)
    assert f"| {np.median(errors):.2g} | {errors[0]:.2g}–{errors[1]:.2g} | {reached}/2 |" in row


def test_classification_and_sampled_configs_name_the_offending_value():
    with pytest.raises(ValueError, match="classification needs held-out inputs"):
        TeacherStudentConfig("x", task="classification")
    with pytest.raises(ValueError, match="task = 'ranking'"):
        TeacherStudentConfig("x", task="ranking")
    with pytest.raises(ValueError, match="d = 8 has only 256 distinct inputs"):
        TeacherStudentConfig("x", inputs="sampled", ds=(8,), n_train=(500,), n_test=100)


def test_a_results_file_written_before_the_task_field_is_still_the_same_experiment(tmp_path):
    config = _tiny(tmp_path, "old", teachers=1, students=(("cp", (1,)),), als_iter=0)
    run_experiment(config)
    path = tmp_path / "out" / "old.json"
    stored = json.loads(path.read_text())
    for key in ("task", "classes"):
        del stored["config"][key]
    path.write_text(json.dumps(stored))
    assert skip_reason(config) == "completed"
    with pytest.raises(Exception, match="task differ"):
        skip_reason(config.replace(task="classification", inputs="sampled", ds=(12,), n_train=(10,), n_test=10))
