"""Is the compression network's code alive? (NumPy, on host.)

A DAGMM whose code ``z_c`` is (nearly) constant over its training rows scores
every row with the reconstruction features alone, and an autoencoder whose
reconstructions are no better than the training rows' mean only measures the
distance to that mean. Both happen on real photographs without the
loss saying so; ``check`` names them.
"""
from __future__ import annotations

from typing import Any

import numpy as np

# A code dimension whose standard deviation over the training rows is below this
# is collapsed. The code is a linear layer on tanh/relu features of size O(1); a
# living code spreads by 0.01-10, a collapsed one by < 1e-5 (docs/inspection.md).
CODE_STD_FLOOR = 1e-3
# Reconstructions are "no better than the mean image" when their mean squared
# error is at least this share of the training rows' mean squared distance to their mean.
MEAN_IMAGE_RATIO = 0.95


def check(z: np.ndarray, latent_dims: int, sq_err: np.ndarray, mean_image_error: float) -> dict[str, Any]:
  """Health of a trained network on its training rows.

  ``z [N, latent + 2]`` (code, relative distance, cosine), ``sq_err [N]`` the
  squared reconstruction errors and ``mean_image_error`` the rows' mean squared
  distance to their mean (``mean_image_error``), all as the network sees the rows. Returns ``code_std`` (per code dimension), ``collapsed_dims``,
  ``reconstruction_error`` (mean), ``mean_image_error`` (mean squared distance to
  the training mean), their ratio ``reconstruction_ratio`` and ``warnings``
  (sentences; empty when healthy).
  """
  code = np.asarray(z, np.float64)[:, :latent_dims]
  std = code.std(axis=0)
  mean_err = float(mean_image_error)
  rec = float(np.mean(sq_err))
  ratio = rec / mean_err if mean_err > 0 else float('inf')
  collapsed = [int(j) for j in np.flatnonzero(std < CODE_STD_FLOOR)]
  warnings = []
  if collapsed:
    rest = ('the energy rests on the reconstruction features alone' if len(collapsed) == latent_dims
            else 'those dimensions are unused')
    warnings.append(f'collapsed code: {len(collapsed)} of {latent_dims} code dimensions are constant over '
                    f'the training rows (std {", ".join(f"{s:.2g}" for s in std[collapsed])} < '
                    f'{CODE_STD_FLOOR:g}); {rest}')
  if ratio >= MEAN_IMAGE_RATIO:
    warnings.append(f'reconstruction no better than the mean: mean squared error {rec:.4g} is '
                    f'{ratio:.2f} x that of the training mean ({mean_err:.4g})')
  return {'code_std': [float(s) for s in std], 'collapsed_dims': collapsed,
          'reconstruction_error': rec, 'mean_image_error': mean_err,
          'reconstruction_ratio': float(ratio), 'warnings': warnings}


def mean_image_error(x_scaled: np.ndarray) -> float:
  """Mean squared distance of the rows ``[N, ...]`` to their mean (float64)."""
  x = np.asarray(x_scaled, np.float64).reshape(np.shape(x_scaled)[0], -1)
  return float(np.mean(np.sum((x - x.mean(0)) ** 2, axis=1)))
