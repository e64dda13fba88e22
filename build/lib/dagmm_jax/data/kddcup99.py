"""KDD Cup 1999 (10% subset): parsing, one-hot encoding and the TFDS builder.

``parse_kddcup`` turns ``kddcup.data_10_percent.gz`` (494,021 rows of 41
comma-separated features plus a label ending in '.') into a float32 matrix in
which each of the three string columns (protocol_type, service, flag) is
replaced, in place, by its one-hot block. The vocabulary of each block is the
sorted set of values present in the file, a fixed property of the data set
(3 + 66 + 11 values on the 10% file: 38 numeric + 80 one-hot = 118 columns).

The builder stores the raw ``is_normal_traffic`` flag (label == 'normal.');
which class counts as the anomaly is decided by ``load_dataset``.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib

import numpy as np

from dagmm_jax.data.download import DataError, resolve_file
from dagmm_jax.data.blocks import ArrayBlockBuilder

FILE_NAME = 'kddcup.data_10_percent.gz'

COLUMNS: tuple[str, ...] = (
  'duration', 'protocol_type', 'service', 'flag', 'src_bytes', 'dst_bytes',
  'land', 'wrong_fragment', 'urgent', 'hot', 'num_failed_logins', 'logged_in',
  'num_compromised', 'root_shell', 'su_attempted', 'num_root',
  'num_file_creations', 'num_shells', 'num_access_files', 'num_outbound_cmds',
  'is_host_login', 'is_guest_login', 'count', 'srv_count', 'serror_rate',
  'srv_serror_rate', 'rerror_rate', 'srv_rerror_rate', 'same_srv_rate',
  'diff_srv_rate', 'srv_diff_host_rate', 'dst_host_count',
  'dst_host_srv_count', 'dst_host_same_srv_rate', 'dst_host_diff_srv_rate',
  'dst_host_same_src_port_rate', 'dst_host_srv_diff_host_rate',
  'dst_host_serror_rate', 'dst_host_srv_serror_rate', 'dst_host_rerror_rate',
  'dst_host_srv_rerror_rate', 'label',
)
N_FIELDS = len(COLUMNS)  # 42
CATEGORICAL = ('protocol_type', 'service', 'flag')
LABEL = 'label'
NORMAL_LABEL = b'normal.'
N_DIMS = 118  # 38 numeric + 3 + 66 + 11 one-hot on the 10% file
# The symbolic columns stored as 0/1 numbers (the paper one-hot encodes every
# symbolic column; its 120 dims suggest it did so for these too).
BINARY_SYMBOLIC = ('land', 'logged_in', 'is_host_login', 'is_guest_login')
SYMBOLIC_ENCODINGS = ('strings', 'all')

_MAX_STR = 32  # width of the string columns while parsing; longer is an error
_DTYPE = np.dtype(
  [(c, f'S{_MAX_STR}' if c in CATEGORICAL or c == LABEL else 'f8') for c in COLUMNS]
)


def _read_text(path: str | os.PathLike) -> str:
  """Decompressed file content as text with '\\n' line ends and a final '\\n'."""
  try:
    with gzip.open(path, 'rb') as f:
      raw = f.read()
  except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
    raise DataError(f'{path}: not a readable gzip archive (corrupt or truncated): {e}') from e
  try:
    text = raw.decode('ascii')
  except UnicodeDecodeError as e:
    raise DataError(
        f'{path}: expected ASCII text, found byte {raw[e.start]:#04x} at offset {e.start}'
    ) from e
  text = text.replace('\r\n', '\n')
  if not text or text.isspace():
    raise DataError(f'{path}: no rows')
  return text if text.endswith('\n') else text + '\n'


def _check_field_counts(path: str | os.PathLike, text: str) -> None:
  """Raise DataError naming the first row that does not have 42 fields."""
  commas = [line.count(',') for line in text.split('\n')[:-1]]
  if commas.count(N_FIELDS - 1) != len(commas):
    row = next(i for i, n in enumerate(commas) if n != N_FIELDS - 1)
    raise DataError(
      f'{path}: row {row + 1}: expected {N_FIELDS} comma-separated fields, '
      f'got {commas[row] + 1}'
    )


def _bad_value(path: str | os.PathLike, row: int, column: str, expected: str, value) -> DataError:
  """DataError for the value in 0-based ``row`` of ``column``."""
  return DataError(f'{path}: row {row + 1}, column {column!r}: expected {expected}, got {value!r}')


def _find_bad_number(path: str | os.PathLike, text: str) -> DataError | None:
  """Slow exact diagnosis: the first non-numeric value in a numeric column."""
  for row, line in enumerate(text.splitlines()):
    for column, value in zip(COLUMNS, line.split(',')):
      if column in CATEGORICAL or column == LABEL:
        continue
      try:
        float(value)
      except ValueError:
        return _bad_value(path, row, column, 'a number', value)
  return None


def _parse_table(path: str | os.PathLike, text: str) -> np.ndarray:
  """Structured array with one field per column (numbers as float64)."""
  try:
    return np.loadtxt(io.StringIO(text), delimiter=',', dtype=_DTYPE, comments=None, ndmin=1)
  except ValueError as e:
    raise (_find_bad_number(path, text) or DataError(f'{path}: {e}')) from e


def _check_numbers(path: str | os.PathLike, table: np.ndarray) -> None:
  """Raise DataError naming the first NaN or infinite number."""
  for column in COLUMNS:
    if column in CATEGORICAL or column == LABEL:
      continue
    bad = np.flatnonzero(~np.isfinite(table[column]))
    if bad.size:
      raise _bad_value(path, bad[0], column, 'a finite number', table[column][bad[0]])


def categories(
  path: str | os.PathLike, table: np.ndarray, column: str
) -> tuple[list[bytes], np.ndarray]:
  """Sorted distinct values of a string column and each row's index into them.

  Raises DataError for a value that may have been truncated while parsing,
  or, in the label column, a label not ending in '.'.
  """
  values = table[column].tolist()
  vocabulary = sorted(set(values))
  for value in vocabulary:
    if len(value) >= _MAX_STR or (column == LABEL and not value.endswith(b'.')):
      expected = "a label ending in '.'" if column == LABEL else f'under {_MAX_STR} characters'
      raise _bad_value(path, values.index(value), column, expected, value.decode())
  lookup = {value: i for i, value in enumerate(vocabulary)}
  return vocabulary, np.fromiter(map(lookup.__getitem__, values), np.int64, len(values))


def encode_features(path: str | os.PathLike, table: np.ndarray) -> np.ndarray:
  """[N, D] float32 features: numeric columns as they are, each string
  column (except the label) replaced in place by its one-hot block."""
  n = table.shape[0]
  blocks = []  # (width, float column) or (vocabulary size, category index)
  for column in COLUMNS[:-1]:
    if column in CATEGORICAL:
      vocabulary, index = categories(path, table, column)
      blocks.append((len(vocabulary), index))
    else:
      blocks.append((1, table[column]))
  out = np.zeros((n, sum(width for width, _ in blocks)), dtype=np.float32)
  start = 0
  for width, data in blocks:
    if data.dtype.kind == 'f':
      out[:, start] = data
    else:
      out[np.arange(n), start + data] = 1.0
    start += width
  return out


def parse_kddcup(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
  """Parse a KDD Cup 99 gzip file into (x float32 [N, D], is_normal int8 [N]).

  Raises DataError naming the file (and the 1-based row and column) for a
  corrupt or truncated archive, a row without 42 fields, or a non-numeric
  value in a numeric column.
  """
  text = _read_text(path)
  _check_field_counts(path, text)
  table = _parse_table(path, text)
  _check_numbers(path, table)
  categories(path, table, LABEL)  # validates the labels
  x = encode_features(path, table)
  is_normal = (table[LABEL] == NORMAL_LABEL).astype(np.int8)
  return x, is_normal


def onehot_binary_symbolic(x: np.ndarray) -> np.ndarray:
  """``x`` of ``encode_features`` with each of ``BINARY_SYMBOLIC`` one-hot encoded
  too: a 0/1 column that takes both values becomes the block ``[1 - v, v]`` in
  place (a column with one value stays one column). 118 -> 121 columns on the
  10% file (``is_host_login`` is always 0 there)."""
  if x.ndim != 2 or x.shape[1] != N_DIMS:
    raise ValueError(f'expected KDD features [N, {N_DIMS}], got shape {x.shape}')
  offset = N_DIMS - (len(COLUMNS) - 1)   # extra width of the string blocks before these
  parts, start = [], 0
  for column in BINARY_SYMBOLIC:
    j = COLUMNS.index(column) + offset
    parts.append(x[:, start:j])
    if np.unique(x[:, j]).size > 1:
      parts.append(1.0 - x[:, j:j + 1])
    parts.append(x[:, j:j + 1])
    start = j + 1
  parts.append(x[:, start:])
  return np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)


class Kddcup99Blocks(ArrayBlockBuilder, skip_registration=True):
  """TFDS builder: KDD Cup 99 10% subset, one-hot encoded, in blocks of rows.

  Example fields: 'x' float32 [rows, 118], 'y' int8 [rows] holding the raw
  is_normal_traffic flag (1 for label 'normal.'), 'offset' (first row).
  """

  N_DIMS = N_DIMS
  Y_DOC = "is_normal_traffic: 1 if the label is 'normal.', else 0 (not the anomaly flag)"

  def load_arrays(self) -> tuple[np.ndarray, np.ndarray]:
    return parse_kddcup(resolve_file(FILE_NAME))
