"""Stored CP decompositions: every committed upper bound re-checks; tampered decompositions fail."""

import json
import os
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pytest

from tt_rnn import rank as R
from tt_rnn.rank.__main__ import main as rank_cli
from tt_rnn.tt import random_tt

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results" / "rank"
DECOMPOSITIONS = sorted((RESULTS / "decompositions").glob("*.npz"))


def test_witnesses_are_committed():
    assert DECOMPOSITIONS, "results/rank/decompositions/*.npz missing"


@pytest.mark.parametrize("path", DECOMPOSITIONS, ids=lambda p: p.name)
def test_committed_witness_verifies(path):
    rec = R.verify_decomposition(path)
    assert rec.recomputed_error <= rec.tol <= R.DEFAULT_FIT_TOL
    assert rec.cores_match_seed and rec.rank >= 1


def test_every_fitted_upper_bound_of_the_table_has_its_decomposition():
    rows = json.loads((RESULTS / "n2_r3_table.json").read_text())["rows"]
    for row in rows:
        if row["upper_certified"]:            # the trivial slice bound needs no decomposition
            continue
        assert row["decomposition"], f"d={row['d']}: upper bound {row['upper']} without decomposition"
        rec = R.verify_decomposition(RESULTS / row["decomposition"])
        assert rec.rank == row["upper"] and rec.d == row["d"] and rec.seed == row["seed"]


def _small_decomposition(tmp_path):
    tt = random_tt(2, 3, 4, shared=True, seed=0, integer=True)
    fit = R.cp_fit(tt.to_tensor(), 4, seed=0)
    assert fit.exact
    path = tmp_path / "w.npz"
    meta = dict(n=2, r=3, d=4, shared=True, seed=0, integer_range=3, tol=R.DEFAULT_FIT_TOL)
    R.save_decomposition(path, cores=tt.cores, factors=fit.factors, meta=meta)
    return path, tt, fit


def _rewrite(path, out, **changes):
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays.update(changes)
    np.savez(out, **arrays)
    return out


def test_roundtrip_and_tampering(tmp_path):
    path, tt, fit = _small_decomposition(tmp_path)
    rec = R.verify_decomposition(path)
    assert rec.rank == 4 and rec.recomputed_error == pytest.approx(rec.claimed_error)
    # a perturbed factor: the recomputed error exceeds tol
    f0 = np.load(path)["factor_0"].copy()
    f0[0, 0] += 1e-3
    bad = _rewrite(path, tmp_path / "bad_factor.npz", factor_0=f0)
    with pytest.raises(R.DecompositionError, match="exceeds tol"):
        R.verify_decomposition(bad)
    # other cores (not the table's tensor)
    c1 = np.load(path)["core_1"].copy()
    c1[0, 0, 0] += 1
    with pytest.raises(R.DecompositionError, match="cores differ"):
        R.verify_decomposition(_rewrite(path, tmp_path / "bad_core.npz", core_1=c1))
    # a false claim in the meta
    meta = json.loads(str(np.load(path)["meta"]))
    meta["rel_error"] = meta["rel_error"] * 10
    with pytest.raises(R.DecompositionError, match="differs from the claim"):
        R.verify_decomposition(_rewrite(path, tmp_path / "bad_claim.npz", meta=np.array(json.dumps(meta))))
    # a missing entry
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files if k != "factor_2"}
    np.savez(tmp_path / "missing.npz", **arrays)
    with pytest.raises(R.DecompositionError, match="factor_"):
        R.verify_decomposition(tmp_path / "missing.npz")


def test_cli_verify_exit_codes(tmp_path, capsys):
    path, _, _ = _small_decomposition(tmp_path)
    assert rank_cli(["verify", str(path)]) == 0
    f0 = np.load(path)["factor_0"] * 1.01
    bad = _rewrite(path, tmp_path / "bad.npz", factor_0=f0)
    assert rank_cli(["verify", str(path), str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("FAIL") and "bad.npz" in err[0]
    assert rank_cli(["verify", str(tmp_path / "nope.npz")]) == 2


def test_save_decomposition_refuses_float_cores(tmp_path):
    with pytest.raises(ValueError, match="integer"):
        R.save_decomposition(tmp_path / "x.npz", cores=[np.ones((2, 2)), np.ones((2, 2))],
                       factors=[np.ones((2, 1)), np.ones((2, 1))], meta={})


def test_improve_descends_from_a_stored_decomposition(tmp_path, capsys):
    # an exact rank-6 fit of the d = 4 table tensor (CP rank 4) is walked down to rank 4
    tt = random_tt(2, 3, 4, shared=True, seed=0, integer=True)
    fit = R.cp_fit(tt.to_tensor(), 6, seed=0)
    assert fit.exact
    path = tmp_path / "decompositions" / "n2_r3_d4.npz"
    R.save_decomposition(path, cores=tt.cores, factors=fit.factors,
                   meta=dict(n=2, r=3, d=4, shared=True, seed=0, integer_range=3,
                             tol=R.DEFAULT_FIT_TOL))
    assert rank_cli(["improve", "--d", "4", "--folder", str(tmp_path), "--time-limit", "30"]) == 0
    rec = R.verify_decomposition(path)
    assert rec.rank == 4 and "descend_exact_fit" in rec.method
    assert "rank 4 fitted" in capsys.readouterr().out
