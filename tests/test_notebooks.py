"""Every notebook of the repository runs top to bottom in quick mode (QUICK = True).

The executed copies go to a temporary folder; the committed notebooks are not modified. Each
notebook's quick mode must write nothing into the committed results (it uses temp dirs).

The training notebooks run on the real data when the data directory ($TT_RNN_DATA, as in CI)
holds them, else on synthetic data in the real file formats (tests/conftest.py); and once more
with no data at all, as on an offline machine: then they show the committed results and train
nothing.
"""

import json
import os
import re
from pathlib import Path

import pytest

from tt_rnn.data import DataError, load_dataset
from tt_rnn.notebooks import find_notebooks, run_notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = find_notebooks(ROOT)
TRAINING = {"MNIST/accuracy_vs_rank.ipynb": "mnist", "MNIST/best_models.ipynb": "mnist",
            "CIFAR10/cifar10_tt_networks.ipynb": "cifar10"}


def _results_mtimes():
    return {p: p.stat().st_mtime for p in (ROOT / "results").rglob("*") if p.is_file()}


def _outputs(path) -> str:
    cells = json.loads(Path(path).read_text())["cells"]
    return "\n".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/markdown", ""))
                     for c in cells for o in c.get("outputs", []))


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
    assert re.search(r"(?m)^QUICK = False\b", "".join(tagged[0]["source"])), \
        f"{path.name}: the parameters cell must default to the full run, QUICK = False (the tests pass QUICK = True)"
    injected = [c for c in notebook["cells"] if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
    assert not injected, f"{path.name}: committed with papermill's injected-parameters cell"
    last = notebook["cells"][-1]
    assert last["cell_type"] == "markdown" and "".join(last["source"]).startswith("## What this shows"), \
        f"{path.name}: must end with a markdown cell '## What this shows'"
    assert all(c.get("execution_count") is not None for c in code), f"{path.name}: unexecuted cells"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: committed with an error output"
    run_paths = notebook["metadata"].get("papermill", {})
    absolute = [run_paths[k] for k in ("input_path", "output_path") if Path(run_paths.get(k) or ".").is_absolute()]
    assert not absolute, f"{path.name}: executed with a machine path stored in it {absolute}; run it in place"
    machine = re.findall(r"(?:/tmp/|/home/|/root/|/work/)[\w./-]*", path.read_text())
    assert not machine, f"{path.name}: holds machine paths {machine[:3]}"


def test_the_training_notebooks_exist():
    assert set(TRAINING) <= {p.relative_to(ROOT).as_posix() for p in NOTEBOOKS}


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.relative_to(ROOT).as_posix() for p in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(path, tmp_path, fake_data_dir, monkeypatch):
    dataset = TRAINING.get(path.relative_to(ROOT).as_posix())
    if dataset is not None:
        try:
            load_dataset(dataset, download=False)  # real data in $TT_RNN_DATA (CI)
        except DataError:
            monkeypatch.setenv("TT_RNN_DATA", str(fake_data_dir))  # the kernel inherits it
    before = _results_mtimes()
    seconds = run_notebook(path, tmp_path / path.name, quick=True, timeout=600)
    print(f"{path.name}: {seconds:.1f} s in quick mode")
    changed = [str(p) for p, t in _results_mtimes().items() if before.get(p) != t]
    assert not changed, f"quick mode of {path.name} wrote into committed results: {changed}"
    if dataset is not None:  # the smoke test trains (into a temporary folder), with data at hand
        text = _outputs(tmp_path / path.name)
        assert "data not found" not in text and "missing" not in text, text[:2000]
        assert re.search(r"\b[1-9]\d* trained\b", text), text[:2000]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TRAINING))
def test_training_notebook_without_data_shows_committed_results(name, tmp_path, monkeypatch):
    monkeypatch.setenv("TT_RNN_DATA", str(tmp_path / "no_data"))  # nothing there, no network
    monkeypatch.setenv("TT_RNN_OFFLINE", "1")
    before = _results_mtimes()
    run_notebook(ROOT / name, tmp_path / "out.ipynb", quick=True, timeout=600)
    assert _results_mtimes() == before
    text = _outputs(tmp_path / "out.ipynb")
    lines = [line for line in text.splitlines() if "data not found" in line]
    assert len(lines) == 1 and "python -m tt_rnn.data download" in lines[0], text[:2000]
    assert re.search(r"\b[1-9]\d* read\b|\| read \|", text), text[:2000]  # the committed results ...
    assert not re.search(r"\b(trained|resumed)\b", text)  # ... and nothing trained


def _write_notebook(path, cells):
    import nbformat
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    notebook.cells[0].metadata["tags"] = ["parameters"]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, str(path))


@pytest.mark.slow
def test_run_notebook_gives_the_kernel_a_temporary_folder_it_removes(tmp_path, monkeypatch):
    # A quick run makes scratch folders in the kernel; they must not pile up in the system's /tmp.
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # restored by run_notebook, checked below
    record = tmp_path / "kernel_tmp.txt"
    _write_notebook(tmp_path / "probe.ipynb", [
        "QUICK = False",
        "import tempfile\nfrom pathlib import Path\n"
        "from tt_rnn.notebooks import scratch_dir\n"
        "kept = scratch_dir('probe_')\n(kept / 'f.txt').write_text('x')\n"
        f"Path({str(record)!r}).write_text(tempfile.gettempdir() + '\\n' + str(kept))",
    ])
    run_notebook(tmp_path / "probe.ipynb", tmp_path / "out.ipynb", quick=True, timeout=120)
    kernel_tmp, kept = record.read_text().splitlines()
    assert Path(kept).parent == Path(kernel_tmp) != tmp_path
    assert not Path(kernel_tmp).exists() and not Path(kept).exists()
    assert os.environ["TMPDIR"] == str(tmp_path)
