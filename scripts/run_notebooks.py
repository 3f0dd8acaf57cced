"""Execute every notebook of the repository with papermill (the README's main job).

``python scripts/run_notebooks.py --quick --output-dir build/notebooks`` runs each notebook
top to bottom from a clean kernel, injecting ``QUICK = True`` into its ``parameters`` cell,
with the notebook's own folder as working directory, and writes the executed copies under the
output directory (the committed notebooks are left untouched).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import papermill

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_GLOBS = ("*.ipynb", "MNIST/*.ipynb", "CIFAR10/*.ipynb")


def find_notebooks(root: Path = ROOT) -> list[Path]:
    found = []
    for pattern in NOTEBOOK_GLOBS:
        found += [p for p in sorted(root.glob(pattern)) if ".ipynb_checkpoints" not in p.parts]
    return found


def run_notebook(path: Path, output: Path, quick: bool = True, timeout: int = 1800) -> float:
    """Execute ``path`` into ``output``; return the wall time in seconds."""
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    papermill.execute_notebook(str(path), str(output), parameters={"QUICK": quick},
                               cwd=str(path.parent), kernel_name="python3",
                               execution_timeout=timeout, progress_bar=False)
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="QUICK = True (small, fast runs)")
    parser.add_argument("--output-dir", default="build/notebooks")
    parser.add_argument("notebooks", nargs="*", help="default: every notebook of the repository")
    args = parser.parse_args(argv)
    notebooks = [Path(p).resolve() for p in args.notebooks] or find_notebooks()
    for path in notebooks:
        output = ROOT / args.output_dir / path.relative_to(ROOT)
        seconds = run_notebook(path, output, quick=args.quick)
        print(f"{path.relative_to(ROOT)}: ran in {seconds:.1f} s -> {output.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
