"""Nothing silently wrong (issue 31): one live run per workdir, outputs with the
permissions of an ordinary write, config typos refused before anything runs,
user errors that read as errors."""
import contextlib
import importlib
import os
import pathlib
import re
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
from helpers import ROOT, load_config, tiny_config

from dagmm_jax import ablation, config_check, experiment, files, grid, rundir, study
from dagmm_jax.cli import common
from dagmm_jax.core import gmm
from dagmm_jax.errors import ConfigError, UserError, WorkdirInUse
from dagmm_jax.estimator import DAGMM
from dagmm_jax.inspector import Inspector

ENV = {**os.environ, 'PYTHONPATH': f'{ROOT}{os.pathsep}' + os.environ.get('PYTHONPATH', '')}
ABSL_LOG_LINE = re.compile(r'^[IWEF]\d{4} ')   # absl's logging lines (e.g. JAX probing for a TPU)

HOLD = ('import sys, time\n'
        'from dagmm_jax import files\n'
        'with files.workdir_lock(sys.argv[1]):\n'
        "  print('held', flush=True)\n"
        '  time.sleep(600)\n')


@contextlib.contextmanager
def held_by_another_process(workdir: pathlib.Path):
  """A live process holding ``workdir``'s lock for the block; yields it."""
  proc = subprocess.Popen([sys.executable, '-c', HOLD, str(workdir)], stdout=subprocess.PIPE,
                          text=True, env=ENV)
  try:
    assert proc.stdout.readline().strip() == 'held'
    yield proc
  finally:
    proc.kill()
    proc.wait()


# --------------------------------------------------------------------------
# 1. One live run per workdir


def test_a_second_process_is_refused_at_once_naming_the_holder_and_a_killed_holder_blocks_nothing(tmp_path):
  with held_by_another_process(tmp_path) as holder:
    t0 = time.perf_counter()
    with pytest.raises(WorkdirInUse, match=rf'in use by another run \(host .+, pid {holder.pid}, since 20'):
      with files.workdir_lock(tmp_path):
        pytest.fail('took a lock another process holds')
    assert time.perf_counter() - t0 < 1.0          # refused at once, not waiting
    holder.send_signal(signal.SIGKILL)              # killed: no chance to clean up
    holder.wait()
  assert f'pid {holder.pid}' in (tmp_path / '.lock').read_text()   # its text is left behind ...
  with files.workdir_lock(tmp_path):                                # ... and blocks nothing
    assert f'pid {os.getpid()},' in (tmp_path / '.lock').read_text()
    with files.workdir_lock(tmp_path):   # nested in one process (a command around a library call)
      pass
    # still held after the nested block: another process is refused
    probe = subprocess.run([sys.executable, '-c', HOLD, str(tmp_path)], capture_output=True,
                           text=True, env=ENV, timeout=60)
    assert probe.returncode != 0 and 'WorkdirInUse' in probe.stderr


def test_every_writer_of_a_workdir_holds_its_lock(tmp_path, monkeypatch):
  """train_and_evaluate, a grid (its top workdir), DAGMM.fit and Inspector.fit
  refuse a workdir another live run holds, before loading or training anything."""
  monkeypatch.setattr(rundir, 'load_data', lambda config: pytest.fail('loaded data'))
  x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
  config = load_config('thyroid', num_epochs=1)
  with held_by_another_process(tmp_path) as holder:
    pid = f'pid {holder.pid}'
    with pytest.raises(WorkdirInUse, match=pid):
      experiment.train_and_evaluate(config, str(tmp_path))
    with pytest.raises(WorkdirInUse, match=pid):
      grid.run_grid({'cell': config}, tmp_path)
    with pytest.raises(WorkdirInUse, match=pid):
      DAGMM(config).fit(x, workdir=tmp_path)
    with pytest.raises(WorkdirInUse, match=pid):
      Inspector.from_config(tiny_config()).fit(tmp_path / 'no_images', workdir=tmp_path)
  assert sorted(p.name for p in tmp_path.iterdir()) == ['.lock']   # nothing else written


def test_two_reproduce_commands_into_one_workdir_the_second_is_refused(tmp_path):
  """The command end to end: a run holds the workdir (here this test's process),
  the same command started beside it exits at once with status 2, one line that
  names the holder, no traceback, and writes nothing."""
  workdir = tmp_path / 'run'
  with files.workdir_lock(workdir):
    out = subprocess.run([sys.executable, '-m', 'dagmm_jax.cli.reproduce', '--config',
                          str(ROOT / 'experiments' / 'thyroid.py'), '--workdir', str(workdir),
                          '--seeds', '1', '--config.num_epochs=2'],
                         capture_output=True, text=True, env=ENV, timeout=120)
  lines = [l for l in out.stderr.splitlines() if not ABSL_LOG_LINE.match(l)]
  assert out.returncode == 2, out.stderr
  assert len(lines) == 1 and f'pid {os.getpid()},' in lines[0] and 'in use by another run' in lines[0]
  assert 'Traceback' not in out.stderr
  assert sorted(p.name for p in workdir.iterdir()) == ['.lock']


# --------------------------------------------------------------------------
# 2. Outputs readable as an ordinary write makes them


@pytest.fixture
def umask_022():
  old = os.umask(0o022)
  files.umask.cache_clear()
  yield
  os.umask(old)
  files.umask.cache_clear()


def _mode(path: pathlib.Path) -> int:
  return stat.S_IMODE(path.stat().st_mode)


def test_atomic_writes_have_the_mode_of_an_ordinary_write(tmp_path, umask_022):
  files.write_json(tmp_path / 'results.json', {'a': 1})
  files.write_text(tmp_path / 'results.md', 'x\n')
  files.append_jsonl(tmp_path / 'metrics.jsonl', {'epoch': 1})
  assert {p.name: oct(_mode(p)) for p in tmp_path.iterdir()} == {
      'results.json': '0o644', 'results.md': '0o644', 'metrics.jsonl': '0o644'}
  assert _mode(files.temp_dir(tmp_path, 'd')) == 0o755
  os.umask(0o027)
  files.umask.cache_clear()
  files.write_text(tmp_path / 'group.md', 'x\n')
  assert _mode(tmp_path / 'group.md') == 0o640


def test_a_saved_model_and_its_scores_have_the_mode_of_an_ordinary_write(tmp_path, umask_022):
  model = DAGMM(load_config('thyroid'))
  model.params_, model.gmm_ = {'w': np.zeros(2, np.float32)}, gmm.GMMParams(*(np.ones(1),) * 3)
  model.shift_, model.scale_, model.threshold_ = np.zeros(3), np.ones(3), 1.0
  model.input_shape_, model.input_dtype_ = (3,), 'float32'
  model.save(tmp_path / 'model')
  assert _mode(tmp_path / 'model') == 0o755
  assert {p.name: _mode(p) for p in (tmp_path / 'model').iterdir()} == {
      'config.json': 0o644, 'model.json': 0o644, 'params.msgpack': 0o644}
  files.write_text(tmp_path / 'scores.csv', 'id,energy,is_anomaly\n')   # score_to_csv's writer
  assert _mode(tmp_path / 'scores.csv') == 0o644


# --------------------------------------------------------------------------
# 6. Config typos fail before anything runs


def test_every_committed_config_and_grid_cell_is_valid():
  for name in ('kdd', 'kdd_rev', 'thyroid', 'arrhythmia'):
    assert config_check.problems(grid.load_experiment(name), experiment_run=True) == []
  assert config_check.problems(grid.load_experiment('images')) == []
  table = lambda name: importlib.import_module(f'dagmm_jax.experiments.{name}').get_config()
  cells = {**grid.table2_cells(table('table2')), **grid.table2_cells(table('confirm')),
           **study.cells(table('singularity')), **ablation.cells(table('ablation'))}
  assert {n: p for n, c in cells.items() if (p := config_check.problems(c, experiment_run=True))} == {}


@pytest.mark.parametrize('field, value, listed', [
    ('scaling', 'zcore', "'none', 'minmax', 'zscore'"),
    ('protocol', 'papers', "'paper', 'goad'"),
    ('constant_columns', 'drop', "'shift', 'zero'"),
    ('kdd_symbolic', 'some', "'strings', 'all'"),
    ('dtype', 'float16', "'float32', 'float64'"),
    ('threshold_source', 'test', "'train', 'val'"),
    ('model__kind', 'cnn', "'dense', 'conv'"),
    ('model__activation', 'tan', "'tanh', 'relu'"),
    ('model__kernel_init', 'glorot', "'lecun_normal', 'glorot_uniform'"),
    ('gmm__regularizer', 'jiter(eps=1e-6)', "'jitter', 'none'"),
    ('gmm__regularizer', 'jitter(ep=1e-6)', "it takes ['eps']"),
    ('dataset', 'thyriod', "'kddcup99', 'thyroid'"),
    ('num_epochs', 0, '>= 1'), ('batch_size', 0, '>= 1'), ('learning_rate', 0.0, '> 0'),
    ('contamination', 1.0, 'in [0, 1)'), ('rho', 1.0, 'in (0, 1)'), ('num_seeds', 0, '>= 1'),
])
def test_a_bad_field_is_named_with_its_valid_values(field, value, listed):
  config = load_config('thyroid')
  *path, leaf = field.split('__')
  target = config[path[0]] if path else config
  target[leaf] = value   # model.kind and threshold_source are new fields of this config
  with pytest.raises(ConfigError) as e:
    config_check.validate_config(config, experiment_run=True)
  assert f"config.{field.replace('__', '.')}={value!r}" in str(e.value) and listed in str(e.value)
  assert isinstance(e.value, ValueError)   # `except ValueError` callers still catch it


def test_a_typo_fails_before_data_is_loaded_or_anything_written(tmp_path, monkeypatch):
  monkeypatch.setattr(rundir, 'load_data', lambda config: pytest.fail('loaded data'))
  bad = load_config('thyroid', scaling='zcore', num_epochs=1)
  with pytest.raises(ConfigError, match='zscore'):
    experiment.train_and_evaluate(bad, str(tmp_path / 'run'))
  with pytest.raises(ConfigError, match=r"grid cell b: config.scaling='zcore'"):   # before cell a runs
    grid.run_grid({'a': load_config('thyroid', num_epochs=1), 'b': bad}, tmp_path / 'grid')
  x = np.zeros((10, 3), np.float32)
  with pytest.raises(ConfigError, match='zscore'):
    DAGMM(bad).fit(x, workdir=tmp_path / 'model')
  with pytest.raises(ConfigError, match="'tanh'"):
    Inspector.from_config(tiny_config(model__activation='tan')).fit(tmp_path / 'images',
                                                                    workdir=tmp_path / 'img')
  assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------
# 5. Errors read as errors


def _command(module: str, *args: str) -> tuple[int, list[str], str]:
  """``(exit status, stderr lines other than absl's log lines, stderr)`` of a command."""
  out = subprocess.run([sys.executable, '-m', f'dagmm_jax.cli.{module}', *args], capture_output=True,
                       text=True, env=ENV, timeout=120, cwd=ROOT)
  return out.returncode, [l for l in out.stderr.splitlines() if not ABSL_LOG_LINE.match(l)], out.stderr


def test_user_errors_end_a_command_in_one_line_without_a_traceback(tmp_path):
  code, lines, err = _command('score', '--workdir', str(tmp_path / 'none'), '--input', 'x.csv',
                              '--out', str(tmp_path / 'o.csv'))
  assert code == 2 and lines == [f'score: error: no saved DAGMM model at {tmp_path / "none"}: '
                                 'folder does not exist'], err
  code, lines, err = _command('reproduce', '--config', 'experiments/thyroid.py', '--workdir',
                              str(tmp_path / 'run'), '--config.scaling=zcore')
  assert code == 2 and len(lines) == 1 and "'none', 'minmax', 'zscore'" in lines[0], err
  assert 'Traceback' not in err and not (tmp_path / 'run').exists()
  code, lines, err = _command('reproduce', '--config', 'experiments/thyroid.py', '--workdir',
                              str(tmp_path / 'run'), '--config.scaling=zcore', '--verbose')
  assert code != 0 and 'Traceback' in err and 'ConfigError' in err   # --verbose: the traceback too


def test_error_lines_say_what_kind_of_error():
  assert common.error_lines(ConfigError('config.x=1 must be >= 2'), 'p') == ['p: error: config.x=1 must be >= 2']
  assert common.error_lines(FileNotFoundError('no file a.csv'), 'p') == ['p: error: no file a.csv']
  # a plain ValueError may be a bug: the hint says how to see where it came from
  assert common.error_lines(ValueError('bad\nvalue'), 'p') == [
      'p: error: bad value', '(ValueError; --verbose shows the traceback)']
  assert not isinstance(KeyError('x'), common.USER_ERRORS)   # a bug keeps its traceback
  assert issubclass(WorkdirInUse, UserError) and issubclass(ConfigError, UserError)
