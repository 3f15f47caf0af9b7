# Install the course into .venv and open JupyterLab: the rules shared by the repository's
# Makefile and the student tree's (`make labs` copies this file there).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# torch's version is pinned in constraints.txt (the one place), which every install below reads.
# A CPU build installs from local disk where one is provided (pip's find-links); elsewhere pip
# fetches the normal build for the platform. With a GPU, point TORCH at the build you want:
#   make lab TORCH="torch --index-url https://download.pytorch.org/whl/cu128"
TORCH  ?= torch
STAMP  := $(VENV)/.stamp-install
PORT   ?= 8888
# Jupyter refuses to run as root unless told to (containers, cloud shells often are root)
AS_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

$(PY):
	$(PYTHON) -m venv $(VENV)

# Installing twice does nothing the second time: the stamp is newer than what it installed from.
$(STAMP): pyproject.toml constraints.txt | $(PY)
	$(PIP) install --upgrade pip
	$(PIP) install -c constraints.txt $(TORCH)
	$(PIP) install -c constraints.txt -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=chapters --port=$(PORT) $(AS_ROOT)
