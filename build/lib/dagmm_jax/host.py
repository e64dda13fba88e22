"""Host memory: arrays that XLA:CPU uses in place, handing freed pages back to the
OS, and the peak resident memory that results files record."""
import ctypes
import resource
import sys

import jax
import jax.numpy as jnp
import numpy as np

ALIGN = 64   # bytes; XLA:CPU uses a NumPy buffer in place when it is this aligned


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
  temporaries) mapped; trimming after each stage of a run lowers its peak
  resident memory (``docs/performance.md``).
  """
  try:
    ctypes.CDLL('libc.so.6').malloc_trim(0)
  except (OSError, AttributeError):
    pass


def peak_host_memory_gib() -> float:
  """Peak resident memory of this process (``ru_maxrss``), GiB."""
  rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return rss / 2 ** 30 if sys.platform == 'darwin' else rss / 2 ** 20
