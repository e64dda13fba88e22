"""Seed chunks in parallel pinned worker processes give the one-process results."""
import json
import os

import numpy as np
import pytest

from dagmm_jax import experiment, study, workers
from helpers import load_config

TWO_CORES = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2,
                               reason='needs 2 cores to pin 2 worker processes')


def test_core_groups_deal_disjoint_cores_and_refuse_too_many():
  cores = sorted(os.sched_getaffinity(0))
  groups = workers.core_groups(len(cores))
  assert sorted(c for g in groups for c in g) == cores and all(len(g) == 1 for g in groups)
  with pytest.raises(ValueError, match=f'--processes={len(cores) + 1}.*choose 1..{len(cores)}'):
    workers.core_groups(len(cores) + 1)


def test_train_and_evaluate_refuses_a_process_count_before_touching_the_workdir(tmp_path):
  with pytest.raises(ValueError, match='--processes=0'):
    experiment.train_and_evaluate(load_config('thyroid'), str(tmp_path / 'run'), processes=0)
  assert not (tmp_path / 'run').exists()


def test_a_failed_worker_is_named_and_raises(tmp_path):
  # No config.json in the workdir: the worker exits non-zero.
  with pytest.raises(RuntimeError, match=r'chunk 3 \(exit status 1\).*rerun the same command'):
    workers.run_chunks(tmp_path, [(3, [0, 1])], 1)


@TWO_CORES
def test_two_processes_match_one_process(tmp_path, data_file):
  data_file('thyroid.mat')
  config = load_config('thyroid', num_epochs=4, num_seeds=4, checkpoint_every=2)
  one = experiment.train_and_evaluate(config, str(tmp_path / 'one'))
  two = experiment.train_and_evaluate(config, str(tmp_path / 'two'), processes=2)
  assert two['processes'] == 2
  assert [r['seed'] for r in two['runs']] == [0, 1, 2, 3]
  for a, b in zip(one['runs'], two['runs']):
    for m in experiment.METRICS:
      assert a[m] == pytest.approx(b[m], abs=1e-4), (a['seed'], m)
  # Two chunks of two seeds, each trained and checkpointed by its own worker.
  workers_gib = 0.0
  for chunk, seeds in ((0, [0, 1]), (1, [2, 3])):
    record = json.loads((tmp_path / 'two' / 'chunks' / f'chunk_{chunk}.json').read_text())
    assert record['seeds'] == seeds and record['peak_host_memory_gib'] > 0.05
    workers_gib += record['peak_host_memory_gib']
    assert (tmp_path / 'two' / 'checkpoints' / f'chunk_{chunk}').is_dir()
  # The run's peak memory adds the workers' peaks to the parent's.
  assert two['peak_host_memory_gib'] > workers_gib
  assert 'peak host memory' in (tmp_path / 'two' / 'results.md').read_text()
  # Both workers appended to one log; the study reads it back joined over the seed axis.
  diag_two, diag_one = (study.read_diagnostics(tmp_path / d) for d in ('two', 'one'))
  assert diag_two['min_eig'].shape == diag_one['min_eig'].shape
  assert diag_two['min_eig'].shape[1:] == (4, config.model.n_mixtures)
  np.testing.assert_array_equal(diag_two['epoch'], diag_one['epoch'])
  np.testing.assert_allclose(diag_two['phi'], diag_one['phi'], atol=1e-4)
  # A rerun reuses both chunks and starts no worker.
  again = experiment.train_and_evaluate(config, str(tmp_path / 'two'), processes=2)
  assert [r['f1'] for r in again['runs']] == [r['f1'] for r in two['runs']]


def _fake_spawn(scripts):
  """``workers.spawn`` stand-in: chunk i runs the Python one-liner ``scripts[i]``."""
  import subprocess
  import sys

  def spawn(target, args, cores, **kw):
    return subprocess.Popen([sys.executable, '-c', scripts[int(args[1])]])
  return spawn


@TWO_CORES
def test_a_failed_worker_stops_the_others_at_once(tmp_path, monkeypatch):
  import time
  started = []
  real = _fake_spawn({0: 'import sys, time; time.sleep(0.5); sys.exit(3)', 1: 'import time; time.sleep(120)'})
  monkeypatch.setattr(workers, 'spawn', lambda *a, **k: started.append(real(*a, **k)) or started[-1])
  t0 = time.monotonic()
  with pytest.raises(RuntimeError, match=r'chunk 0 \(exit status 3\)'):
    workers.run_chunks(tmp_path, [(0, [0]), (1, [1])], 2)
  assert time.monotonic() - t0 < 60            # not the sleeper's 120 s
  assert started[1].wait(timeout=10) is not None   # the sleeper was terminated


def test_a_worker_ends_with_its_parent(tmp_path):
  import subprocess
  import sys
  import time
  # A parent that spawns a worker sleeping 120 s, prints its pid and is then killed.
  (tmp_path / 'sleeper.py').write_text('def main(argv):\n  import time\n  time.sleep(120)\n')
  parent = subprocess.Popen([sys.executable, '-c', (
      'import os, time\n'
      'from dagmm_jax import workers\n'
      'p = workers.spawn("sleeper:main", [], set(sorted(os.sched_getaffinity(0))[:1]))\n'
      'print(p.pid, flush=True); time.sleep(120)\n')], stdout=subprocess.PIPE, text=True,
      env={**os.environ, 'PYTHONPATH': os.pathsep.join([str(workers.ROOT), str(tmp_path)])})
  child = int(parent.stdout.readline())
  parent.kill()
  parent.wait()
  for _ in range(100):
    try:
      os.kill(child, 0)
    except ProcessLookupError:
      break
    time.sleep(0.1)
  else:
    os.kill(child, 9)
    raise AssertionError('the worker outlived its killed parent')


def test_one_process_needs_no_affinity(monkeypatch):
  monkeypatch.delattr(os, 'sched_getaffinity')
  assert workers.core_groups(1) == [set()]
  with pytest.raises(ValueError, match='which need Linux'):
    workers.core_groups(2)


@TWO_CORES
def test_the_data_set_is_prepared_once_before_the_workers_start(tmp_path, monkeypatch):
  calls = []
  monkeypatch.setattr(experiment, 'prepare_dataset', lambda name: calls.append(('prepare', name)))

  def run_chunks(workdir, chunks, processes):
    calls.append(('workers', processes))
    raise RuntimeError('stop here')
  monkeypatch.setattr(workers, 'run_chunks', run_chunks)
  with pytest.raises(RuntimeError, match='stop here'):
    experiment.train_and_evaluate(load_config('thyroid', num_seeds=2), str(tmp_path / 'r'), processes=2)
  assert calls == [('prepare', 'thyroid'), ('workers', 2)]
