# Two entry points for a new user; each creates .venv from requirements.txt when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Real data: set DAGMM_DATA_DIR to a folder holding the benchmark files, or leave it
# unset to download them (sha256-checked) from the official URLs.

.PHONY: reproduce reproduce-full test test-all

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

# Short KDDCUP reproduction (5 seeds, 20 epochs) and its table.
reproduce: $(VENV)/.installed
	$(PY) scripts/reproduce.py --config experiments/kdd.py --workdir runs/kdd_short \
	  --seeds 5 --config.num_epochs=20

# The full paper protocol: 20 seeds, 200 epochs (resumable: rerun to continue).
reproduce-full: $(VENV)/.installed
	$(PY) scripts/reproduce.py --config experiments/kdd.py --workdir runs/kdd --seeds 20

test: $(VENV)/.installed
	$(PY) -m pytest -q

test-all: $(VENV)/.installed
	$(PY) -m pytest -q -m ""
