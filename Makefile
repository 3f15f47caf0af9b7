# Build a Language Model, Step by Step
#   make lab    create .venv, install everything, open JupyterLab on chapters/
#   make test   create .venv, install everything, run every test (fast mode)

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# A CPU build of torch 2.13.0 installs from local disk where one is provided
# (pip's find-links); elsewhere pip fetches the normal build for the platform.
# Learners with a GPU can point TORCH at the build they want, e.g.
#   make lab TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.stamp-install
PORT   ?= 8888
# Jupyter refuses to run as root unless told to (containers, cloud shells often are root)
AS_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test test-unit test-notebooks install browser book labs bench notebooks clean help

help:
	@echo "make lab   - install (once) and open JupyterLab on chapters/"
	@echo "make test  - install (once) and run every test in fast mode"
	@echo "make book  - build the static book into book/_build/html"
	@echo "make labs  - write student versions of the chapters into labs/student"
	@echo "make bench - run the benchmarks (slow; prints ratios against peers)"
	@echo "make notebooks [CHAPTERS=\"08 09\"] - sync chapters/src/*.py into the notebooks and execute them in full mode"

$(PY):
	$(PYTHON) -m venv $(VENV)

# Installing twice does nothing the second time: the stamp is newer than pyproject.toml.
$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --upgrade pip
	$(PIP) install $(TORCH)
	$(PIP) install -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=chapters --port=$(PORT) $(AS_ROOT)

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

test-unit: $(STAMP)
	COURSE_FAST=1 $(PY) -m pytest tests -q

test-notebooks: $(STAMP)
	COURSE_FAST=1 $(PY) -m pytest --nbval --nbval-current-env --nbval-sanitize-with chapters/nbval_sanitize.cfg chapters -q -p no:cacheprovider

test: $(STAMP) browser
	COURSE_FAST=1 $(PY) -m pytest tests -q
	COURSE_FAST=1 $(PY) -m pytest --nbval --nbval-current-env --nbval-sanitize-with chapters/nbval_sanitize.cfg chapters -q -p no:cacheprovider

book: $(STAMP)
	$(PY) -m book.build

labs: $(STAMP)
	$(PY) -m course_lib.labs release

# chapters/src/NN_name.py is the source of truth; this writes chapters/NN_name.ipynb from it
# (outputs of unchanged cells kept) and executes it top to bottom in a fresh kernel.
notebooks: $(STAMP)
	$(PY) tools/notebooks.py execute $(CHAPTERS)

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) book/_build labs .pytest_cache
