#!/usr/bin/env bash
# Build paper/tensors_strong_hyp_sketch.tex with latexmk and copy the PDF to the top level.
#
# Usage: bash scripts/build_pdf.sh [OUTPUT_PDF]
#   OUTPUT_PDF  where to copy the built PDF (default: ./tensors_strong_hyp_sketch.pdf)
#   BUILD_DIR   environment variable, latexmk output directory (default: build/paper)
#
# Fails (non-zero exit) on LaTeX errors, undefined references or citations, and multiply
# defined labels. The build is reproducible: fixed SOURCE_DATE_EPOCH, no dates, no trailer ID
# and no pdfTeX banner in the PDF (see the preamble), so rebuilding the same source with the
# same TeX installation gives a byte-identical PDF.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
name=tensors_strong_hyp_sketch
out=${1:-$root/$name.pdf}
build=${BUILD_DIR:-$root/build/paper}
case "$build" in /*) ;; *) build=$root/$build ;; esac

if ! command -v latexmk >/dev/null 2>&1; then
  echo "build_pdf: latexmk not found; run scripts/install_tex.sh" >&2
  exit 2
fi
mkdir -p "$build"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1704067200}   # 2024-01-01, fixed on purpose
export FORCE_SOURCE_DATE=1
export TZ=UTC

cd "$root/paper"
# -g: always run (a stale .fdb in BUILD_DIR must not skip the checks below).
if ! latexmk -pdf -g -interaction=nonstopmode -halt-on-error -file-line-error \
      -outdir="$build" "$name.tex" >"$build/latexmk.out" 2>&1; then
  echo "build_pdf: latexmk failed; last lines of the log:" >&2
  tail -n 40 "$build/latexmk.out" >&2
  grep -n -A3 '^!\|:[0-9]*: ' "$build/$name.log" >&2 || true
  exit 1
fi
log=$build/$name.log
problems=$(grep -E "undefined|Warning: Reference|Warning: Citation|multiply defined|Rerun to get|referenced but does not exist" "$log" || true)
if [ -n "$problems" ]; then
  echo "build_pdf: unresolved references/citations in $log:" >&2
  echo "$problems" >&2
  exit 1
fi
cp "$build/$name.pdf" "$out"
# (the log wraps long lines, so the page count may not be found: informational only)
pages=$(tr -d '\n' <"$log" | grep -o '([0-9]* pages\?, [0-9]* bytes)' | grep -o '^([0-9]*' | tr -d '(' || true)
echo "build_pdf: wrote $out (${pages:-?} pages)"
