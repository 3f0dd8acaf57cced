#!/usr/bin/env bash
# Check that the committed tensors_strong_hyp_sketch.pdf is the one built from the committed
# source: rebuild into a temporary directory and compare the text (pdftotext) of both PDFs.
# Also reports whether the two files are byte-identical (expected with the same TeX version).
# Usage: bash scripts/check_pdf.sh      (exit 0: up to date, 1: stale or build failure)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
name=tensors_strong_hyp_sketch
committed=$root/$name.pdf
for tool in latexmk pdftotext; do
  command -v "$tool" >/dev/null 2>&1 || { echo "check_pdf: $tool not found; run scripts/install_tex.sh" >&2; exit 2; }
done
[ -f "$committed" ] || { echo "check_pdf: $committed is missing; run scripts/build_pdf.sh" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
BUILD_DIR="$tmp/build" bash "$root/scripts/build_pdf.sh" "$tmp/$name.pdf" >/dev/null
pdftotext -layout "$committed" "$tmp/committed.txt"
pdftotext -layout "$tmp/$name.pdf" "$tmp/rebuilt.txt"
if ! cmp -s "$tmp/committed.txt" "$tmp/rebuilt.txt"; then
  echo "check_pdf: $name.pdf is stale: its text differs from a fresh build of paper/$name.tex" >&2
  diff -u "$tmp/committed.txt" "$tmp/rebuilt.txt" | head -n 40 >&2 || true
  echo "check_pdf: run scripts/build_pdf.sh and commit the PDF" >&2
  exit 1
fi
if cmp -s "$committed" "$tmp/$name.pdf"; then
  echo "check_pdf: $name.pdf is up to date (byte-identical rebuild)"
else
  echo "check_pdf: $name.pdf is up to date (text-identical; bytes differ, e.g. another TeX version)"
fi
