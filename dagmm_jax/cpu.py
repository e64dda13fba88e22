"""CPU-host specifics: faster versions of two training steps (bit-identical to JAX's
own) and host-memory helpers.

Profiling a KDDCUP epoch on one core (``scripts/profile_step.py``) showed two
steps that are slow on XLA:CPU for reasons unrelated to the model's arithmetic:

- ``jax.random`` draws (dropout masks, the epoch's shuffle). JAX lowers the
  Threefry hash on CPU as a rolled 5-iteration ``while`` loop (to save compile
  time), so every round is a separate kernel over the whole array. The unrolled
  lowering, which JAX uses on every other platform, computes the same bits in
  one fused kernel: 6.2x faster for an epoch's 10-seed KDDCUP dropout masks.
- The stable ``argsort`` that shuffles each seed's rows once per epoch: XLA:CPU's
  comparator sort takes 0.63 s for 10 seeds' KDDCUP rows; NumPy, sorting keys
  packed with their index, takes 0.034 s (``scripts/bench_cpu_paths.py``).

Both replacements return exactly what the default path returns (tested in
``tests/test_cpu.py``), so results and random streams do not change; on GPU
and TPU nothing changes at all.
"""
import ctypes
import resource
import sys

import jax
import jax.numpy as jnp
import numpy as np

ALIGN = 64   # bytes; XLA:CPU uses a NumPy buffer in place when it is this aligned


def unroll_threefry_on_cpu(unrolled: bool = True) -> bool:
  """Lowers ``threefry2x32`` on CPU with JAX's unrolled (non-CPU) rule; same bits.
  ``unrolled=False`` restores JAX's own rolled CPU rule (for benchmarks); programs
  traced afterwards use the registered rule.

  Uses a private JAX module; returns False (and changes nothing) where it moved.
  """
  try:
    from jax._src.interpreters import mlir
    from jax._src.random import threefry2x32
    rule = (threefry2x32._threefry2x32_lowering_rule if unrolled
            else threefry2x32._threefry2x32_cpu_lowering_rule)
    primitive = threefry2x32.threefry2x32_p
  except (ImportError, AttributeError):
    return False
  mlir.register_lowering(primitive, rule, platform='cpu')
  return True


def _numpy_argsort(keys: np.ndarray) -> np.ndarray:
  """Stable argsort along the last axis, as int32.

  Non-negative float32 keys (the shuffle's uniforms) order like their int32 bit
  patterns; packed above the index into one int64, every key is unique, so a
  plain in-place sort gives the stable order, 6x faster than a stable argsort.
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


def aligned_empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
  """An uninitialised array whose data starts on an ``ALIGN``-byte boundary, so that
  ``jax.device_put`` on CPU uses it in place instead of copying (``on_device``)."""
  dtype = np.dtype(dtype)
  n_bytes = int(np.prod(shape)) * dtype.itemsize
  raw = np.empty(n_bytes + ALIGN, np.uint8)
  start = -raw.ctypes.data % ALIGN
  return raw[start:start + n_bytes].view(dtype).reshape(shape)


def on_device(x: np.ndarray, dtype: np.dtype) -> jax.Array:
  """``x`` as a device array of ``dtype``. On CPU an aligned array of that dtype is
  used in place (JAX arrays are immutable; pass only arrays that nobody writes)."""
  if x.dtype == np.dtype(dtype):
    return jax.device_put(x)
  return jnp.asarray(x, dtype)


def release_free_memory() -> None:
  """Returns freed heap pages to the OS (glibc ``malloc_trim``; a no-op elsewhere).

  glibc keeps memory freed by NumPy and XLA (dataset blocks, compiler
  temporaries) mapped; in one measurement of a 10-seed KDDCUP worker's stages
  its peak resident memory fell from 1.82 GB to 1.37 GB with a trim after each.
  """
  try:
    ctypes.CDLL('libc.so.6').malloc_trim(0)
  except (OSError, AttributeError):
    pass


def peak_host_memory_gib() -> float:
  """Peak resident memory of this process (``ru_maxrss``), GiB."""
  rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return rss / 2 ** 30 if sys.platform == 'darwin' else rss / 2 ** 20
