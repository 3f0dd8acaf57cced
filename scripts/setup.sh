#!/usr/bin/env bash
# Create the virtual environment and install the pinned requirements.
# Usage: scripts/setup.sh PYTHON VENV
set -euo pipefail
# A minimal TeX for the proof sketch (tests rebuild the PDF). Needs root and apt-get; elsewhere
# the PDF tests skip (except under CI=true, where a missing TeX fails them).
bash "$(dirname "$0")/install_tex.sh" || echo "setup: TeX not installed; PDF tests will skip outside CI" >&2
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
