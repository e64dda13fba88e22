"""The shared command line of ``scripts/train.py`` and ``scripts/reproduce.py``."""
import pathlib
from typing import Callable

import ml_collections

from absl import app, flags, logging
from ml_collections import config_flags

from dagmm_jax import experiment


PROCESSES_HELP = ('Worker processes training seed chunks at once, each pinned to its own CPU '
                  'cores (CPU hosts; see dagmm_jax/workers.py). 1: all in this process.')


def setup_logging() -> None:
  """INFO progress lines, without orbax's per-checkpoint INFO lines."""
  logging.set_verbosity(logging.INFO)
  logging.get_absl_handler().addFilter(lambda r: 'orbax' not in r.pathname)


def run_grid(default_config: str, write: Callable[..., str]) -> None:
  """The command line of the grid scripts (Table 2, studies): ``--config``,
  ``--workdir`` (rerun to resume), ``--quick``, ``--report_only`` and ``--processes``;
  prints what ``write(config, workdir, quick, report_only, processes)`` returns."""
  config_flag = config_flags.DEFINE_config_file('config', default_config, 'Grid config file.')
  workdir = flags.DEFINE_string('workdir', None, 'Output directory (rerun to resume).')
  quick = flags.DEFINE_bool('quick', False, 'Smoke run: 3 seeds, 1/100 of the epochs.')
  report_only = flags.DEFINE_bool('report_only', False, 'Run nothing: report the finished cells '
                                  'and list the others.')
  processes = flags.DEFINE_integer('processes', 1, PROCESSES_HELP)
  flags.mark_flags_as_required(['workdir'])

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f'unexpected arguments: {argv[1:]}')
    setup_logging()
    print(write(config_flag.value, workdir.value, quick.value, report_only.value, processes.value))

  app.run(main)


def run(default_seeds: int) -> None:
  """Parses ``--config``, ``--workdir``, ``--seeds`` and ``--processes``; runs
  ``train_and_evaluate``.

  ``--seeds`` overrides ``config.num_seeds`` (seeds config.seed, config.seed + 1, ...);
  every config field can be overridden as ``--config.FIELD=VALUE``.
  """
  config_flag = config_flags.DEFINE_config_file('config', None, 'Experiment config file.',
                                                lock_config=True)
  workdir = flags.DEFINE_string('workdir', None, 'Directory for checkpoints, logs and results; '
                                'rerun with the same one to resume.')
  seeds = flags.DEFINE_integer('seeds', default_seeds, 'Number of seeds trained together.')
  processes = flags.DEFINE_integer('processes', 1, PROCESSES_HELP)
  flags.mark_flags_as_required(['config', 'workdir'])

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f'unexpected arguments: {argv[1:]}')
    setup_logging()
    config = config_flag.value
    with config.unlocked():
      config.num_seeds = seeds.value
    results = experiment.train_and_evaluate(config, workdir.value, processes.value)
    print((pathlib.Path(workdir.value) / 'results.md').read_text())
    return 0 if results['summary']['trained']['n'] > 0 else 1

  app.run(main)
