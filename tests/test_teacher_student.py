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
from tt_rnn.teacher_student import (TeacherStudentConfig, best_cp_approximation, cp_ranks_for, fit_student,
                                    load_results, make_student, one_hot_features, run_experiment, skip_reason,
                                    table_inputs, table_sse)
from tt_rnn.teacher_student_analysis import epsilon_rank, fraction_reaching, rank_needed, teacher_student_tables
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
