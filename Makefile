# Two commands do all the set-up on a fresh machine:
#   make reproduce   create .venv, then run the main job (demo, every notebook in quick mode, the PDF)
#   make test        create .venv, then run the test suite (needs no data and no network)
# Data directory: $TT_RNN_DATA (default ./data); MNIST / CIFAR-10 are downloaded there by
# torchvision when missing and the network allows (or: make data).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)

.PHONY: reproduce test venv pdf benchmark tables figures data clean

# Every Markdown file with generated blocks (<!-- results:KEY -->): the README and docs/*.md.
TABLE_FILES = $(shell grep -l '<!-- results:' README.md docs/*.md 2>/dev/null)

venv: $(STAMP)

$(STAMP): requirements.txt scripts/setup.sh
	bash scripts/setup.sh "$(PYTHON)" "$(VENV)"
	touch $@

reproduce: $(STAMP)
	@bash scripts/install_tex.sh || echo "TeX not installed (needs root and apt-get): the PDF is not rebuilt"
	$(PY) -m tt_rnn.demo
	$(PY) -m tt_rnn.notebooks --quick --output-dir build/notebooks
	@if command -v latexmk >/dev/null; then bash scripts/build_pdf.sh $(CURDIR)/build/tensors_strong_hyp_sketch.pdf; \
	else echo "latexmk not found: proof sketch not rebuilt (bash scripts/install_tex.sh installs TeX)"; fi

test: $(STAMP)
	$(PY) -m pytest -q tests

pdf:
	bash scripts/install_tex.sh
	bash scripts/build_pdf.sh

benchmark: $(STAMP)
	$(PY) benchmarks/bench_networks.py --json results/benchmarks/networks.json

# Regenerate every generated part of the README and docs/: the tables and the README's figure.
tables: $(STAMP) figures
	@for f in $(TABLE_FILES); do $(PY) -m tt_rnn.tables --update $$f || exit 1; done

figures: $(STAMP)
	$(PY) -m tt_rnn.plots --out docs/figures
	$(PY) -m tt_rnn.teacher_student_plots --out docs/figures

data: $(STAMP)
	$(PY) -m tt_rnn.data download all

clean:
	rm -rf build .pytest_cache
