"""Every notebook of the repository runs top to bottom in quick mode (QUICK = True).

The executed copies go to a temporary folder; the committed notebooks are not modified. Each
notebook's quick mode must write nothing into the committed results (it uses temp dirs).
"""

import json
from pathlib import Path

import pytest

from tt_rnn.notebooks import find_notebooks, run_notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = find_notebooks(ROOT)


def test_the_expected_notebooks_exist():
    names = {p.relative_to(ROOT).as_posix() for p in NOTEBOOKS}
    assert "estimate_cp_rank_for_random_tensor.ipynb" in names
    assert any(name.startswith("MNIST/") for name in names), names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.relative_to(ROOT).as_posix() for p in NOTEBOOKS])
def test_notebook_is_committed_executed_with_one_parameters_cell(path):
    notebook = json.loads(path.read_text())
    code = [c for c in notebook["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"
    assert "QUICK" in "".join(tagged[0]["source"]), f"{path.name}: the parameters cell must set QUICK"
    assert all(c.get("execution_count") is not None for c in code), f"{path.name}: unexecuted cells"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: committed with an error output"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.relative_to(ROOT).as_posix() for p in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(path, tmp_path):
    results = ROOT / "results"
    before = {p: p.stat().st_mtime for p in results.rglob("*") if p.is_file()} if results.exists() else {}
    seconds = run_notebook(path, tmp_path / path.name, quick=True, timeout=600)
    print(f"{path.name}: {seconds:.1f} s in quick mode")
    after = {p: p.stat().st_mtime for p in results.rglob("*") if p.is_file()} if results.exists() else {}
    changed = [str(p) for p in after if before.get(p) != after[p]]
    assert not changed, f"quick mode of {path.name} wrote into committed results: {changed}"
