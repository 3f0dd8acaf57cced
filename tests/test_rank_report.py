"""The n = 2, r = 3 table code path and the markdown of results/rank (rank_tables)."""

import json
import os
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from tt_rnn import rank as R
from tt_rnn.tt import random_tt

ROOT = Path(__file__).resolve().parent.parent


def test_table_policy_and_published_values_are_defined_once():
    assert R.table_strategy(R.GALLOP_MAX_D) == ("gallop", None)
    assert R.table_strategy(R.GALLOP_MAX_D + 1) == ("descend", R.TABLE_TIME_LIMIT)
    assert set(R.KHRULKOV_2018_ESTIMATES) == set(R.KHRULKOV_2018_BOUNDS)
    bench = (ROOT / "benchmarks" / "bench_rank.py").read_text()
    nb = (ROOT / "estimate_cp_rank_for_random_tensor.ipynb").read_text()
    for text in (bench, nb):
        assert "34, 8: 42" not in text and "sys.path" not in text


def test_rows_write_and_reuse_decompositions(tmp_path):
    folder = tmp_path / "rank"
    row = R.n2_r3_row(4, folder=folder, write_decomposition=True)
    assert (row["lower"], row["upper"]) == (4, 4)
    # the rank-4 fit has irrational factors: no exact certificate, so the row is not determined
    assert not row["upper_certified"] and not row["determined"]
    assert row["decomposition"] == "decompositions/n2_r3_d4.npz" and row["lower_field"] == "complex"
    rec = R.verify_decomposition(folder / row["decomposition"])
    assert rec.rank == 4 and rec.recomputed_error <= 1e-10
    # a stored decomposition below the fresh upper bound wins (here: fresh search switched off by a
    # zero time budget, so the fresh upper bound is the trivial one)
    again = R.n2_r3_row(4, folder=folder, time_limit=0.0)
    assert again["upper"] == 4 and again["upper_source"] == "stored decomposition (verified)"


def test_table_json_and_markdown(tmp_path):
    folder = tmp_path / "rank"
    payload = R.n2_r3_table((2, 3, 5), folder=folder, write=True, log=None)
    saved = json.loads((folder / "n2_r3_table.json").read_text())
    assert [r["d"] for r in saved["rows"]] == [2, 3, 5] == [r["d"] for r in payload["rows"]]
    d5 = saved["rows"][2]
    # the pencil-uniqueness certificate lifts the complex lower end from 4 to 5 (issue 23)
    assert d5["lower_field"] == "complex" and d5["lower_complex"] == 5 and d5["lower"] == 5
    assert d5["lower_method"] == R.LOWER_UNIQUENESS
    records = [dict(n=2, r=3, d=4, shared=True, seed=0, certified_rank=4, extra_field="ignored"),
               dict(n=3, r=2, d=4, shared=True, seed=0, certified_rank=6),
               dict(n=3, r=2, d=4, shared=False, seed=0, certified_rank=6),
               dict(n=10, r=3, d=4, shared=True, seed=0, certified_rank=27),
               dict(n=2, r=3, d=5, shared=True, seed=0, certified_rank=4)]
    (folder / "generic_unfolding_ranks.json").write_text(json.dumps({"records": records}))
    text = R.rank_tables(folder)
    assert "real CP rank" in text
    assert "| 5 | 7 | 4 | [5, 5] | R and C |" in text
    # certified / proven min(n, r)^{d/2} / min-cut, d = 5 skipped
    assert "| 2 | 3 | 4 / 4 / 4 |" in text and "| 3 | 2 | 6 / 4 / 6 |" in text
    assert "| 10 | 3 | 27 / 9 / 27 |" in text and "d = 5" not in text
    assert R.rank_tables(tmp_path / "empty") == ""


def test_committed_table_is_consistent_with_the_package():
    saved = json.loads((ROOT / "results" / "rank" / "n2_r3_table.json").read_text())
    for row in saved["rows"]:
        assert row["lower"] <= row["upper"]
        assert row["lower_field"] in ("real", "complex") and row["upper_field"] == "real"
        if row["d"] % 2 == 0:
            assert row["lower"] >= R.proven_bound(2, 3, row["d"])
        x = random_tt(2, 3, row["d"], shared=True, seed=row["seed"], integer=True).to_tensor()
        flat = R.unfolding_rank_mod_p(x, row["lower_evidence"]["certified_row_modes"])
        assert flat <= row["lower_complex"]
        # every certified lower end is recomputed by the package as committed
        again = R.cp_rank_bracket(x, fit=False, seed=row["seed"])
        assert (again.lower, again.lower_complex, again.lower_method) == \
            (row["lower"], row["lower_complex"], row["lower_method"])
        assert row["determined"] == (row["lower"] == row["upper"] and row["lower_certified"]
                                     and row["upper_certified"])
    md = R.rank_tables(ROOT / "results" / "rank")
    assert "n2_r3" in md and np.all([f"| {row['d']} |" in md for row in saved["rows"]])
