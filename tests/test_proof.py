"""Checks of the claims made about the witness in tensors_strong_hyp_sketch.pdf, and of the PDF.

The proof (paper/tensors_strong_hyp_sketch.tex, Section 4) uses 1-based indices; the package's
``witness_tt`` uses 0-based arrays. Here a proof index ``a`` is the array index ``a - 1``: the
idle ("between pairs") bond state ``q + 1`` is array index ``q``, and "mode indices <= q" are the
array indices ``0 .. q-1``. Every test names the statement of the PDF it checks by its LaTeX label (numbers may move).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tt_rnn.tt import odd_even_unfolding, random_tt, tt_to_tensor, witness_q, witness_tt

ROOT = Path(__file__).resolve().parents[1]

# (n, r) pairs covering n < r - 1, n = r - 1 and n > r - 1 (the latter both n = r and n > r).
PAIRS = [(1, 3), (2, 4), (2, 5),          # n < r - 1: q = n, m = n
         (2, 3), (3, 4),                  # n = r - 1: q = n, m = n
         (2, 2), (3, 3), (3, 2), (4, 3), (5, 3)]  # n >= r: q = r - 1, m = r = q + 1
CASES = [(n, r, d) for d in (2, 4, 6, 8) for (n, r) in PAIRS]


def _case_id(case):
    n, r, d = case
    rel = "n<r-1" if n < r - 1 else "n=r-1" if n == r - 1 else "n>r-1"
    return f"n{n}-r{r}-d{d}-{rel}"


def _cores(n, r, d):
    tt = witness_tt(n, r, d)
    first, last = tt.cores[0], tt.cores[-1]
    core = tt.cores[1] if d > 2 else None
    return tt, first, core, last


def _path_weight(first, core, last, idx, path):
    """Weight of the bond path ``path`` (length d - 1) for mode indices ``idx`` (length d)."""
    w = first[idx[0], path[0]]
    for t in range(1, len(idx) - 1):
        w = w * core[path[t - 1], idx[t], path[t]]
    return w * last[path[-1], idx[-1]]


def _nonzero_paths(first, core, last, idx):
    """All bond paths with non-zero weight, by depth-first extension with pruning.

    Exact enumeration: a path whose prefix already has a zero factor has zero weight, so
    pruning such prefixes drops only zero-weight paths.
    """
    r = first.shape[1]
    paths = [(a,) for a in range(r) if first[idx[0], a] != 0]
    for t in range(1, len(idx) - 1):
        paths = [p + (b,) for p in paths for b in range(r) if core[p[-1], idx[t], b] != 0]
    return [p for p in paths if last[p[-1], idx[-1]] != 0]


def _block(matrix, size, k):
    """Submatrix on rows and columns in [size]^k (0-based), both in lexicographic order."""
    n = int(round(matrix.shape[0] ** (1.0 / k)))
    sel = [int(np.ravel_multi_index(t, (n,) * k)) for t in itertools.product(range(size), repeat=k)]
    return matrix[np.ix_(sel, sel)]


# ---------------------------------------------------------------------------------------------
# Definition "Witness cores" (def:witness): the cores are exactly the ones written in the proof
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_witness_cores_match_definition(case):
    n, r, d = case
    q = witness_q(n, r)
    assert q == min(n, r - 1) and 1 <= q <= r - 1
    tt, first, core, last = _cores(n, r, d)
    assert tt.shared == (d > 2) and tt.shape == (n,) * d and tt.ranks == (r,) * (d - 1)
    if d > 3:
        assert all(c is core for c in tt.cores[1:-1])
    delta = lambda a, b: 1.0 if a == b else 0.0  # noqa: E731
    # proof indices (1-based) i in [n], alpha, beta in [r]
    for i in range(1, n + 1):
        for al in range(1, r + 1):
            assert first[i - 1, al - 1] == delta(i, al)
            assert last[al - 1, i - 1] == delta(al, i)
    core_spec = witness_tt(n, r, 3).cores[1]  # the shared core exists for d >= 3
    for al, i, be in itertools.product(range(1, r + 1), range(1, n + 1), range(1, r + 1)):
        if al <= q:
            expected = delta(al, i) * delta(be, q + 1)
        elif al == q + 1:
            expected = delta(i, be)
        else:
            expected = 0.0
        assert core_spec[al - 1, i - 1, be - 1] == expected, (al, i, be)
    for c in tt.cores:
        assert set(np.unique(c)) <= {0.0, 1.0}  # every factor of a path weight is 0 or 1


# ---------------------------------------------------------------------------------------------
# Lemma "boundary cores act like the idle state" (lem:boundary), equation (eq:boundary)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_boundary_cores_are_idle_state(case):
    n, r, d = case
    q, m = witness_q(n, r), min(n, r)
    core = witness_tt(n, r, 3).cores[1]
    first, last = witness_tt(n, r, d).cores[0], witness_tt(n, r, d).cores[-1]
    idle = q  # proof state q + 1
    for i in range(n):
        slice_i = core[:, i, :]
        np.testing.assert_array_equal(first[i, :], slice_i[idle, :])
        np.testing.assert_array_equal(last[:, i], slice_i[:, idle])
        if i >= m:  # proof index i + 1 > m
            assert not slice_i.any()
    # equation (5): X(i) = e_{q+1}^T G^(i_1) ... G^(i_d) e_{q+1}, for every multi-index
    if n ** d <= 5 ** 6:
        x = tt_to_tensor(witness_tt(n, r, d).cores)
        for idx in itertools.product(range(n), repeat=d):
            vec = np.eye(r)[idle]
            for i in idx:
                vec = vec @ core[:, i, :]
            assert x[idx] == vec[idle]


# ---------------------------------------------------------------------------------------------
# Lemma "Forced bond indices" (lem:forced), equation (eq:pairs)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_forced_bond_indices(case):
    n, r, d = case
    q = witness_q(n, r)
    tt, first, core, last = _cores(n, r, d)
    x = tt.to_tensor()
    brute = r ** (d - 1) * q ** d <= 60_000
    all_paths = list(itertools.product(range(r), repeat=d - 1)) if brute else None
    for idx in itertools.product(range(q), repeat=d):
        paths = _nonzero_paths(first, core, last, idx)
        if brute:  # cross-check the pruned enumeration against all r^(d-1) bond paths
            assert paths == [p for p in all_paths if _path_weight(first, core, last, idx, p) != 0]
        pairs_equal = all(idx[2 * l] == idx[2 * l + 1] for l in range(d // 2))
        forced = tuple(idx[t] if t % 2 == 0 else q for t in range(d - 1))  # 0-based positions
        if pairs_equal:
            assert paths == [forced]
            assert _path_weight(first, core, last, idx, forced) == 1.0
        else:
            assert paths == []
        assert x[idx] == (1.0 if pairs_equal else 0.0)  # equation (6)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_mode_index_q_plus_one(case):
    """lem:boundary (indices > m give zero) and ex:shift (mode index q + 1 breaks the pairing)."""
    n, r, d = case
    q, m = witness_q(n, r), min(n, r)
    tt, first, core, last = _cores(n, r, d)
    x = tt.to_tensor()
    if n < r:
        assert m == q == n  # no mode index above q exists; lem:forced covers every entry
        return
    assert m == q + 1 == r
    # indices above m vanish (only when n > r)
    above = np.any(np.indices(x.shape) >= m, axis=0)
    assert not x[above].any()
    # with an index q + 1 (array q) at an odd position, non-forced paths of weight 1 exist
    if d >= 4:
        # proof's (q+1, 1, 1, q+1, then equal pairs (1, 1)) -- ex:shift for n = r = 2, d = 4
        idx = (q, 0, 0, q) + (0,) * (d - 4)
        paths = _nonzero_paths(first, core, last, idx)
        # 1-based bond positions t = 4 .. d-1: idle again at t = 4, then store / compare
        shifted = (q, 0, q) + tuple(q if t % 2 == 0 else 0 for t in range(4, d))
        assert paths == [shifted]
        assert x[idx] == 1.0
        assert not all(idx[2 * l] == idx[2 * l + 1] for l in range(d // 2))
        # and it is not of the forced form (bond q + 1 at every even position)
        assert any(shifted[t] != q for t in range(1, d - 1, 2))
    if (n, r, d) == (2, 2, 4):
        # ex:shift verbatim, 1-based: X(2,1,1,2) = 1 via the bond path (2,1,2)
        assert x[1, 0, 0, 1] == 1.0
        assert _nonzero_paths(first, core, last, (1, 0, 0, 1)) == [(1, 0, 1)]


# ---------------------------------------------------------------------------------------------
# prop:identity (identity block of size q^(d/2)) and prop:triangular (unitriangular block of
# size m^(d/2), m = min(n, r); rank of the witness unfolding exactly min(n, r)^(d/2))
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_identity_block(case):
    n, r, d = case
    q, k = witness_q(n, r), d // 2
    unf = witness_tt(n, r, d).odd_even_unfolding()
    assert unf.shape == (n ** k, n ** k)
    np.testing.assert_array_equal(_block(unf, q, k), np.eye(q ** k))


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_unitriangular_block_and_rank(case):
    n, r, d = case
    q, m, k = witness_q(n, r), min(n, r), d // 2
    unf = witness_tt(n, r, d).odd_even_unfolding()
    block = _block(unf, m, k)
    np.testing.assert_array_equal(np.diag(block), np.ones(m ** k))
    assert not np.triu(block, 1).any()  # T(a, b) != 0, a != b  =>  b <_lex a
    if m == q:
        np.testing.assert_array_equal(block, np.eye(m ** k))
    elif d >= 4:
        assert np.tril(block, -1).any()  # n >= r: genuinely below-diagonal entries
    # rows / columns outside [m]^k vanish, so rank = m^k exactly (= min(n, r)^(d/2))
    outside = np.ones(n ** k, dtype=bool)
    outside[[int(np.ravel_multi_index(t, (n,) * k))
             for t in itertools.product(range(m), repeat=k)]] = False
    assert not unf[outside, :].any() and not unf[:, outside].any()
    if unf.shape[0] <= 1024:
        assert np.linalg.matrix_rank(unf) == m ** k == min(n, r) ** k


@pytest.mark.parametrize("shared", [True, False], ids=["equal-cores", "independent-cores"])
@pytest.mark.parametrize("n,r,d", [(2, 2, 4), (3, 2, 4), (3, 2, 6), (4, 3, 4), (2, 4, 6), (4, 2, 6)])
def test_upper_bound_lemma(n, r, d, shared):
    """lem:upper: rank of the odd/even unfolding <= min(n^k, r n^(k-1)) on M_{n,r} and M^eq."""
    k = d // 2
    for seed in range(3):
        x = random_tt(n, r, d, shared=shared, seed=seed).to_tensor()
        assert np.linalg.matrix_rank(odd_even_unfolding(x)) <= min(n ** k, r * n ** (k - 1))


def test_torch_witness_matches_numpy():
    torch = pytest.importorskip("torch")
    for n, r, d in [(2, 3, 4), (3, 2, 6), (3, 3, 4)]:
        x_np = witness_tt(n, r, d).to_tensor()
        x_t = witness_tt(n, r, d, backend="torch").to_tensor()
        assert isinstance(x_t, torch.Tensor)
        np.testing.assert_array_equal(x_t.numpy(), x_np)
        np.testing.assert_array_equal(odd_even_unfolding(x_t).numpy(), odd_even_unfolding(x_np))


# ---------------------------------------------------------------------------------------------
# The PDF: built from the committed source, up to date; the generated table up to date
# ---------------------------------------------------------------------------------------------

def _require_latex():
    missing = [tool for tool in ("latexmk", "pdflatex", "pdftotext") if shutil.which(tool) is None]
    if missing:
        message = (f"{', '.join(missing)} not installed (run scripts/install_tex.sh); "
                   "the PDF build check runs in CI")
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {message}")
        pytest.skip(message)


def test_pdf_builds_and_is_up_to_date():
    """Rebuild paper/tensors_strong_hyp_sketch.tex in a temp dir; compare its text with the PDF."""
    _require_latex()
    result = subprocess.run(["bash", str(ROOT / "scripts" / "check_pdf.sh")], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


def test_certified_table_is_up_to_date():
    """paper/generated/certified_cases.tex is what scripts/certified_table.py writes from the JSON."""
    json_path = ROOT / "results" / "rank" / "generic_unfolding_ranks.json"
    table = ROOT / "paper" / "generated" / "certified_cases.tex"
    if not json_path.exists():
        pytest.skip(f"{json_path.relative_to(ROOT)} not present")
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "certified_table.py"),
                             "--json", str(json_path), "--output", "-"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert table.read_text() == result.stdout, (
        "paper/generated/certified_cases.tex is stale: run scripts/certified_table.py, "
        "then scripts/build_pdf.sh")
