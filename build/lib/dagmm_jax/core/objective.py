"""The paper's objective, eq. 7."""
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from dagmm_jax.core import gmm
from dagmm_jax.core.model import DAGMMNet, NetOutput, squared_error


class LossTerms(NamedTuple):
  reconstruction: jnp.ndarray   # mean_i ||x_i - x'_i||^2
  energy: jnp.ndarray           # mean_i E(z_i)
  penalty: jnp.ndarray          # P(Sigma)
  n_nonfinite: jnp.ndarray      # energies that are NaN or inf in the batch
  # Singularity diagnostics of the batch's regularized mixture (no gradient):
  min_eig: jnp.ndarray          # [K] smallest covariance eigenvalue
  cond: jnp.ndarray             # [K] condition number (largest / smallest eigenvalue)
  phi: jnp.ndarray              # [K] mixture weights
  cholesky_failures: jnp.ndarray  # components whose Cholesky factor is not finite
  code_std: jnp.ndarray         # [latent] spread of the code z_c over the batch (no gradient)
  nonfinite_at: jnp.ndarray     # int32: 1 + index in NONFINITE of the first non-finite quantity, 0 if none


# The forward pass's quantities in the order they are computed; the first one
# that is not finite names why a step failed ('gradient': the loss was finite).
NONFINITE = ('reconstruction', 'z', 'mixture', 'cholesky', 'energy', 'penalty', 'gradient')


def nonfinite_name(code: int) -> str:
  """The quantity of a ``nonfinite_at`` code (``train.TrainState.failed_cause``)."""
  return NONFINITE[int(code) - 1] if 0 < int(code) <= len(NONFINITE) else 'unknown'


def _weighted_std(v: jnp.ndarray, w: jnp.ndarray, n: jnp.ndarray) -> jnp.ndarray:
  """``[D]`` standard deviation of the rows of ``v [N, D]`` with 0/1 weights ``w`` (``n`` of them)."""
  mean = jnp.sum(w[:, None] * v, axis=0) / n
  return jnp.sqrt(jnp.sum(w[:, None] * (v - mean) ** 2, axis=0) / n)


def _cholesky(regularizer: Callable, fit: gmm.GMMParams, params: gmm.GMMParams, out: NetOutput,
              weights: jnp.ndarray, n: jnp.ndarray) -> jnp.ndarray:
  """The regularized covariances' Cholesky factors: formed from the batch's rows
  (``gmm.row_factors``) for a component whose rounded covariance has none, when the
  regularizer is a loading (``regularizers.Loading``); plain ``cho_factor`` (NaN
  on failure) otherwise."""
  loading = getattr(regularizer, 'loading', lambda *_: None)(fit.cov, fit.phi * n)
  if loading is None:
    return gmm.cholesky(params.cov)
  rows = lambda ok: gmm.row_factors(out.z, out.gamma, weights, fit.mu, *loading, skip=ok)
  return gmm.safe_cholesky(params.cov, rows)


def dagmm_loss(variables, net: DAGMMNet, x: jnp.ndarray,
               dropout_key: jax.Array, regularizer: Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray],
               lambda_energy: float, lambda_cov: float,
               weights: jnp.ndarray | None = None) -> tuple[jnp.ndarray, LossTerms]:
  """``J = mean ||x - x'||^2 + lambda1 mean E(z) + lambda2 P(Sigma)`` on one batch.

  The reconstruction error is the squared L2 norm per sample (summed over
  features, not averaged). GMM parameters are fitted on the batch itself, as in
  the paper. ``weights [N]`` (0/1) marks the batch's rows (a partial last batch
  is padded to the static batch width): padding rows are replaced by the first
  row before the networks see them (nothing they hold can reach a gradient) and
  take no part in the means or in the mixture fit.
  """
  if weights is None:
    weights = jnp.ones(x.shape[0], x.dtype)
  valid = weights > 0
  x = jnp.where(valid.reshape(-1, *([1] * (x.ndim - 1))), x, x[:1])
  n = jnp.maximum(jnp.sum(weights), 1.0)   # an empty step (not applied) stays finite
  wmean = lambda v: jnp.sum(jnp.where(valid, v, 0.0)) / n
  out = net.apply(variables, x, train=True, rngs={'dropout': dropout_key})
  sq_err = squared_error(x, out.x_hat)
  fit = gmm.fit_gmm(out.z, out.gamma, weights)
  params = gmm.regularize(fit, regularizer, n)
  chol = _cholesky(regularizer, fit, params, out, weights, n)
  energies = gmm.energy(out.z, params, chol)
  reconstruction, mean_energy = wmean(sq_err), wmean(energies)
  penalty = gmm.covariance_penalty(params.cov)
  finite = lambda *a: jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in a]))
  ok = jnp.stack([finite(reconstruction), finite(jnp.where(valid[:, None], out.z, 0.0)),
                  finite(*params), finite(chol), finite(mean_energy), finite(penalty)])
  terms = LossTerms(
      reconstruction=reconstruction,
      energy=mean_energy,
      penalty=penalty,
      n_nonfinite=jnp.sum(valid & ~jnp.isfinite(energies)),
      **gmm.diagnostics(jax.lax.stop_gradient(params)),
      code_std=_weighted_std(jax.lax.stop_gradient(out.z[:, :-2]), jnp.where(valid, 1.0, 0.0), n),
      nonfinite_at=jnp.where(jnp.all(ok), 0, jnp.argmin(ok) + 1).astype(jnp.int32))
  loss = terms.reconstruction + lambda_energy * terms.energy + lambda_cov * terms.penalty
  return loss, terms
