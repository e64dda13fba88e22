"""The benchmark's FLOP count and table (timings themselves are not tested)."""
import jax

from dagmm_jax import benchmark, train
from dagmm_jax.model import build_net
from helpers import load_config


def test_model_flops_count_every_dense_kernel():
  config = load_config('kdd')
  params = train.init_params(build_net(config), jax.random.PRNGKey(0)[None], 118)
  one_seed = jax.tree_util.tree_map(lambda a: a[0], params)
  widths = [(118, 60), (60, 30), (30, 10), (10, 1), (1, 10), (10, 30), (30, 60), (60, 118),
            (3, 10), (10, 4)]
  assert benchmark.model_flops_per_sample(one_seed) == 6 * sum(a * b for a, b in widths)


def test_markdown_lists_every_measure():
  row = lambda s: {'seeds': s, 'steps_per_epoch': 3, 'batch': 8, 'seconds_per_epoch': 0.5,
                   'samples_per_s': 48.0, 'model_flops_per_s': 2e9, 'compile_s': 1.0,
                   'fraction_of_matmul': 0.2}
  text = benchmark.markdown({'device': 'cpu:0', 'dataset': 'kddcup99', 'dtype': 'float32',
                             'matmul_flops_per_s': 1e10, 'train': [row(1), row(20)],
                             'score': {'seeds': 20, 'energies_per_s': 1e5, 'compile_s': 2.0},
                             'load_s': 1.5, 'peak_host_memory_gib': 2.0})
  assert '10.0 GFLOP/s' in text and '(20%)' in text and 'training, 20 seed(s)' in text
  assert 'peak host memory | 2.00 GiB' in text
