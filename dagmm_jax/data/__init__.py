"""Data layer of dagmm-jax: data sets, evaluation protocols and feature scaling.

Public API::

  DataError                      every bad-input error (a ValueError)
  Dataset(name, x, y)            x: [N, D] float32 raw features, y: [N] int8, 1 = anomaly
  load_dataset(name)             'kddcup99', 'kddcup99_rev', 'thyroid', 'arrhythmia';
                                 'mock' (synthetic, in memory: tests and smoke runs)
  Split(train_idx, test_idx)     sorted int64 row indices
  make_split(y, protocol, seed, max_anomalies=None)   protocols 'paper', 'goad'
  Scaler(shift, scale)           x_scaled = (x - shift) / scale
  fit_scaler(x_train, method)    methods 'none', 'minmax', 'zscore'; scaler.apply(x)

  read_rows(path)                Rows(x, header) of a .csv / .npy file (load_rows: x only);
                                 errors name the line and column

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
from dagmm_jax.data.blocks import ArrayBlockBuilder, prepare, read_blocks, tfds_dir
from dagmm_jax.data.mock import mock_tabular
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
  'DATASETS', 'DataError', 'Dataset', 'PROTOCOLS', 'Rows', 'SCALING_METHODS', 'Scaler',
  'Split', 'fit_scaler', 'get_builder', 'load_dataset', 'load_mat', 'load_rows', 'make_split',
  'parse_kddcup', 'read_rows', 'resolve_file', 'sha256_of',
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
MOCK = 'mock'   # synthetic, generated in memory (data/mock.py): for tests and smoke runs
DATASETS: tuple[str, ...] = (*_BUILDERS, *_RELABELLED, MOCK)


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
  preparing it at once race on TFDS's final rename. (``mock`` has no files.)"""
  if name != MOCK:
    prepare(get_builder(name))


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
  if name == MOCK:
    x, y = mock_tabular()
    return Dataset(name=name, x=_read_only(x), y=_read_only(y))
  if name in _RELABELLED:
    base, relabel = _RELABELLED[name]
    data = load_dataset(base)
    return Dataset(name=name, x=data.x, y=_read_only(relabel(data.y)))
  x, y = read_blocks(get_builder(name))
  return Dataset(name=name, x=_read_only(x), y=_read_only(y))


class Rows(NamedTuple):
  """Tabular rows read from a file: ``x [N, D]`` float32 and the CSV header's names (or None)."""

  x: np.ndarray
  header: list[str] | None


def _is_number(field: str) -> bool:
  try:
    float(field)
  except ValueError:
    return False
  return True


def _csv_fields(path: pathlib.Path) -> tuple[list[list[str]], list[str] | None]:
  """The comma-separated fields of every data line of ``path`` and the header's.

  The first line is a header only when none of its fields is a number: a data
  row with one bad field is never taken for a header (it raises instead).
  Trailing blank lines are ignored; any other line must have as many fields as
  the first."""
  lines = [line.rstrip('\r') for line in path.read_text(encoding='utf-8-sig').split('\n')]
  while lines and not lines[-1].strip():
    lines.pop()
  if not lines:
    raise DataError(f'{path} is empty: expected comma-separated rows of numbers')
  fields = [line.split(',') for line in lines]
  header = None
  if not any(_is_number(f) for f in fields[0]):
    header = [f.strip() for f in fields[0]]
  width = len(fields[0])
  for n, row in enumerate(fields, start=1):
    if len(row) != width:
      what = 'an empty line' if not lines[n - 1].strip() else f'{len(row)} field(s)'
      raise DataError(f'{path}, line {n}: expected {width} comma-separated fields '
                      f'(as line 1), got {what}')
  return fields[1:] if header is not None else fields, header


def _csv_values(path: pathlib.Path, rows: list[list[str]], first_line: int) -> np.ndarray:
  """``rows`` as float64 ``[N, D]``; ``DataError`` naming the line (1-based, as in
  the file), the column (1-based) and the text of the first field that is not a number."""
  try:
    return np.array(rows, dtype=np.float64)
  except ValueError:
    pass
  for n, row in enumerate(rows, start=first_line):
    for j, field in enumerate(row, start=1):
      if not _is_number(field):
        raise DataError(f'{path}, line {n}, column {j}: {field!r} is not a number')
  return np.array([[float(f) for f in row] for row in rows], dtype=np.float64)


def _first_nonfinite(x: np.ndarray) -> tuple[int, int] | None:
  """``(row, column)`` of the first value that is NaN, infinite or beyond float32, or None."""
  with np.errstate(over='ignore'):   # beyond float32 is reported as such, not warned about
    bad = ~np.isfinite(x.astype(np.float32))
  return tuple(int(k) for k in np.argwhere(bad)[0]) if bad.any() else None


def _nonfinite_error(path: pathlib.Path, where: str, text: str, value: float) -> DataError:
  why = 'is beyond the float32 range' if np.isfinite(value) else 'is not a finite number'
  return DataError(f'{path}, {where}: {text} {why}; every value must be finite')


def read_rows(path: str | os.PathLike) -> Rows:
  """Tabular rows from ``.npy`` (a 2-D array) or ``.csv`` (comma-separated numbers).

  A CSV's first line is a header (skipped, its names returned) only when none of
  its fields parses as a number. Every other line is one row, in order: row
  ``i`` (0-based) is line ``i + 1``, or ``i + 2`` after a header. A field that
  is not a number, a line with another number of fields, or a value that is
  NaN, infinite or beyond float32 raises ``DataError`` naming the file, the
  line (1-based, as an editor shows it), the column (1-based) and the text.
  """
  path = pathlib.Path(path)
  if not path.is_file():
    raise FileNotFoundError(f'input file {path} does not exist')
  suffix = path.suffix.lower()
  if suffix == '.npy':
    x = np.load(path, allow_pickle=False)
    if x.ndim != 2 or not x.size:
      raise DataError(f'{path} holds an array of shape {x.shape}: expected rows [N, D]')
    if not np.issubdtype(x.dtype, np.number):
      raise DataError(f'{path} holds dtype {x.dtype}: expected numbers')
    if (bad := _first_nonfinite(x)) is not None:
      raise _nonfinite_error(path, f'row {bad[0]}, column {bad[1]} (0-based)', str(x[bad]), x[bad])
    return Rows(np.asarray(x, np.float32), None)
  if suffix != '.csv':
    raise ValueError(f'unsupported input {path}: expected an image folder, a .csv or a .npy file')
  rows, header = _csv_fields(path)
  first_line = 1 if header is None else 2
  if not rows:
    raise DataError(f'{path} holds a header line and no rows')
  x = _csv_values(path, rows, first_line)
  if (bad := _first_nonfinite(x)) is not None:
    i, j = bad
    raise _nonfinite_error(path, f'line {first_line + i}, column {j + 1}', rows[i][j].strip(), x[bad])
  return Rows(x.astype(np.float32), header)


def load_rows(path: str | os.PathLike) -> np.ndarray:
  """``read_rows(path).x``: rows ``[N, D]`` float32, one per data line of a CSV
  (a header line, one with no numeric field, is skipped) or of a ``.npy`` array."""
  return read_rows(path).x
