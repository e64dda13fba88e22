"""A Gaussian mixture refitted by EM on a trained DAGMM's latent rows.

Trained DAGMMs put nearly all mixture weight on one component (measured on every
Table 2 cell: ``docs/results.md``), so the GMM that the estimation network's
memberships give is in effect a single Gaussian. This module fits a K-component
mixture to the same training rows ``z`` by expectation-maximisation, as
scikit-learn's ``GaussianMixture`` does; the networks are not touched, no test
row and no label is read. The M-step is the paper's eq. 5 (``gmm.fit_gmm``)
with the responsibilities as memberships, then the covariance regularizer, so
the fitted mixture is scored with the same ``gmm.energy``.

Initialisation: the means are K distinct valid rows drawn at random, every
covariance is the rows' covariance, the weights are uniform.
"""
from typing import Callable

import jax
import jax.numpy as jnp

from dagmm_jax.core import gmm

ITERATIONS = 200   # EM steps of the refit: the only value tried (docs/results.md)


def fit(z: jnp.ndarray, weights: jnp.ndarray, key: jax.Array, n_components: int, n_iter: int,
        regularizer: Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray]) -> gmm.GMMParams:
  """``n_iter`` EM steps on the rows of ``z [N, D]`` whose ``weights [N]`` (0/1) are 1."""
  n = jnp.sum(weights)
  start = jax.random.choice(key, z.shape[0], (n_components,), replace=False, p=weights / n)
  cov = gmm.fit_gmm(z, jnp.ones((z.shape[0], 1), z.dtype), weights).cov[0]
  params = gmm.GMMParams(jnp.full((n_components,), 1.0 / n_components, z.dtype), z[start],
                         jnp.broadcast_to(cov, (n_components,) + cov.shape))
  params = gmm.regularize(params, regularizer, n)

  def step(_, p: gmm.GMMParams) -> gmm.GMMParams:
    log_phi = jnp.log(jnp.maximum(p.phi, jnp.finfo(p.phi.dtype).tiny))
    resp = jax.nn.softmax(gmm.component_log_densities(z, p) + log_phi, axis=1)
    return gmm.regularize(gmm.fit_gmm(z, resp, weights), regularizer, n)

  return jax.lax.fori_loop(0, n_iter, step, params)
