# Build a Language Model, Step by Step
#   make lab    create .venv, install everything, open JupyterLab on chapters/
#   make test   create .venv, install everything, run every test (fast mode)

# PYTHON, VENV, TORCH, PORT, the install rules and `make lab` (shared with the student tree)
include lab.mk

.DEFAULT_GOAL := help
.PHONY: lab test test-unit test-notebooks test-quick install browser book labs bench notebooks clean help

NBVAL := --nbval --nbval-current-env --nbval-sanitize-with chapters/nbval_sanitize.cfg -p no:cacheprovider
# `make labs OUT=dir` writes the student tree there
OUT   ?= labs/student

help:
	@echo "make lab        - install (once) and open JupyterLab on chapters/"
	@echo "make test       - install (once) and run every test in fast mode (= test-unit + test-notebooks)"
	@echo "make test-unit  - the tests in tests/ (the browser and book tests included)"
	@echo "make test-notebooks - every chapter under nbval (stored outputs vs a fast-mode re-run)"
	@echo "make test-quick - tests/ without the tests marked slow (a minute or so)"
	@echo "make book       - build the static book into book/_build/html"
	@echo "make labs [OUT=dir] - write the student tree (no solutions, no hidden tests) into labs/student"
	@echo "make bench      - run the benchmarks (slow; prints ratios against peers)"
	@echo "make notebooks [CHAPTERS=\"08 09\"] - sync chapters/src/*.py into the notebooks and execute them in full mode"

# Debian's Chromium for the real-browser tests (Playwright's own download does not
# work offline). Installed only when missing and when we may install system packages.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	elif command -v apt-get >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	elif [ "$$CI" = "true" ]; then \
	    echo "error: CI=true and /usr/bin/chromium is missing: the browser tests must run (apt-get install chromium)"; exit 1; \
	else echo "note: /usr/bin/chromium is missing; browser tests will be skipped (install Debian's 'chromium')"; fi

test: browser test-unit test-notebooks

test-unit: $(STAMP)
	COURSE_FAST=1 $(PY) -m pytest tests -q

test-notebooks: $(STAMP)
	COURSE_FAST=1 $(PY) -m pytest $(NBVAL) chapters -q

test-quick: $(STAMP)
	COURSE_FAST=1 $(PY) -m pytest tests -q -m "not slow"

book: $(STAMP)
	$(PY) -m book.build

labs: $(STAMP)
	$(PY) tools/labs.py release --out $(OUT)

# chapters/src/NN_name.py is the source of truth; this writes chapters/NN_name.ipynb from it
# (outputs of unchanged cells kept) and executes it top to bottom in a fresh kernel.
notebooks: $(STAMP)
	$(PY) tools/notebooks.py execute $(CHAPTERS)

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) book/_build labs .pytest_cache
