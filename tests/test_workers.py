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
