"""ODDS ``.mat`` data sets (thyroid, arrhythmia), prepared as TFDS row blocks
(``blocks.py``)."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import scipy.io
import tensorflow_datasets as tfds

from dagmm_jax.data.blocks import ArrayBlockBuilder
from dagmm_jax.data.download import DataError, resolve_file


def load_mat(path: str | os.PathLike, n_dims: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """Read an ODDS .mat file: (X float32 [N, D], y int8 [N] with 1 = outlier).

  Raises DataError naming the file and key when the file is unreadable, a key
  is missing, shapes disagree, or values are not finite / not 0-1 labels.
  """
  try:
    mat = scipy.io.loadmat(path)
  except Exception as e:  # scipy raises ValueError, OSError, MatReadError, TypeError...
    raise DataError(f'{path}: not a readable MATLAB .mat file: {e}') from e
  for key in ('X', 'y'):
    if key not in mat:
      found = sorted(k for k in mat if not k.startswith('__'))
      raise DataError(f'{path}: key {key!r} missing (found keys {found})')
  x, y = np.asarray(mat['X']), np.asarray(mat['y'])
  if x.ndim != 2 or (n_dims is not None and x.shape[1] != n_dims):
    expected = f'[N, {n_dims}]' if n_dims is not None else '[N, D]'
    raise DataError(f"{path}: key 'X': expected shape {expected}, got {x.shape}")
  if y.size != x.shape[0] or y.ndim > 2:
    raise DataError(
      f"{path}: key 'y': expected {x.shape[0]} labels (one per row of 'X'), got shape {y.shape}"
    )
  try:
    x = x.astype(np.float64)
    y = y.reshape(-1).astype(np.float64)
  except (TypeError, ValueError) as e:
    raise DataError(f"{path}: keys 'X'/'y' must be numeric: {e}") from e
  if not np.isfinite(x).all():
    raise DataError(f"{path}: key 'X': expected finite values, found NaN or inf")
  if not np.isin(y, (0, 1)).all():
    raise DataError(f"{path}: key 'y': expected labels 0 or 1, got values {np.unique(y)[:10]}")
  return x.astype(np.float32), y.astype(np.int8)


@dataclasses.dataclass(eq=False)
class OddsConfig(tfds.core.BuilderConfig):
  """One ODDS file: its name in the download registry and its width."""

  file_name: str = ''
  n_dims: int = 0


class OddsMat(ArrayBlockBuilder, skip_registration=True):
  """TFDS builder for ODDS .mat files (keys X, y; y = 1 marks outliers)."""

  BUILDER_CONFIGS = [
    OddsConfig(name='thyroid', file_name='thyroid.mat', n_dims=6,
               description='ODDS Thyroid: 3772 x 6, 93 outliers (hyperfunction).'),
    OddsConfig(name='arrhythmia', file_name='arrhythmia.mat', n_dims=274,
               description='ODDS Arrhythmia: 452 x 274, 66 outliers; 17 constant columns.'),
  ]

  @property
  def n_dims(self) -> int:
    return self.builder_config.n_dims

  def load_arrays(self) -> tuple[np.ndarray, np.ndarray]:
    config = self.builder_config
    return load_mat(resolve_file(config.file_name), config.n_dims)
