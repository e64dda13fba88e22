"""``--processes 2``: JAX's multi-controller runtime on loopback (gloo) gives the
one-process results, stops at once when a process dies, resumes, prepares data once."""
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from dagmm_jax import experiment, study
from dagmm_jax.core import metrics
from dagmm_jax.training import distributed
from helpers import ROOT, load_config

pytestmark = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2,
                                reason='needs 2 cores to pin 2 processes')


def _config(**kw):
  return load_config('thyroid', **{**dict(num_epochs=4, num_seeds=4, checkpoint_every=2), **kw})


def test_two_processes_match_one_process(tmp_path, data_file):
  """Measured (thyroid, 4 seeds, 6 epochs): every AUROC identical, thresholds equal
  or 1 float32 ulp apart (each device's program holds 2 seeds instead of 4)."""
  data_file('thyroid.mat')
  config = _config()
  one = experiment.train_and_evaluate(config, str(tmp_path / 'one'))
  two = experiment.train_and_evaluate(config, str(tmp_path / 'two'), processes=2)
  assert two['processes'] == 2 and len(two['devices']) == 2
  assert [r['seed'] for r in two['runs']] == [0, 1, 2, 3]
  for a, b in zip(one['runs'], two['runs']):
    for m in metrics.NAMES:
      assert a[m] == pytest.approx(b[m], abs=1e-4), (a['seed'], m)
    assert a['threshold'] == pytest.approx(b['threshold'], rel=1e-5)
  # One chunk of four seeds, sharded over both processes, one checkpoint for both.
  record = json.loads((tmp_path / 'two' / 'chunks' / 'chunk_0.json').read_text())
  assert record['seeds'] == [0, 1, 2, 3] and not (tmp_path / 'two' / 'chunks' / 'chunk_1.json').exists()
  assert (tmp_path / 'two' / 'checkpoints' / 'chunk_0' / '4').is_dir()
  # Both processes' peaks and the launcher's are summed in the run's.
  assert two['peak_host_memory_gib'] >= record['peak_host_memory_gib'] > one['peak_host_memory_gib']
  peak = record['peak_host_memory']
  assert len(peak['processes']) == 2 and peak['launcher'] > 0
  assert peak['total'] == pytest.approx(sum(peak['processes']) + peak['launcher'])
  assert two['peak_host_memory'] == [peak]
  # Process 0 alone writes the log: one line per call, every seed in it.
  diag_two, diag_one = (study.read_diagnostics(tmp_path / d) for d in ('two', 'one'))
  assert diag_two['min_eig'].shape == diag_one['min_eig'].shape == (2, 4, config.model.n_mixtures)
  np.testing.assert_allclose(diag_two['phi'], diag_one['phi'], atol=1e-4)
  # A rerun reuses the chunk and starts no process.
  again = experiment.train_and_evaluate(config, str(tmp_path / 'two'))
  assert [r['f1'] for r in again['runs']] == [r['f1'] for r in two['runs']]
  assert again['wall_time_s'] == two['wall_time_s']


def test_a_killed_process_ends_the_run_and_the_same_command_resumes(tmp_path, data_file):
  data_file('thyroid.mat')
  workdir = tmp_path / 'run'
  script = ('import sys; from dagmm_jax import experiment; from helpers import load_config\n'
            'from absl import logging; logging.use_absl_handler(); logging.set_verbosity("info")\n'
            'config = load_config("thyroid", num_epochs=400, num_seeds=2, checkpoint_every=20)\n'
            f'experiment.train_and_evaluate(config, {str(workdir)!r}, processes=2)\n')
  env = {**os.environ, 'PYTHONPATH': str(ROOT / 'tests')}
  log = tmp_path / 'log.txt'
  with log.open('w') as out:
    run = subprocess.Popen([sys.executable, '-c', script], stderr=out, stdout=out, env=env)
  deadline = time.monotonic() + 300
  while time.monotonic() < deadline and not (workdir / 'checkpoints' / 'chunk_0' / '40').is_dir():
    assert run.poll() is None, log.read_text()[-3000:]
    time.sleep(0.2)
  pids = [int(p) for p in re.search(r'2 processes \(pids \[(\d+), (\d+)\]\)', log.read_text()).groups()]
  os.kill(pids[1], 9)
  t0 = time.monotonic()
  assert run.wait(timeout=120) != 0
  assert time.monotonic() - t0 < 60                     # not after process 0's collective timeout
  assert 'process 1 of the run failed (exit status -9)' in log.read_text()
  assert not (workdir / 'results.json').exists()
  for pid in pids:                                         # no process left behind
    assert not os.path.exists(f'/proc/{pid}') or open(f'/proc/{pid}/stat').read().split()[2] == 'Z'
  with log.open('w') as out:
    assert subprocess.run([sys.executable, '-c', script], stderr=out, stdout=out, env=env,
                          timeout=600).returncode == 0
  text = log.read_text()
  assert re.search(r'resuming training from epoch (\d+)', text), text[-3000:]
  assert int(re.search(r'resuming training from epoch (\d+)', text).group(1)) >= 40
  assert json.loads((workdir / 'results.json').read_text())['processes'] == 2


def test_the_data_set_is_prepared_once_before_the_processes_start(tmp_path, monkeypatch):
  calls = []
  monkeypatch.setattr(experiment, 'prepare_dataset', lambda name: calls.append(('prepare', name)))

  def launch(workdir, processes):
    calls.append(('launch', processes))
    raise RuntimeError('stop here')
  monkeypatch.setattr(distributed, 'launch', launch)
  with pytest.raises(RuntimeError, match='stop here'):
    experiment.train_and_evaluate(load_config('thyroid', num_seeds=2), str(tmp_path / 'r'), processes=2)
  assert calls == [('prepare', 'thyroid'), ('launch', 2)]


def test_a_failed_process_stops_the_others_at_once(tmp_path, monkeypatch):
  from dagmm_jax.training import pinning
  started = []
  scripts = ['import sys, time; time.sleep(0.5); sys.exit(3)', 'import time; time.sleep(120)']
  monkeypatch.setattr(pinning, 'spawn', lambda target, args, cores, extra_env=None: started.append(
      subprocess.Popen([sys.executable, '-c', scripts[int(args[3])]])) or started[-1])
  t0 = time.monotonic()
  with pytest.raises(RuntimeError, match=r'process 0 of the run failed \(exit status 3\).*Rerun'):
    distributed.launch(tmp_path, 2)
  assert time.monotonic() - t0 < 60            # not the sleeper's 120 s
  assert started[1].wait(timeout=10) is not None   # the sleeper was terminated
