"""The commands' front door: --help answers at once (no JAX imported) and explains
the command; configs can be given by name."""
import pathlib
import subprocess
import sys
import tomllib

import pytest

from dagmm_jax.cli import common

ROOT = pathlib.Path(__file__).parents[1]
COMMANDS = tomllib.loads((ROOT / 'pyproject.toml').read_text())['project']['scripts']

_PROBE = """
import atexit, importlib, sys
atexit.register(lambda: print('JAX_IMPORTED' if 'jax' in sys.modules else 'NO_JAX'))
sys.argv = [{name!r}] + {args!r}
module, function = {target!r}.split(':')
getattr(importlib.import_module(module), function)()
"""


@pytest.mark.parametrize('name', sorted(COMMANDS))
def test_help_exits_0_without_importing_jax_and_says_what_the_command_does(name):
  out = subprocess.run([sys.executable, '-c', _PROBE.format(name=name, args=['--help'], target=COMMANDS[name])],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
  assert out.returncode == 0, out.stderr
  assert out.stdout.rstrip().endswith('NO_JAX')
  first = out.stdout.lstrip().splitlines()[0]
  assert len(first) > 20 and not first.startswith(('USAGE', 'flags'))   # the purpose, from its docstring
  assert f'  {name} ' in out.stdout or '  dagmm-' in out.stdout            # an example command line
  assert '--workdir' in out.stdout or '--out' in out.stdout


def test_help_lists_the_config_fields_with_defaults_and_meanings():
  probe = _PROBE.format(name='dagmm-reproduce', args=['--config', 'kdd', '--help'],
                        target=COMMANDS['dagmm-reproduce'])
  out = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True, timeout=120, cwd=ROOT)
  assert out.returncode == 0, out.stderr
  assert "--config.dataset='kddcup99'  # 'normal.' rows are the anomaly class" in out.stdout
  assert '--config.num_epochs=200  # full passes over the training rows' in out.stdout   # base's meaning kept
  assert "--config.gmm.regularizer='jitter(eps=1e-6)'" in out.stdout                     # from base.py


def test_a_config_by_name_is_the_installed_file_and_a_path_is_left_alone(tmp_path):
  kdd = common.experiment_file('kdd')
  assert common.by_name(['--config', 'kdd', '--workdir', 'w']) == ['--config', kdd, '--workdir', 'w']
  assert common.by_name(['--config=kdd']) == [f'--config={kdd}']
  assert common.by_name(['--config=table2:x']) == [f"--config={common.experiment_file('table2')}:x"]
  assert common.by_name(['--config', 'experiments/kdd.py']) == ['--config', 'experiments/kdd.py']
  assert common.by_name(['--config', 'no_such_config']) == ['--config', 'no_such_config']   # absl says why
  own = tmp_path / 'kdd'
  own.write_text('')
  assert common.by_name(['--config', str(own)]) == ['--config', str(own)]


def test_the_wheel_packages_every_folder_and_the_configs_under_the_package():
  setuptools = tomllib.loads((ROOT / 'pyproject.toml').read_text())['tool']['setuptools']
  folders = {'.'.join(p.relative_to(ROOT).parts) for p in (ROOT / 'dagmm_jax').rglob('*')
             if p.is_dir() and p.name != '__pycache__' and any(p.glob('*.py'))}
  assert set(setuptools['packages']) == {'dagmm_jax', *folders, 'dagmm_jax.experiments'}
  assert setuptools['package-dir'] == {'dagmm_jax.experiments': 'experiments'}   # no top-level `experiments`
  from dagmm_jax import experiments
  assert pathlib.Path(experiments.__file__).parent == ROOT / 'experiments'
