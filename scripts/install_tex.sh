#!/usr/bin/env bash
# Install the minimal TeX needed to build tensors_strong_hyp_sketch.pdf (Debian/Ubuntu, as root).
# Idempotent: does nothing when latexmk, pdflatex and pdftotext are already on PATH.
# Usage: bash scripts/install_tex.sh
set -euo pipefail
packages=(texlive-latex-base texlive-latex-recommended latexmk poppler-utils)
missing=0
for tool in latexmk pdflatex pdftotext pdftoppm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "install_tex: $tool not found"
    missing=1
  fi
done
if [ "$missing" = 0 ]; then
  echo "install_tex: latexmk, pdflatex, pdftotext, pdftoppm already installed; nothing to do"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_tex: apt-get not available; install ${packages[*]} by hand" >&2
  exit 1
fi
sudo_cmd=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo_cmd=(sudo); else
    echo "install_tex: need root (or sudo) to run apt-get" >&2; exit 1; fi
fi
echo "install_tex: apt-get update"
${sudo_cmd[@]+"${sudo_cmd[@]}"} apt-get update -qq
echo "install_tex: apt-get install --no-install-recommends ${packages[*]}"
${sudo_cmd[@]+"${sudo_cmd[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
for tool in latexmk pdflatex pdftotext pdftoppm; do
  command -v "$tool" >/dev/null 2>&1 || { echo "install_tex: $tool still missing after apt-get" >&2; exit 1; }
done
echo "install_tex: done ($(latexmk -v | head -n 2 | tail -n 1 | sed 's/^ *//'))"
