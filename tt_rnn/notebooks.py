"""What the notebooks need: the runs they show (read, or trained when missing), and running the
notebooks themselves with papermill (part of ``make reproduce``).

In a notebook: :func:`notebook_runs` reads the committed results of named experiments, or trains
what is missing (:func:`load_or_train`); in quick mode it trains shrunk configurations into a
scratch folder (:func:`scratch_dir`) and never touches ``results/``.

``python -m tt_rnn.notebooks --quick --output-dir build/notebooks`` runs each notebook top to
bottom from a clean kernel, injecting ``QUICK = True`` into its ``parameters`` cell, with the
notebook's own folder as working directory, and writes the executed copies under the output
directory (the committed notebooks are left untouched). Run it from the repository root.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import papermill
import torch

from .config import same_experiment
from .data import DataError, load_dataset
from .experiments import quick as quick_config
from .runfiles import read_results
from .train import checkpoint_path, train

__all__ = ["Run", "load_or_train", "load_data_or_explain", "scratch_dir", "notebook_runs", "NOTEBOOK_GLOBS",
           "find_notebooks", "run_notebook", "main"]


@dataclass
class Run:
    """What :func:`load_or_train` found: the results (``None`` when missing) and where they came from."""

    results: dict | None
    source: str            # "read" | "trained" | "resumed" | "missing"
    path: str
    reason: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def load_or_train(config, *, root=".", data=None, train_missing: bool = True) -> Run:
    """Read the results of ``config`` from ``root / config.results_path`` when that file holds this
    exact experiment, completed; otherwise train it there (resuming from its checkpoint).

    ``data``: an :class:`~tt_rnn.data.ImageData`, or a callable returning one (called only if a
    run must be trained), or ``None`` (load as the config says). When the data cannot be had
    (:class:`~tt_rnn.data.DataError`) or ``train_missing`` is false, the run is reported
    ``missing`` with the reason and nothing is trained. A stored file at that path that holds a
    *different* experiment raises ``ValueError`` naming the fields (it is never overwritten).
    The returned results never hold the model; train with :func:`tt_rnn.train.train` for that.
    """
    if not config.results_path:
        raise ValueError("load_or_train needs config.results_path (where the results file lives)")
    root = Path(root)
    path = root / config.results_path
    located = config.replace(results_path=str(path), checkpoint_dir=str(root / checkpoint_path(config).parent))
    stored = read_results(path) if path.is_file() else None
    if stored is not None:
        same, diff = same_experiment(stored["config"], config)
        if not same:
            raise ValueError(f"{path} holds another experiment; differing fields (stored, wanted): {diff}. "
                             "Give this configuration its own results_path, or delete the file.")
        if stored.get("status") == "completed":
            return Run(stored, "read", config.results_path)
    if not train_missing:
        why = "no results file" if stored is None else f"status {stored.get('status')!r}"
        return Run(stored, "missing", config.results_path, why)
    try:
        if callable(data):
            data = data()
        resume = Path(checkpoint_path(located)).is_file()
        results, _ = train(located.replace(resume=resume), data=data)
    except DataError as exc:
        return Run(stored, "missing", config.results_path, str(exc))
    return Run(results, "resumed" if resume else "trained", config.results_path)


def load_data_or_explain(dataset: str, data_dir=None, *, num_threads: int | None = None):
    """The data set as :class:`~tt_rnn.data.ImageData` (downloaded when missing and possible), or
    ``None`` after printing one line that says it is missing and the one command that gets it.
    ``num_threads``: also set torch's CPU threads (the notebooks train with one)."""
    if num_threads:
        torch.set_num_threads(num_threads)
    try:
        return load_dataset(dataset, data_dir)
    except DataError as exc:
        command = getattr(exc, "command", None) or f"python -m tt_rnn.data download {dataset}"
        print(f"{dataset}: data not found and not downloadable here, so this notebook shows the committed "
              f"results and trains nothing. Get the data with: {command}")
        return None


def scratch_dir(prefix: str) -> Path:
    """A new temporary folder, removed when this Python process exits.

    Quick-mode notebooks train into one: a smoke run must leave nothing behind, neither in
    ``results/`` nor in the system's temporary folder (a test suite runs them many times).
    """
    folder = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return Path(folder)


def notebook_runs(configs: dict, *, data, quick: bool = False, train_missing: bool = True, root="..",
                  quick_limit: int = 2) -> dict:
    """``{name: Run}`` for the named ``configs`` as a notebook shows them.

    * ``data is None`` (not available): the committed results files under ``root``, read only.
    * ``quick``: the first ``quick_limit`` configurations, each shrunk by
      :func:`tt_rnn.experiments.quick`, trained into a temporary folder whatever
      ``train_missing`` says (a smoke test; the committed results are never touched; the
      folder, from :func:`scratch_dir`, is removed when the kernel exits).
    * otherwise: :func:`load_or_train` under ``root`` (``train_missing``: train what is missing).
    """
    if data is not None and quick:  # a smoke test always trains, into a temporary folder
        root = scratch_dir("tt_rnn_quick_")
        configs = {name: quick_config(config) for name, config in list(configs.items())[:quick_limit]}
        train_missing = True
    train_missing = train_missing and data is not None
    return {name: load_or_train(config, root=root, data=data, train_missing=train_missing)
            for name, config in configs.items()}


# ----------------------------------------------------------------------------- running notebooks


NOTEBOOK_GLOBS = ("*.ipynb", "MNIST/*.ipynb", "CIFAR10/*.ipynb")


def find_notebooks(root=".") -> list[Path]:
    """The repository's notebooks below ``root``, in a fixed order."""
    found = []
    for pattern in NOTEBOOK_GLOBS:
        found += [p for p in sorted(Path(root).glob(pattern)) if ".ipynb_checkpoints" not in p.parts]
    return found


@contextlib.contextmanager
def _kernel_log(log: Path):
    """Send what the kernel process writes to stderr (ipykernel's start-up and shutdown notices)
    to ``log``; when the notebook fails, its last lines are shown with the error."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(log, "w") as fh:
        os.dup2(fh.fileno(), 2)  # the kernel is a child process: it inherits file descriptor 2
    try:
        yield
    except BaseException:
        os.dup2(saved, 2)
        tail = log.read_text().strip().splitlines()[-10:]
        if tail:
            print("kernel log:\n" + "\n".join(tail), file=sys.stderr)
        raise
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def run_notebook(path, output, quick: bool = True, timeout: int = 1800, parameters: dict | None = None) -> float:
    """Execute ``path`` into ``output`` with ``QUICK = quick``; return the wall time in seconds.

    The kernel gets a temporary folder of its own (``TMPDIR``), removed afterwards, so a notebook
    that is killed or fails leaves no scratch files behind.
    """
    path, output = Path(path), Path(output)  # as given: papermill stores them in the notebook
    output.parent.mkdir(parents=True, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="tt_rnn_notebook_")
    saved = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = scratch  # the kernel is a child process: it inherits this
    start = time.perf_counter()
    try:
        with _kernel_log(Path(scratch) / "kernel.log"):
            papermill.execute_notebook(str(path), str(output), parameters={"QUICK": quick, **(parameters or {})},
                                       cwd=str(path.parent.resolve()), kernel_name="python3",
                                       execution_timeout=timeout, progress_bar=False)
    finally:
        if saved is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved
        shutil.rmtree(scratch, ignore_errors=True)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tt_rnn.notebooks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="QUICK = True (small, fast runs)")
    parser.add_argument("--train-missing", action="store_true",
                        help="TRAIN_MISSING = True: train the configurations whose results files are missing")
    parser.add_argument("--output-dir", default="build/notebooks")
    parser.add_argument("notebooks", nargs="*", help="default: every notebook below the working directory")
    args = parser.parse_args(argv)
    notebooks = [Path(p) for p in args.notebooks] or find_notebooks()
    for path in notebooks:
        if not path.is_file():
            parser.error(f"no notebook {str(path)!r}")
        output = Path(args.output_dir) / path
        seconds = run_notebook(path, output, quick=args.quick,
                               parameters={"TRAIN_MISSING": True} if args.train_missing else None)
        print(f"{path}: ran in {seconds:.1f} s -> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
