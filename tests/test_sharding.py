"""Seeds sharded over 4 (forced host) devices give the single-device results."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

from dagmm_jax import experiment
from dagmm_jax.core import metrics
from helpers import ROOT, load_config

SCRIPT = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    sys.path[:0] = [{tests!r}]
    from helpers import load_config, synthetic_data
    from dagmm_jax import experiment
    from dagmm_jax.training import sharding, train
    assert jax.device_count() == 4, jax.devices()
    # Training alone: sharded vs all seeds on one device, same process.
    config = load_config('kdd', batch_size=100, num_epochs=2, model__hidden=(16, 8))
    data = synthetic_data(n_seeds=4)
    plain = train.fit(config, train.init_state(config, [0, 1, 2, 3], 8), data)
    mesh = sharding.seed_mesh(4)
    sharded = train.fit(config, sharding.shard_state(train.init_state(config, [0, 1, 2, 3], 8), mesh),
                        sharding.shard_data(data, mesh))
    leaf = jax.tree_util.tree_leaves(sharded.params)[0]
    assert len(leaf.sharding.device_set) == 4, leaf.sharding
    diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
               for a, b in zip(jax.tree_util.tree_leaves(plain.params), jax.tree_util.tree_leaves(sharded.params)))
    runs = []
    if len(sys.argv) > 2:   # end to end on Thyroid (sharded inside train_and_evaluate)
      runs = experiment.train_and_evaluate(load_config('thyroid', num_epochs=3, num_seeds=4), sys.argv[1])['runs']
    print(json.dumps({{'diff': diff, 'runs': runs}}))
""")


def _sharded(*args) -> dict:
  env = {**os.environ, 'XLA_FLAGS': '--xla_force_host_platform_device_count=4', 'JAX_PLATFORMS': 'cpu'}
  script = SCRIPT.format(root=str(ROOT), tests=str(ROOT / 'tests'))
  out = subprocess.run([sys.executable, '-c', script, *args], env=env,
                       capture_output=True, text=True, timeout=900)
  assert out.returncode == 0, out.stderr[-3000:]
  got = json.loads(out.stdout.strip().splitlines()[-1])
  assert got['diff'] <= 1e-6, got['diff']     # training: sharded vs one device
  return got


def test_seed_sharding_matches_one_device_in_training():
  _sharded('unused')


@pytest.mark.slow
def test_seed_sharding_end_to_end_matches_one_device(tmp_path, data_file):
  data_file('thyroid.mat')
  got = _sharded(str(tmp_path / 'sharded'), 'e2e')
  single = experiment.train_and_evaluate(load_config('thyroid', num_epochs=3, num_seeds=4),
                                         str(tmp_path / 'single'))
  for a, b in zip(single['runs'], got['runs']):
    for m in metrics.NAMES:
      assert a[m] == pytest.approx(b[m], abs=1e-6), (a['seed'], m)
