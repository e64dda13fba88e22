"""Time loading each data set: parse, cold (prepare TFDS) and warm (read back).

Usage (from the repository root):
  DAGMM_DATA_DIR=../shared/data .venv/bin/python -m benchmarks.bench_load

* parse: verify the source file (SHA-256) and parse it, without TFDS;
* cold:  ``load_dataset`` into an empty TFDS directory (includes parse + prepare);
* warm:  ``load_dataset`` again with the in-process cache cleared (read back only);
* cached: a second ``load_dataset`` call (in-process cache hit).
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Callable


from dagmm_jax.data import DATASETS, get_builder, load_dataset


def seconds(fn: Callable[[], object]) -> float:
  """Wall-clock seconds of one call of fn."""
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def bench(name: str) -> dict[str, float]:
  """Parse, cold, warm and cached load times of one data set, in seconds."""
  saved = os.environ.get('DAGMM_TFDS_DIR')
  with tempfile.TemporaryDirectory() as tfds_dir:
    os.environ['DAGMM_TFDS_DIR'] = tfds_dir
    try:
      parse = seconds(get_builder(name).load_arrays)
      load_dataset.cache_clear()
      cold = seconds(lambda: load_dataset(name))
      load_dataset.cache_clear()
      warm = seconds(lambda: load_dataset(name))
      cached = seconds(lambda: load_dataset(name))
    finally:
      if saved is None:
        del os.environ['DAGMM_TFDS_DIR']
      else:
        os.environ['DAGMM_TFDS_DIR'] = saved
  return {'parse': parse, 'cold': cold, 'warm': warm, 'cached': cached}


def main() -> None:
  rows = []
  for name in DATASETS:
    times = bench(name)
    data = load_dataset(name)
    rows.append((name, data.x.shape, int(data.y.sum()), times))
  load_dataset.cache_clear()
  print(f"\n{'dataset':<14}{'shape':>15}{'anomalies':>11}" + ''.join(f'{k:>9}' for k in rows[0][3]))
  for name, shape, anomalies, times in rows:
    cells = ''.join(f'{t:>8.3f}s' for t in times.values())
    print(f'{name:<14}{str(shape):>15}{anomalies:>11}{cells}')
  print('(cold = parse + TFDS prepare + read; warm = read back prepared data;'
        ' kddcup99_rev includes loading kddcup99 it relabels)')


if __name__ == '__main__':
  main()
