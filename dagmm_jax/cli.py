"""The shared command line of ``scripts/train.py`` and ``scripts/reproduce.py``."""
import pathlib
from typing import Callable

import ml_collections

from absl import app, flags, logging
from ml_collections import config_flags

from dagmm_jax import distributed, experiment


PROCESSES_HELP = ('Processes of JAX\'s multi-controller runtime started on this host, each pinned '
                  'to its own CPU cores, the seeds sharded over them (dagmm_jax/distributed.py). '
                  '1: all in this process.')


def _cluster_flags():
  """--coordinator / --num_processes / --process_id (or --cluster): join a multi-host run."""
  return (flags.DEFINE_string('coordinator', None, 'HOST:PORT of process 0 of a multi-host run '
                              '(with --num_processes and --process_id; the same command on every host).'),
          flags.DEFINE_integer('num_processes', None, 'Processes of the multi-host run.'),
          flags.DEFINE_integer('process_id', None, 'This process in the multi-host run (0 writes the results).'),
          flags.DEFINE_bool('cluster', False, 'Join a multi-host run that jax.distributed.initialize() '
                            'detects by itself (SLURM, Open MPI, ...).'))


def _join(coordinator, num_processes, process_id, cluster, processes: int) -> None:
  """Joins the multi-host run the flags ask for, if any."""
  if coordinator.value is None and not cluster.value:
    return
  if processes != 1:
    raise app.UsageError('a multi-host run starts one process per command: leave --processes at 1')
  distributed.initialize(coordinator.value, num_processes.value, process_id.value)


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
  cluster = _cluster_flags()
  flags.mark_flags_as_required(['workdir'])

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f'unexpected arguments: {argv[1:]}')
    setup_logging()
    _join(*cluster, processes.value)
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
  cluster = _cluster_flags()
  flags.mark_flags_as_required(['config', 'workdir'])

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f'unexpected arguments: {argv[1:]}')
    setup_logging()
    _join(*cluster, processes.value)
    config = config_flag.value
    with config.unlocked():
      config.num_seeds = seeds.value
    results = experiment.train_and_evaluate(config, workdir.value, processes.value)
    if not distributed.is_writer():
      return 0
    print((pathlib.Path(workdir.value) / 'results.md').read_text())
    return 0 if results['summary']['trained']['n'] > 0 else 1

  app.run(main)
