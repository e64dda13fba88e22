"""cpu.py: the faster CPU paths return exactly what JAX's default paths return."""
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dagmm_jax import host
from dagmm_jax.training import cpu

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize('kind', ['uniform_with_ties_and_padding', 'negative_and_signed_zero', 'nan'])
def test_stable_argsort_equals_jnp_stable_argsort_under_jit_and_vmap(kind):
  rng = np.random.default_rng(0)
  keys = (rng.integers(0, 50, size=(3, 1000)) / 64).astype(np.float32)   # many ties
  if kind == 'uniform_with_ties_and_padding':
    keys[:, 900:] = 2.0
  elif kind == 'negative_and_signed_zero':
    keys -= 0.4
    keys[:, ::7] = -0.0
    keys[:, 3::7] = 0.0
  else:
    keys[:, ::11] = np.nan
  expected = np.asarray(jnp.argsort(jnp.asarray(keys), axis=-1, stable=True))
  np.testing.assert_array_equal(jax.jit(jax.vmap(cpu.stable_argsort))(keys), expected)
  np.testing.assert_array_equal(jax.jit(cpu.stable_argsort)(keys), expected)
  np.testing.assert_array_equal(cpu.stable_argsort(keys[0]), expected[0])


# Trains 2 synthetic seeds for 3 epochs with either JAX's own CPU paths (rolled
# Threefry, XLA sort) or cpu.py's, and saves everything that came out.
_SCRIPT = """
import sys
sys.path[:0] = [{tests!r}]
import jax, jax.numpy as jnp, numpy as np
from dagmm_jax.training import cpu, train
from helpers import load_config, synthetic_data
if sys.argv[1] == 'default':
  cpu.unroll_threefry_on_cpu = lambda: False
  cpu.stable_argsort = lambda k: jnp.argsort(k, axis=-1, stable=True).astype(jnp.int32)
else:
  assert cpu.unroll_threefry_on_cpu(), 'this JAX version no longer has the unrolled lowering'
config = load_config('kdd', batch_size=100, num_epochs=3, model__hidden=(16, 8), checkpoint_every=3)
logged = []
state = train.fit(config, train.init_state(config, [0, 1], 8), synthetic_data(n_seeds=2),
                  on_epoch=lambda e, m, s, st: logged.append(m))
uniform = jax.jit(lambda k: jax.random.uniform(k, (4097,)))(jax.random.PRNGKey(3))
leaves = jax.tree_util.tree_leaves(jax.device_get(state)) + [uniform] + list(logged[-1])
np.savez(sys.argv[2], *[np.asarray(l) for l in leaves])
"""


def test_training_with_cpu_paths_is_bit_identical_to_jax_default_paths(tmp_path):
  script = _SCRIPT.format(root=str(ROOT), tests=str(ROOT / 'tests'))
  out = {}
  for mode in ('default', 'fast'):
    out[mode] = tmp_path / f'{mode}.npz'
    subprocess.run([sys.executable, '-c', script, mode, str(out[mode])], check=True, cwd=tmp_path)
  default, fast = np.load(out['default']), np.load(out['fast'])
  assert default.files == fast.files and len(default.files) > 10
  for name in default.files:
    np.testing.assert_array_equal(fast[name], default[name], err_msg=name)


@pytest.mark.parametrize('shape', [(1000, 118), (7,), (3, 5, 2)])
def test_aligned_arrays_are_used_in_place_by_the_device(shape):
  x = host.aligned_empty(shape, np.float32)
  x[...] = np.arange(x.size, dtype=np.float32).reshape(shape)
  assert x.ctypes.data % host.ALIGN == 0 and x.shape == shape and x.dtype == np.float32
  device = host.on_device(x, np.float32)
  assert device.unsafe_buffer_pointer() == x.ctypes.data     # no copy
  np.testing.assert_array_equal(device, x)
  cast = host.on_device(x, jnp.bfloat16)                       # another dtype: a converted copy
  assert cast.dtype == jnp.bfloat16 and cast.unsafe_buffer_pointer() != x.ctypes.data


def test_release_free_memory_and_peak_memory():
  host.release_free_memory()             # must not raise, on any libc
  assert 0.01 < host.peak_host_memory_gib() < 64
