"""Data layer of dagmm-jax: data sets, evaluation protocols and feature scaling.

Public API::

  DataError                      every bad-input error (a ValueError)
  Dataset(name, x, y)            x: [N, D] float32 raw features, y: [N] int8, 1 = anomaly
  load_dataset(name)             'kddcup99', 'kddcup99_rev', 'thyroid', 'arrhythmia'
  Split(train_idx, test_idx)     sorted int64 row indices
  make_split(y, protocol, seed, max_anomalies=None)   protocols 'paper', 'goad'
  Scaler(shift, scale)           x_scaled = (x - shift) / scale
  fit_scaler(x_train, method)    methods 'none', 'minmax', 'zscore'; scaler.apply(x)

Also: parse_kddcup(path), load_mat(path), resolve_file(name), sha256_of(path),
get_builder(name) (the TFDS builder behind a data set), DATASETS, PROTOCOLS,
SCALING_METHODS. Prepared TFDS data: $DAGMM_TFDS_DIR (default
~/tensorflow_datasets); raw files: $DAGMM_DATA_DIR or a checksummed download
into $DAGMM_CACHE_DIR (see download.py).

Label semantics (paper, sec. 4): in 'kddcup99' the 'normal.' traffic rows are
the anomaly class (y = 1); 'kddcup99_rev' reverses this (y = 1 for attacks;
the paper's draw of 24,319 attack rows is ``make_split(..., max_anomalies=24319)``).
"""

from __future__ import annotations

import functools
import os
import pathlib
from typing import Callable, NamedTuple

import numpy as np

from dagmm_jax.data.download import DataError, resolve_file, sha256_of
from dagmm_jax.data.kddcup99 import (SYMBOLIC_ENCODINGS, Kddcup99Blocks, onehot_binary_symbolic,
                                     parse_kddcup)
from dagmm_jax.data.blocks import ArrayBlockBuilder, read_blocks, tfds_dir
from dagmm_jax.data.odds import OddsMat, load_mat
from dagmm_jax.data.protocols import (
  PROTOCOLS,
  SCALING_METHODS,
  Scaler,
  Split,
  fit_scaler,
  make_split,
)

__all__ = [
  'DATASETS', 'DataError', 'Dataset', 'PROTOCOLS', 'SCALING_METHODS', 'Scaler',
  'Split', 'fit_scaler', 'get_builder', 'load_dataset', 'load_mat', 'make_split',
  'parse_kddcup', 'resolve_file', 'sha256_of',
]


class Dataset(NamedTuple):
  """A whole data set: raw (unscaled) features and anomaly labels."""

  name: str
  x: np.ndarray  # [N, D] float32, read-only
  y: np.ndarray  # [N] int8, 1 = anomaly class, 0 = normal class; read-only


def _kdd() -> ArrayBlockBuilder:
  return Kddcup99Blocks(data_dir=str(tfds_dir()))


def _odds(config: str) -> Callable[[], ArrayBlockBuilder]:
  return lambda: OddsMat(config=config, data_dir=str(tfds_dir()))


def _flip(y: np.ndarray) -> np.ndarray:
  return (1 - y).astype(np.int8)


# Stored y is already "1 = anomaly" for these (for KDD: is_normal_traffic,
# and the 'normal.' rows are the paper's anomaly class).
_BUILDERS: dict[str, Callable[[], ArrayBlockBuilder]] = {
  'kddcup99': _kdd,
  'thyroid': _odds('thyroid'),
  'arrhythmia': _odds('arrhythmia'),
}
# Data sets that reuse another one's x with relabelled y.
_RELABELLED: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
  'kddcup99_rev': ('kddcup99', _flip),  # attacks are the anomalies
}
DATASETS: tuple[str, ...] = (*_BUILDERS, *_RELABELLED)


def get_builder(name: str) -> ArrayBlockBuilder:
  """The TFDS builder that stores data set ``name`` (for a relabelled set, its base)."""
  base = _RELABELLED[name][0] if name in _RELABELLED else name
  if base not in _BUILDERS:
    raise ValueError(f'unknown dataset {name!r}; known datasets: {list(DATASETS)}')
  return _BUILDERS[base]()


def _read_only(array: np.ndarray) -> np.ndarray:
  array.flags.writeable = False
  return array


def prepare_dataset(name: str) -> None:
  """Writes ``name``'s TFDS files if this machine has none yet, without reading them.
  Call it before starting processes that load the same set: two processes
  preparing it at once race on TFDS's final rename (issue 14)."""
  get_builder(name).download_and_prepare()


@functools.lru_cache(maxsize=None)
def load_dataset(name: str, kdd_symbolic: str = 'strings') -> Dataset:
  """Load a data set by name (prepared with TFDS on first use, cached in-process).

  ``kdd_symbolic`` (KDDCUP sets only): 'strings' one-hot encodes the three
  string columns (118 dims), 'all' every symbolic column (121 dims; see
  ``kddcup99.onehot_binary_symbolic``). The returned arrays are read-only
  because they are shared between callers ('kddcup99' and 'kddcup99_rev'
  share the same x).
  """
  if kdd_symbolic not in SYMBOLIC_ENCODINGS:
    raise ValueError(f'unknown kdd_symbolic {kdd_symbolic!r}; known: {list(SYMBOLIC_ENCODINGS)}')
  if kdd_symbolic != 'strings':
    if not name.startswith('kddcup99'):
      raise ValueError(f'kdd_symbolic={kdd_symbolic!r} applies to the KDDCUP sets only, not {name!r}')
    data = load_dataset(name)
    return data._replace(x=_read_only(onehot_binary_symbolic(data.x)))
  if name in _RELABELLED:
    base, relabel = _RELABELLED[name]
    data = load_dataset(base)
    return Dataset(name=name, x=data.x, y=_read_only(relabel(data.y)))
  x, y = read_blocks(get_builder(name))
  return Dataset(name=name, x=_read_only(x), y=_read_only(y))


def load_rows(path: str | os.PathLike) -> np.ndarray:
  """Tabular rows ``[N, D]`` from ``.npy`` or ``.csv`` (an optional header line is skipped)."""
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f'input file {path} does not exist')
  if path.suffix.lower() == '.npy':
    x = np.load(path, allow_pickle=False)
  elif path.suffix.lower() == '.csv':
    try:
      x = np.loadtxt(path, delimiter=',', dtype=np.float32, ndmin=2)
    except ValueError:
      x = np.loadtxt(path, delimiter=',', dtype=np.float32, ndmin=2, skiprows=1)
  else:
    raise ValueError(f'unsupported input {path}: expected an image folder, a .csv or a .npy file')
  return np.asarray(x, np.float32)
