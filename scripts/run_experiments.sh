#!/usr/bin/env bash
# Train every named experiment whose name starts with PREFIX (tt_rnn.experiments), one after the
# other, each resuming from its checkpoint; a completed results file is left as it is.
#
# Usage (from the repository root):  nice -n 5 bash scripts/run_experiments.sh cifar10/sweep/
#        PY=python bash scripts/run_experiments.sh mnist/best/tt-shared
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
prefix=${1:?usage: scripts/run_experiments.sh PREFIX   (python -m tt_rnn.train --list-configs lists the names)}
names=$("$PY" -m tt_rnn.train --list-configs "$prefix")
[ -n "$names" ] || { echo "error: no experiment starts with '$prefix'" >&2; exit 2; }
for name in $names; do
  if grep -qs '"status": "completed"' "results/$name.json"; then echo "results/$name.json: completed"; continue; fi
  echo "== $name"
  "$PY" -m tt_rnn.train --config "$name" --resume
done
