"""Evaluation protocols (train/test row splits) and feature scaling.

Protocols, for a label vector y (1 = anomaly) and a seed:

* 'paper' (Zong et al. 2018): a random 50/50 split of all rows; train on the
  normal rows of the training half; test on the whole test half. With an odd
  number of rows the test half gets the extra row.
* 'goad' (Bergman & Hoshen 2020): train on a random half of the normal rows;
  test on the other normal half plus ALL anomalies. With an odd number of
  normal rows the test side gets the extra one.

With ``max_anomalies`` set (KDDCUP-Rev: 24,319), a random subset of that many
anomaly rows is drawn first and the other anomaly rows are dropped from the
pool. All draws use ``np.random.default_rng(seed)``: a seed fixes the split.

Scaling statistics come only from the rows handed to ``fit_scaler`` (the
caller passes the training rows), never from test rows.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

PROTOCOLS: tuple[str, ...] = ('paper', 'goad')
SCALING_METHODS: tuple[str, ...] = ('none', 'minmax', 'zscore')
CONSTANT_COLUMNS: tuple[str, ...] = ('shift', 'zero')


class Split(NamedTuple):
  """Sorted int64 row indices into the data set."""

  train_idx: np.ndarray  # training rows (normal rows only)
  test_idx: np.ndarray  # test rows (normal and anomalous)


class Scaler(NamedTuple):
  """Per-feature affine scaling: x_scaled = (x - shift) / scale."""

  shift: np.ndarray  # [D] float32
  scale: np.ndarray  # [D] float32, strictly positive (inf: the column is zeroed)

  def apply(self, x: np.ndarray) -> np.ndarray:
    """Scaled copy of x [N, D] as float32."""
    return ((np.asarray(x, np.float32) - self.shift) / self.scale).astype(np.float32, copy=False)


def _check_labels(y: np.ndarray) -> np.ndarray:
  y = np.asarray(y)
  if y.ndim != 1 or not np.isin(y, (0, 1)).all():
    raise ValueError(f'y must be a 1-D array of 0/1 labels, got shape {y.shape}')
  return y


def _sorted(idx: np.ndarray) -> np.ndarray:
  return np.sort(idx).astype(np.int64)


def _pool(y: np.ndarray, rng: np.random.Generator, max_anomalies: int | None) -> np.ndarray:
  """Row indices in play: all normal rows plus at most max_anomalies anomaly rows."""
  rows = np.arange(y.shape[0], dtype=np.int64)
  if max_anomalies is None:
    return rows
  if max_anomalies < 0:
    raise ValueError(f'max_anomalies must be >= 0 or None, got {max_anomalies}')
  anomalies = rows[y == 1]
  if anomalies.shape[0] <= max_anomalies:
    return rows
  kept = rng.choice(anomalies, size=max_anomalies, replace=False)
  return _sorted(np.concatenate([rows[y == 0], kept]))


def _halves(rows: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """Random (first, second) halves of rows; the second gets the extra row."""
  shuffled = rng.permutation(rows)
  n_first = rows.shape[0] // 2
  return shuffled[:n_first], shuffled[n_first:]


def make_split(
  y: np.ndarray, protocol: str, seed: int, max_anomalies: int | None = None
) -> Split:
  """Train/test row indices for ``protocol`` ('paper' or 'goad'); see module doc."""
  if protocol not in PROTOCOLS:
    raise ValueError(f'unknown protocol {protocol!r}; known protocols: {list(PROTOCOLS)}')
  y = _check_labels(y)
  rng = np.random.default_rng(seed)
  pool = _pool(y, rng, max_anomalies)
  if protocol == 'paper':
    train_half, test = _halves(pool, rng)
    train = train_half[y[train_half] == 0]
  else:  # goad
    train, test_normal = _halves(pool[y[pool] == 0], rng)
    test = np.concatenate([test_normal, pool[y[pool] == 1]])
  return Split(train_idx=_sorted(train), test_idx=_sorted(test))


def fit_scaler(x_train: np.ndarray, method: str, constant_columns: str = 'shift') -> Scaler:
  """Scaling statistics of the given (training) rows, computed in float64.

  'none': shift 0, scale 1. 'minmax': shift = min, scale = max - min.
  'zscore': shift = mean, scale = std. A column that is constant over these
  rows (Arrhythmia has 22-27 per training half that vary in the test rows) is
  never divided by zero: with ``constant_columns='shift'`` it gets scale 1, so
  test rows see their raw distance from the training value; with 'zero' it
  gets scale inf, so it is 0 in every row (the column carries nothing the
  training rows could teach).
  """
  if method not in SCALING_METHODS:
    raise ValueError(f'unknown scaling method {method!r}; known methods: {list(SCALING_METHODS)}')
  if constant_columns not in CONSTANT_COLUMNS:
    raise ValueError(f'unknown constant_columns {constant_columns!r}; known: {list(CONSTANT_COLUMNS)}')
  x = np.asarray(x_train, dtype=np.float64)
  if x.ndim != 2 or x.shape[0] == 0:
    raise ValueError(f'x_train must be a non-empty [N, D] array, got shape {x.shape}')
  if not np.isfinite(x).all():
    raise ValueError('x_train contains NaN or inf')
  if method == 'none':
    shift, scale = np.zeros(x.shape[1]), np.ones(x.shape[1])
  elif method == 'minmax':
    shift, scale = x.min(axis=0), np.ptp(x, axis=0)
  else:  # zscore
    shift, scale = x.mean(axis=0), x.std(axis=0)
  constant = np.ptp(x, axis=0) == 0  # exact test; a float64 std of equal values may be ~1e-17
  scale = np.where(constant, 1.0, scale).astype(np.float32)
  scale = np.where(np.isfinite(scale) & (scale > 0), scale, np.float32(1.0))
  if constant_columns == 'zero' and method != 'none':
    scale = np.where(constant, np.float32(np.inf), scale)
  return Scaler(shift=shift.astype(np.float32), scale=scale)
