"""What the commands share: their flags, and the process-wide switches that only
entry points set (logging, the CPU lowering of ``training/cpu.py``).

Errors read as errors: a user error (``USER_ERRORS``: a bad flag, config field,
data file, saved model or work directory) ends a command with one or two lines
on stderr and exit status 2; ``--verbose`` shows its traceback too. Any other
exception is a bug and keeps its traceback.

The library never flips a global switch: ``experiment.train_and_evaluate``
refuses a config whose ``dtype`` does not match the float64 setting, and the
commands (and ``grid.run_grid``, per cell) run each config inside
``experiment.precision(config)``.
"""
import importlib
import pathlib
import re
import sys
from typing import Callable, Sequence

from absl import app, flags, logging
from ml_collections import config_flags

from dagmm_jax import experiments
from dagmm_jax.errors import UserError

# Nothing here imports JAX at module level: ``--help`` answers before any of it loads.


VERBOSE = flags.DEFINE_bool('verbose', False, 'On an error in the input (a bad flag, config field, '
                            'file or work directory), show its traceback too.')

# What a user can fix: the library's own errors (UserError: DataError, ModelError,
# ConfigError, WorkdirError, WorkdirInUse), the ValueError the library raises for a
# bad argument (UserError's subclasses are ValueErrors too, and not every check
# has its own class), a file that is missing or may not be written, a usage error.
USER_ERRORS = (UserError, ValueError, FileNotFoundError, PermissionError, IsADirectoryError,
               NotADirectoryError, app.UsageError)
EXIT_USER_ERROR = 2


def error_lines(error: BaseException, program: str) -> list[str]:
  """The lines a command prints for a user error: its message, and a hint where
  one helps (the flags for a usage error, the traceback for a plain ValueError,
  which may also be a bug)."""
  message = ' '.join(str(error).split('\n')) or type(error).__name__
  lines = [f'{program}: error: {message}']
  if isinstance(error, app.UsageError):
    lines.append(f'{program} --helpshort lists the flags')
  elif not isinstance(error, (UserError, OSError)):
    lines.append(f'({type(error).__name__}; --verbose shows the traceback)')
  return lines


PROCESSES_HELP = ("Processes of JAX's multi-controller runtime started on this host, each pinned "
                  'to its own CPU cores, the seeds sharded over them (dagmm_jax/training/distributed.py). '
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
  from dagmm_jax.training import distributed
  distributed.initialize(coordinator.value, num_processes.value, process_id.value)


HELP_FLAGS = ('-h', '-?', '--help', '--helpshort', '--helpfull')


def _fields(path: pathlib.Path) -> dict[str, tuple[str, str]]:
  """``{field: (value, meaning)}`` a config file sets, from its source: first those
  of a config it builds on (``NAME.get_config()`` of ``experiments/NAME.py``), then
  its own ``config.a.b = value  # meaning`` lines (a value without a meaning keeps
  the one it overrides). Nothing is imported."""
  text = path.read_text()
  out = {}
  for name in re.findall(r'(\w+)\.get_config\(\)', text):
    if (path.parent / f'{name}.py').exists() and name != path.stem:
      out.update(_fields(path.parent / f'{name}.py'))
  for line in text.splitlines():
    m = re.match(r'\s*config\.([\w.]+)\s*=\s*(.*?)\s*(?:#\s*(.*))?$', line)
    if m and not m.group(2).startswith(('ml_collections.', 'config_dict.')):
      out[m.group(1)] = (m.group(2), m.group(3) or out.get(m.group(1), ('', ''))[1])
  return out


def config_fields(path: str) -> list[str]:
  """``'  --config.FIELD=VALUE  # meaning'`` for each field of a config file (``_fields``)."""
  return [f'  --config.{k}={v}' + (f'  # {m}' if m else '') for k, (v, m) in _fields(pathlib.Path(path)).items()]


def config_path(argv: Sequence[str], default: str | None = None) -> str | None:
  """The file ``--config`` names in ``argv`` (``--config X`` or ``--config=X``), or ``default``."""
  for i, a in enumerate(argv):
    if a.startswith('--config='):
      return a.split('=', 1)[1]
    if a == '--config' and i + 1 < len(argv):
      return argv[i + 1]
  return default


def by_name(argv: list[str]) -> list[str]:
  """``--config kdd`` -> ``--config <installed experiments>/kdd.py``: a config given by
  name (no such file here, no '/'; as listed in ``experiments/``) resolves to the
  installed one, so the commands work outside the repository too."""
  out = list(argv)
  for i, a in enumerate(out):
    eq = a.startswith('--config=')
    if not (eq or (a == '--config' and i + 1 < len(out))):
      continue
    j, value = (i, a.split('=', 1)[1]) if eq else (i + 1, out[i + 1])
    name, _, rest = value.partition(':')   # config_flags' ':suffix' passes through
    if '/' not in name and not pathlib.Path(name).exists() and pathlib.Path(experiment_file(name)).exists():
      path = experiment_file(name) + (f':{rest}' if rest else '')
      out[j] = f'--config={path}' if eq else path
  return out


def help_text(doc: str, default_config: str | None = None) -> str:
  """What ``--help`` prints: the command's purpose and examples (its docstring),
  its flags, and the fields of the config it would run with."""
  values = flags.FLAGS
  text = [doc.strip(), '', 'Flags:', values.module_help(sys.argv[0]).split('\n', 1)[-1]]
  path = config_path(sys.argv[1:], default_config)
  if path and pathlib.Path(path.split(':')[0]).exists():
    text += ['', f'Config fields of {path} (override any as --config.FIELD=VALUE):',
             *config_fields(path.split(':')[0])]
  elif path is None and any(name == 'config' for name in values):
    names = sorted(p.stem for p in pathlib.Path(experiment_file('kdd')).parent.glob('*.py')
                   if not p.stem.startswith('_'))
    text += ['', f"Configs by name (--config NAME): {', '.join(names)}; "
             '--config NAME --help lists its fields.']
  return '\n'.join(text)


def run(main: Callable[[], object], required: Sequence[str] = (), doc: str = '',
        default_config: str | None = None) -> None:
  """Runs ``main()`` as the program: absl parses the flags (``required`` must be
  given; positional arguments are refused; ``--config NAME`` names an installed
  config, ``by_name``). ``--help`` (any of ``HELP_FLAGS``) prints ``help_text``
  and exits 0 before anything heavy is imported. absl lists the flags of the
  program's main module (``sys.argv[0]``); a console command's flags are defined
  in ``dagmm_jax.cli`` modules, so they are made key flags of it. A user error
  (``USER_ERRORS``) ends the program with ``error_lines`` on stderr and exit
  status 2, its traceback only with ``--verbose``."""
  values = flags.FLAGS
  for module, defined in list(values.flags_by_module_dict().items()):
    if module.startswith('dagmm_jax.cli'):
      for flag in defined:
        values.register_key_flag_for_module(sys.argv[0], flag)
  sys.argv[1:] = by_name(sys.argv[1:])
  if any(a in HELP_FLAGS for a in sys.argv[1:]):
    print(help_text(doc, default_config))
    sys.exit(0)
  if required:
    flags.mark_flags_as_required(list(required))

  def checked(argv: list[str]) -> object:
    try:
      if len(argv) > 1:
        raise app.UsageError(f'unexpected arguments: {argv[1:]}')
      return main()
    except USER_ERRORS as e:
      if VERBOSE.value:
        raise
      print('\n'.join(error_lines(e, pathlib.Path(sys.argv[0]).stem)), file=sys.stderr, flush=True)
      sys.exit(EXIT_USER_ERROR)

  app.run(checked)


def setup() -> None:
  """Process-wide settings of every command: INFO progress lines without orbax's
  per-checkpoint lines, and the faster CPU lowering of the random bits (same bits;
  logged when this JAX version has no such rule)."""
  from dagmm_jax.training import cpu
  logging.set_verbosity(logging.INFO)
  logging.get_absl_handler().addFilter(lambda r: 'orbax' not in r.pathname)
  if not cpu.unroll_threefry_on_cpu():
    logging.info('training/cpu.py: this JAX has no unrolled Threefry rule to register; '
                 "random bits use JAX's own CPU lowering (same bits, slower on CPU)")


def experiment_file(name: str) -> str:
  """The path of ``experiments/<name>.py`` (installed with the package)."""
  return str(pathlib.Path(experiments.__file__).parent / f'{name}.py')


def grid_main(default_experiment: str, write: str, doc: str) -> None:
  """The command line of the grid commands (Table 2, studies): ``--config``
  (default ``experiments/<default_experiment>.py``), ``--workdir`` (rerun to
  resume), ``--quick``, ``--report_only`` and ``--processes``; prints what
  ``write(config, workdir, quick, report_only, processes)`` returns, ``write``
  given as ``'module:function'`` (imported after the flags are parsed)."""
  config_flag = config_flags.DEFINE_config_file('config', experiment_file(default_experiment),
                                                'Grid config file.')
  workdir = flags.DEFINE_string('workdir', None, 'Output directory (rerun to resume).')
  quick = flags.DEFINE_bool('quick', False, 'Smoke run: 3 seeds, 1/100 of the epochs.')
  report_only = flags.DEFINE_bool('report_only', False, 'Run nothing: report the finished cells '
                                  'and list the others.')
  processes = flags.DEFINE_integer('processes', 1, PROCESSES_HELP)
  cluster = _cluster_flags()

  def main():
    setup()
    _join(*cluster, processes.value)
    module, function = write.split(':')
    fn = getattr(importlib.import_module(module), function)
    print(fn(config_flag.value, workdir.value, quick.value, report_only.value, processes.value))

  run(main, required=['workdir'], doc=doc, default_config=experiment_file(default_experiment))


def experiment_main(doc: str) -> None:
  """Parses ``--config``, ``--workdir``, ``--seeds`` and ``--processes``; runs
  ``train_and_evaluate``.

  ``--seeds`` overrides ``config.num_seeds`` (seeds config.seed, config.seed + 1, ...);
  every config field can be overridden as ``--config.FIELD=VALUE``.
  """
  config_flag = config_flags.DEFINE_config_file('config', None, 'Experiment config file.',
                                                lock_config=True)
  workdir = flags.DEFINE_string('workdir', None, 'Directory for checkpoints, logs and results; '
                                'rerun with the same one to resume.')
  seeds = flags.DEFINE_integer('seeds', 20, 'Number of seeds trained together (1: one run).')
  processes = flags.DEFINE_integer('processes', 1, PROCESSES_HELP)
  cluster = _cluster_flags()

  def main():
    from dagmm_jax import experiment
    from dagmm_jax.training import distributed
    setup()
    _join(*cluster, processes.value)
    config = config_flag.value
    with config.unlocked():
      config.num_seeds = seeds.value
    with experiment.precision(config):
      results = experiment.train_and_evaluate(config, workdir.value, processes.value)
    if not distributed.is_writer():
      return 0
    print((pathlib.Path(workdir.value) / 'results.md').read_text())
    return 0 if results['summary']['trained']['n'] > 0 else 1

  run(main, required=['config', 'workdir'], doc=doc)


def process_main(argv: list[str]) -> None:
  """One process of a local multi-process run: ``WORKDIR COORDINATOR N I``
  (started by ``distributed.launch``)."""
  from dagmm_jax import experiment
  from dagmm_jax.training import distributed, pinning
  workdir, coordinator, n, i = pathlib.Path(argv[0]), argv[1], int(argv[2]), int(argv[3])
  flags.FLAGS.mark_as_parsed()
  logging.use_absl_handler()   # absl's line format, as in the parent (no app.run here)
  setup()
  distributed.initialize(coordinator, n, i)
  config = pinning.read_config(workdir)
  with experiment.precision(config):
    experiment.train_and_evaluate(config, workdir, hold_lock=False)   # the launcher holds it
