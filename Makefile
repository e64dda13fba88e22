# Two entry points for a new user; each creates .venv from requirements.txt when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Worker processes for the long runs, each pinned to its own cores (CPU hosts), e.g. PROCESSES=2.
PROCESSES ?= 1
# Real data: set DAGMM_DATA_DIR to a folder holding the benchmark files, or leave it
# unset to download them (sha256-checked) from the official URLs.

.PHONY: reproduce reproduce-full table2 table2-quick bench images-demo test test-all

BIN := $(VENV)/bin

# The tested versions (requirements.txt), then this package in place (pyproject.toml).
$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# Short KDDCUP reproduction (5 seeds, 20 epochs) and its table.
reproduce: $(VENV)/.installed
	$(BIN)/dagmm-reproduce --config experiments/kdd.py --workdir runs/kdd_short \
	  --seeds 5 --config.num_epochs=20

# The full paper protocol: 20 seeds, 200 epochs (resumable: rerun to continue).
reproduce-full: $(VENV)/.installed
	$(BIN)/dagmm-reproduce --config experiments/kdd.py --workdir runs/kdd --seeds 20 \
	  --processes $(PROCESSES)

# The paper's Table 2: four datasets x two protocols x 20 seeds (hours; resumable).
table2: $(VENV)/.installed
	$(BIN)/dagmm-table2 --config experiments/table2.py --workdir runs/table2 \
	  --processes $(PROCESSES)

table2-quick: $(VENV)/.installed
	$(BIN)/dagmm-table2 --config experiments/table2.py --workdir runs/table2_quick --quick

bench: $(VENV)/.installed
	$(PY) -m benchmarks.bench --config experiments/kdd.py --out runs/bench --processes $(PROCESSES)

# Visual inspection on synthetic parts (CPU, a few minutes): data -> train -> report -> score.
IMG := runs/images_demo
images-demo: $(VENV)/.installed
	$(BIN)/dagmm-make-synthetic-images --out $(IMG)/parts --n_train 200 --n_test 50
	$(BIN)/dagmm-train-images --config experiments/images.py --train $(IMG)/parts/train \
	  --val $(IMG)/parts/val --workdir $(IMG)/model --config.num_epochs=60
	$(BIN)/dagmm-report --workdir $(IMG)/model --test_ok $(IMG)/parts/test/ok \
	  --test_ng $(IMG)/parts/test/ng --out $(IMG)/report
	$(BIN)/dagmm-score --workdir $(IMG)/model --input $(IMG)/parts/test/ng --out $(IMG)/ng_scores.csv

test: $(VENV)/.installed
	$(PY) -m pytest -q

test-all: $(VENV)/.installed
	$(PY) -m pytest -q -m ""
