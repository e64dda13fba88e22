"""Yardsticks: two plain detectors fitted on the training rows only (NumPy, float64).

A DAGMM score means something only beside what a plain method gets on the same
rows: the reconstruction residual off the training rows' leading principal
subspace (``pca_score``) and the distance to the k-th nearest training row
(``knn_score``). Both are deterministic and label-free; images are flattened.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

# kNN distances are computed in blocks of at most this many float64 entries.
_BLOCK = 1 << 24


def _flat(x: np.ndarray) -> np.ndarray:
  return np.asarray(x, np.float64).reshape(np.shape(x)[0], -1)


def pca_score(x_train: np.ndarray, x_test: np.ndarray, q: int = 50) -> np.ndarray:
  """``[N_test]`` squared residual of each test row off the span of the training
  rows' top ``min(q, n_train - 1, D - 1)`` principal components (centred on the
  training mean), as ``PCA(q).inverse_transform(PCA(q).transform(x))`` leaves it."""
  xt, xs = _flat(x_train), _flat(x_test)
  mean = xt.mean(0)
  _, _, vt = np.linalg.svd(xt - mean, full_matrices=False)
  v = vt[:max(0, min(q, xt.shape[0] - 1, xt.shape[1] - 1))].T
  centred = xs - mean
  return ((centred - (centred @ v) @ v.T) ** 2).sum(1)


def knn_score(x_train: np.ndarray, x_test: np.ndarray, k: int = 5) -> np.ndarray:
  """``[N_test]`` Euclidean distance from each test row to its ``k``-th nearest
  training row (``k`` is capped at the number of training rows)."""
  xt, xs = _flat(x_train), _flat(x_test)
  k = min(k, xt.shape[0])
  sq_train = (xt ** 2).sum(1)
  rows = max(1, _BLOCK // max(1, xt.shape[0]))
  out = []
  for lo in range(0, xs.shape[0], rows):
    b = xs[lo:lo + rows]
    d2 = (b ** 2).sum(1)[:, None] + sq_train[None] - 2.0 * (b @ xt.T)
    out.append(np.partition(np.maximum(d2, 0.0), k - 1, axis=1)[:, k - 1])
  return np.sqrt(np.concatenate(out))


class Yardstick(NamedTuple):
  name: str
  score: Callable[[np.ndarray, np.ndarray], np.ndarray]   # (x_train, x_test) -> [N_test], higher = odder


YARDSTICKS: tuple[Yardstick, ...] = (
    Yardstick('pca10', lambda a, b: pca_score(a, b, 10)),
    Yardstick('pca50', lambda a, b: pca_score(a, b, 50)),
    Yardstick('knn5', lambda a, b: knn_score(a, b, 5)),
)


def scores(x_train: np.ndarray, x_test: np.ndarray) -> dict[str, np.ndarray]:
  """``{name: [N_test] scores}`` of every yardstick fitted on ``x_train``."""
  return {y.name: y.score(x_train, x_test) for y in YARDSTICKS}
