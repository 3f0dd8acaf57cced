"""Execute the repository's notebooks with papermill (part of ``make reproduce``).

``python -m tt_rnn.notebooks --quick --output-dir build/notebooks`` runs each notebook top to
bottom from a clean kernel, injecting ``QUICK = True`` into its ``parameters`` cell, with the
notebook's own folder as working directory, and writes the executed copies under the output
directory (the committed notebooks are left untouched). Run it from the repository root.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["NOTEBOOK_GLOBS", "find_notebooks", "run_notebook", "main"]

NOTEBOOK_GLOBS = ("*.ipynb", "MNIST/*.ipynb", "CIFAR10/*.ipynb")


def find_notebooks(root=".") -> list[Path]:
    """The repository's notebooks below ``root``, in a fixed order."""
    found = []
    for pattern in NOTEBOOK_GLOBS:
        found += [p for p in sorted(Path(root).glob(pattern)) if ".ipynb_checkpoints" not in p.parts]
    return found


def run_notebook(path, output, quick: bool = True, timeout: int = 1800, parameters: dict | None = None) -> float:
    """Execute ``path`` into ``output`` with ``QUICK = quick``; return the wall time in seconds.

    The kernel gets a temporary folder of its own (``TMPDIR``), removed afterwards, so a notebook
    that is killed or fails leaves no scratch files behind.
    """
    import papermill

    path, output = Path(path), Path(output)  # as given: papermill stores them in the notebook
    output.parent.mkdir(parents=True, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="tt_rnn_notebook_")
    saved = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = scratch  # the kernel is a child process: it inherits this
    start = time.perf_counter()
    try:
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
