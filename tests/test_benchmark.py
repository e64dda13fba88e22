"""The benchmark's FLOP count and table (timings themselves are not tested)."""
import os

import jax
import pytest

from benchmarks import lib
from dagmm_jax.training import train
from dagmm_jax.core.model import build_net
from helpers import load_config


def test_model_flops_count_every_dense_kernel():
  config = load_config('kdd')
  params = train.init_params(build_net(config), jax.random.PRNGKey(0)[None], 118)
  one_seed = jax.tree_util.tree_map(lambda a: a[0], params)
  widths = [(118, 60), (60, 30), (30, 10), (10, 1), (1, 10), (10, 30), (30, 60), (60, 118),
            (3, 10), (10, 4)]
  assert lib.model_flops_per_sample(one_seed) == 6 * sum(a * b for a, b in widths)


def test_markdown_lists_every_measure():
  row = lambda s: {'seeds': s, 'steps_per_epoch': 3, 'batch': 8, 'seconds_per_epoch': 0.5,
                   'samples_per_s': 48.0, 'model_flops_per_s': 2e9, 'compile_s': 1.0,
                   'fraction_of_matmul': 0.2}
  text = lib.markdown({'device': 'cpu:0', 'dataset': 'kddcup99', 'dtype': 'float32',
                             'matmul_flops_per_s': 1e10,
                             'train': [row(1), row(20), {**row(20), 'processes': 2}],
                             'score': {'seeds': 20, 'energies_per_s': 1e5, 'compile_s': 2.0},
                             'load_s': 1.5, 'peak_host_memory_gib': 2.0})
  assert '10.0 GFLOP/s' in text and '(20%)' in text and 'training, 20 seed(s)' in text
  assert 'training, 20 seed(s) in 2 processes: samples/s | 48 |' in text
  assert 'peak host memory (one process, or the processes together) | 2.00 GiB' in text


@pytest.mark.slow   # 30 s: a benchmark harness check (make test-all runs it)
@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason='needs 2 cores to pin 2 processes')
def test_parallel_throughput_runs_the_multi_controller_runtime(data_file):
  data_file('thyroid.mat')
  config = load_config('thyroid')
  t = lib.parallel_train_throughput(config, seeds=4, epochs=2, repeats=1, processes=2)
  assert t['seeds'] == 4 and t['processes'] == 2 and t['steps_per_epoch'] == 2   # ~1,840 rows, batch 1024
  assert 4 * 1024 < t['rows_per_epoch'] < 4 * 2048     # every seed's full pass, both processes
  assert t['samples_per_s'] == pytest.approx(t['rows_per_epoch'] / t['seconds_per_epoch'])
  assert len(t['peak_host_memory']['processes']) == 2
  assert t['model_flops_per_s'] > 0 and t['peak_host_memory_gib'] > 0.1


def test_profile_kinds_and_table():
  assert lib.op_kind('ynn_fusion.16').startswith('dots')
  assert lib.op_kind('dot.119').startswith('dots')
  assert lib.op_kind('triangular_solve.35').startswith('LAPACK')
  assert lib.op_kind('add_tanh_fusion.2').startswith('other')
  assert lib.HLO_NAME.match('add_tanh_fusion.2') and not lib.HLO_NAME.match('ThunkExecutor::Execute')
  text = lib.profile_markdown({
      'device': 'cpu:0', 'dataset': 'kddcup99', 'seeds': 20, 'batch': 1024, 'steps': 10,
      'wall_ms_per_step': 80.0, 'kinds_ms_per_step': {'dots': 30.0, 'other': 10.0},
      'top_ops': [{'op': 'dot.1', 'ms_per_step': 3.0, 'kind': 'dots', 'from': 'a/while/body/enc/dot'}]})
  assert '| dots | 30.00 | 75% |' in text and '| `dot.1` | 3.00 | enc/dot |' in text


def test_cpu_paths_compares_both_lowerings_and_both_sorts():
  r = lib.cpu_paths(seeds=2, rows=5000, steps=3, repeats=1, batch=64)
  assert r['masks_identical'] and r['sort_identical']
  for key in ('masks_rolled', 'masks_unrolled', 'sort_xla', 'sort_numpy'):
    assert r[key]['epoch_s'] > 0 and r[key]['compile_s'] > 0
  assert 'Sort' in lib.cpu_paths_markdown(r)
