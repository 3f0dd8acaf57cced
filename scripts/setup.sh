#!/usr/bin/env bash
# Create the virtual environment and install the pinned requirements.
# Usage: scripts/setup.sh PYTHON VENV
set -euo pipefail
# Python packages only: TeX (a system package) is installed by `make pdf`, `make reproduce` and CI,
# never by `make test` (without TeX the PDF tests skip, except under CI=true, where they fail).
python=${1:-python3}
venv=${2:-.venv}
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet -r requirements.txt
# ipykernel stages the kernel spec in a temporary folder it does not remove: give it one we remove.
staging=$(mktemp -d)
TMPDIR="$staging" "$venv/bin/python" -m ipykernel install --prefix "$venv" --name python3 >/dev/null
rm -rf "$staging"
# The package itself, editable, so notebooks in sub-folders can `import tt_rnn`.
"$venv/bin/python" -m pip install --quiet --no-deps -e .
