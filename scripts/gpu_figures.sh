#!/bin/bash
# Issue 17: the GPU figures in one device call (scripts/gpu_figures.py does the work).
#
#   bash scripts/gpu_figures.sh prepare
#       here, with the package registry reachable: the wheels the GPU machine lacks
#       (tensorflow-datasets, ml-collections and their missing dependencies, for its
#       Python 3.12) into .whl/, and the KDD file into .gpu_data/ (both git-ignored).
#   device run, carry [".whl", ".gpu_data"], timeout_s 540:
#       bash scripts/gpu_figures.sh run
#       ($OUT/gpu.json and $OUT/gpu.md come back; commit them as results/bench/gpu.*)
#
# A tiny check on CPU: SEEDS=2 EPOCHS=2 PY=.venv/bin/python OUT=/tmp/g DAGMM_DATA_DIR=... \
#   bash scripts/gpu_figures.sh run
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS="tensorflow-datasets==4.9.10 ml-collections==1.1.0 array-record==0.8.6 dm-tree==0.1.10
immutabledict==4.3.1 promise==2.3 simple-parsing==0.1.9 tensorflow-metadata==1.21.0
termcolor==3.3.0 toml==0.10.2 docstring-parser==0.18.0 googleapis-common-protos==1.76.0"

case "${1:-}" in
  prepare)
    grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
    grep -qx '/.gpu_data/' .git/info/exclude 2>/dev/null || echo '/.gpu_data/' >> .git/info/exclude
    mkdir -p .whl .gpu_data
    for w in $WHEELS; do
      python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any -d .whl "$w" \
      || python3 -m pip wheel -q --no-deps -w .whl "$w"   # pure-Python, published as sdist only (promise)
    done
    cp "${DAGMM_DATA_DIR:?set DAGMM_DATA_DIR to the folder holding kddcup.data_10_percent.gz}/kddcup.data_10_percent.gz" .gpu_data/
    du -sh .whl .gpu_data
    ;;
  run)
    if [ -d .whl ]; then
      python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl
      export PYTHONPATH=/tmp/site
    fi
    # The package is not installed there: the repository root is on the path instead.
    export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD"
    export DAGMM_DATA_DIR="${DAGMM_DATA_DIR:-$PWD/.gpu_data}" PYTHONUNBUFFERED=1
    ${PY:-python3} -c 'import jax; print(jax.__version__, jax.devices())'
    ${PY:-python3} scripts/gpu_figures.py --out "${OUT:?}" --seeds "${SEEDS:-20}" --epochs "${EPOCHS:-200}"
    ;;
  *) echo "usage: $0 prepare|run" >&2; exit 2 ;;
esac
