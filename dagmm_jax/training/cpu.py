"""Faster CPU versions of two training steps, bit-identical to JAX's own.

Profiling a KDDCUP epoch on one core (``benchmarks/profile_step.py``) showed two
steps that are slow on XLA:CPU for reasons unrelated to the model's arithmetic:

- ``jax.random`` draws (dropout masks, the epoch's shuffle). JAX lowers the
  Threefry hash on CPU as a rolled 5-iteration ``while`` loop (to save compile
  time), so every round is a separate kernel over the whole array. The unrolled
  lowering, which JAX uses on every other platform, computes the same bits in
  one fused kernel, several times faster.
- The stable ``argsort`` that shuffles each seed's rows once per epoch: XLA:CPU's
  comparator sort is an order of magnitude slower than NumPy sorting the keys
  packed with their index.

``benchmarks/bench_cpu_paths.py`` times both against JAX's default paths
(figures: ``docs/performance.md``).

Both replacements return exactly what the default path returns (tested in
``tests/test_cpu.py``), so results and random streams do not change; on GPU
and TPU nothing changes at all.
"""
import jax
import jax.numpy as jnp
import numpy as np


def unroll_threefry_on_cpu(unrolled: bool = True) -> bool:
  """Lowers ``threefry2x32`` on CPU with JAX's unrolled (non-CPU) rule; same bits.
  ``unrolled=False`` restores JAX's own rolled CPU rule (for benchmarks). Programs
  traced afterwards use the registered rule. A process-wide switch: the commands
  call it once (``cli/common.setup``); library users may too.

  Returns whether CPU programs now get the asked-for rule: True when registered,
  or for ``unrolled`` when this JAX has no CPU-specific rule (its default is then
  the unrolled one); False, changing nothing, where JAX's private symbols moved.
  """
  try:
    from jax._src.interpreters import mlir
    from jax._src.random import threefry2x32 as threefry
  except ImportError:
    return False
  rule = getattr(threefry, '_threefry2x32_lowering_rule', None)
  cpu_rule = getattr(threefry, '_threefry2x32_cpu_lowering_rule', None)
  primitive = getattr(threefry, 'threefry2x32_p', None)
  if rule is not None and cpu_rule is None:
    return unrolled
  if rule is None or primitive is None:
    return False
  mlir.register_lowering(primitive, rule if unrolled else cpu_rule, platform='cpu')
  return True


def _numpy_argsort(keys: np.ndarray) -> np.ndarray:
  """Stable argsort along the last axis, as int32.

  Non-negative float32 keys (the shuffle's uniforms) order like their int32 bit
  patterns; packed above the index into one int64, every key is unique, so a
  plain in-place sort gives the stable order, cheaper than a stable argsort
  (docs/performance.md has the figures).
  """
  keys = np.asarray(keys)
  n = keys.shape[-1]
  if keys.dtype == np.float32 and not (np.signbit(keys).any() or np.isnan(keys).any()):
    shift = max(1, (n - 1).bit_length())
    packed = (keys.view(np.int32).astype(np.int64) << shift) | np.arange(n, dtype=np.int64)
    packed.sort(axis=-1)
    return (packed & ((1 << shift) - 1)).astype(np.int32)
  return np.argsort(keys, axis=-1, kind='stable').astype(np.int32)


def stable_argsort(keys: jnp.ndarray) -> jnp.ndarray:
  """``jnp.argsort(keys, axis=-1, stable=True)`` as int32; on CPU computed by NumPy.

  On CPU the device buffer is host memory, so the callback copies nothing across
  a bus; on other platforms XLA's sort runs on the device.
  """
  def numpy_sort(k):
    shape = jax.ShapeDtypeStruct(k.shape, jnp.int32)
    return jax.pure_callback(_numpy_argsort, shape, k, vmap_method='expand_dims')

  def xla_sort(k):
    return jnp.argsort(k, axis=-1, stable=True).astype(jnp.int32)

  return jax.lax.platform_dependent(keys, cpu=numpy_sort, default=xla_sort)
