"""The offline image benchmark: one-class MNIST and synthetic surfaces, DAGMM beside yardsticks.

  dagmm-image-benchmark --config experiments/image_benchmark.py --workdir runs/image_bench --processes 2
  dagmm-image-benchmark --config experiments/image_benchmark.py --workdir runs/quick \
      --config.digits='(0,)' --config.split_seeds='(0,)' --config.tasks='("mnist",)'

Writes WORKDIR/cells/<cell>.json per (task, split seed), then benchmark.json and
benchmark.md (AUROC mean ± std over split seeds: one model, its members, their
ensemble, PCA-10/50 and 5-NN yardsticks). Rerunning the command resumes: finished
cells are reused; --report_only rewrites benchmark.md from benchmark.json. MNIST needs the test set files in DAGMM_DATA_DIR (or downloads them).
"""

import pathlib

from absl import app, flags
from ml_collections import config_flags

from dagmm_jax.cli import common

CONFIG = config_flags.DEFINE_config_file('config', None, 'Benchmark config (experiments/image_benchmark.py).')
WORKDIR = flags.DEFINE_string('workdir', None, 'Output folder (resumable).')
PROCESSES = flags.DEFINE_integer('processes', 1, 'Worker processes sharing the cells, each pinned to its own '
                                 'cores (2 on a 2-core machine: both cores busy).')
REPORT_ONLY = flags.DEFINE_bool('report_only', False, 'Only rewrite WORKDIR/benchmark.md from its '
                                'benchmark.json (no training; no --config needed).')


def _main():
  from dagmm_jax import image_benchmark
  common.setup()
  if REPORT_ONLY.value:
    print(image_benchmark.report(WORKDIR.value))
    return
  if CONFIG.value is None:
    raise app.UsageError('--config is required (experiments/image_benchmark.py), except with --report_only')
  image_benchmark.run(CONFIG.value, WORKDIR.value, PROCESSES.value)
  print((pathlib.Path(WORKDIR.value) / 'benchmark.md').read_text())


def worker_main(argv: list[str]) -> None:
  """``WORKDIR``: a worker process of ``image_benchmark.run(..., processes > 1)``
  (``pinning.spawn``); runs cells of the config recorded in ``WORKDIR/config.json``."""
  import json

  import ml_collections

  from dagmm_jax import image_benchmark
  common.setup()
  workdir = pathlib.Path(argv[0])
  config = ml_collections.ConfigDict(json.loads((workdir / 'config.json').read_text()))
  image_benchmark.run_cells(config, workdir)


def main() -> None:
  common.run(_main, required=['workdir'], doc=__doc__)


if __name__ == '__main__':
  main()
