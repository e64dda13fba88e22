"""Pinned processes: core groups, portability, no process outliving its parent."""
import os

import pytest

from dagmm_jax import experiment
from dagmm_jax.training import pinning
from helpers import load_config

def test_core_groups_deal_disjoint_cores_and_refuse_too_many():
  cores = sorted(os.sched_getaffinity(0))
  groups = pinning.core_groups(len(cores))
  assert sorted(c for g in groups for c in g) == cores and all(len(g) == 1 for g in groups)
  with pytest.raises(ValueError, match=f'--processes={len(cores) + 1}.*choose 1..{len(cores)}'):
    pinning.core_groups(len(cores) + 1)


def test_train_and_evaluate_refuses_a_process_count_before_touching_the_workdir(tmp_path):
  with pytest.raises(ValueError, match='--processes=0'):
    experiment.train_and_evaluate(load_config('thyroid'), str(tmp_path / 'run'), processes=0)
  assert not (tmp_path / 'run').exists()


def test_a_worker_ends_with_its_parent(tmp_path):
  import subprocess
  import sys
  import time
  # A parent that spawns a worker sleeping 120 s, prints its pid and is then killed.
  (tmp_path / 'sleeper.py').write_text('def main(argv):\n  import time\n  time.sleep(120)\n')
  parent = subprocess.Popen([sys.executable, '-c', (
      'import os, time\n'
      'from dagmm_jax.training import pinning\n'
      'p = pinning.spawn("sleeper:main", [], set(sorted(os.sched_getaffinity(0))[:1]))\n'
      'print(p.pid, flush=True); time.sleep(120)\n')], stdout=subprocess.PIPE, text=True,
      env={**os.environ, 'PYTHONPATH': str(tmp_path)})
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
  assert pinning.core_groups(1) == [set()]
  with pytest.raises(ValueError, match='which need Linux'):
    pinning.core_groups(2)
