"""The Gaussian mixture of DAGMM: fit from memberships (eq. 5), energy (eq. 6).

Everything here is a pure jittable function of arrays; it knows nothing about
networks. Shapes: ``z`` is ``[N, D]``, ``gamma`` is ``[N, K]``.
"""
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.linalg import cho_factor, solve_triangular
from jax.scipy.special import logsumexp


class GMMParams(NamedTuple):
  """Mixture weights ``phi [K]``, means ``mu [K, D]``, covariances ``cov [K, D, D]``."""
  phi: jnp.ndarray
  mu: jnp.ndarray
  cov: jnp.ndarray


# Full float32 products in the mixture algebra (no TF32/bf16 passes on GPUs/TPUs).
HIGHEST = jax.lax.Precision.HIGHEST
BLOCK = 256   # rows per block of the sums in ``fit_gmm`` over more than 4 * BLOCK rows


def _pairwise_sum(x: jnp.ndarray) -> jnp.ndarray:
  """Sum over the leading axis as a balanced tree: rounding error grows with
  ``log(n)`` instead of ``n``."""
  while x.shape[0] > 1:
    if x.shape[0] % 2:
      x = jnp.concatenate([x, jnp.zeros_like(x[:1])])
    x = x[0::2] + x[1::2]
  return x[0]


def fit_gmm(z: jnp.ndarray, gamma: jnp.ndarray,
            weights: jnp.ndarray | None = None) -> GMMParams:
  """Maximum-likelihood mixture parameters given soft memberships (paper eq. 5).

  ``weights [N]`` (0/1) masks out padding rows. Every division by a membership
  sum is guarded (floored at the dtype's epsilon): a component whose
  memberships sum to zero gets ``phi = 0``, a zero mean and a zero covariance
  instead of NaN, and finite gradients.

  The covariance is computed from centred rows (two passes). Over more than
  ``4 * BLOCK`` rows, sums are taken in blocks of ``BLOCK`` rows, then pairwise
  over the blocks. A plain float32 sum over the ~200k KDDCUP training rows errs by ~1e-3 of the
  covariance scale, enough to make nearly singular covariances indefinite
  (negative eigenvalues of -5e-4 where the float64 truth is +1e-6); blocked
  pairwise sums err by ~1e-6.
  """
  n_rows = z.shape[0]
  if weights is not None:
    gamma = gamma * weights[:, None].astype(gamma.dtype)
    n = jnp.sum(weights).astype(gamma.dtype)
  else:
    n = jnp.asarray(n_rows, gamma.dtype)
  block = n_rows if n_rows <= 4 * BLOCK else BLOCK     # a training batch: one plain sum
  pad = -n_rows % block
  zb = jnp.pad(z, ((0, pad), (0, 0))).reshape(-1, block, z.shape[1])            # [B, M, D]
  gb = jnp.pad(gamma, ((0, pad), (0, 0))).reshape(-1, block, gamma.shape[1])    # [B, M, K]
  nk = _pairwise_sum(jnp.sum(gb, axis=1))                                       # [K]
  phi = nk / jnp.maximum(n, 1.0)
  denom = jnp.maximum(nk, jnp.finfo(gamma.dtype).eps)
  mu = _pairwise_sum(jnp.einsum('bmk,bmd->bkd', gb, zb, precision=HIGHEST)) / denom[:, None]
  centered = zb[:, None, :, :] - mu[None, :, None, :]                           # [B, K, M, D]
  scatter = jnp.einsum('bmk,bkmi,bkmj->bkij', gb, centered, centered, precision=HIGHEST)
  cov = _pairwise_sum(scatter) / denom[:, None, None]
  return GMMParams(phi, mu, cov)


def regularize(params: GMMParams, regularizer: Callable[[jnp.ndarray, jnp.ndarray], jnp.ndarray],
               n_rows: jnp.ndarray | int) -> GMMParams:
  """Applies a covariance regularizer (``regularizers.get_regularizer``) to every
  component; ``n_rows`` (rows in the fit) gives each component's effective
  sample count ``phi * n_rows`` for data-driven regularizers."""
  return params._replace(cov=regularizer(params.cov, params.phi * n_rows))


def _component_log_density(z: jnp.ndarray, mu: jnp.ndarray, chol: jnp.ndarray) -> jnp.ndarray:
  """log N(z; mu, L L^T) for one component, given its lower Cholesky factor ``L``."""
  d = z.shape[-1]
  white = solve_triangular(chol, (z - mu).T, lower=True)      # [D, N]
  maha = jnp.sum(white * white, axis=0)
  log_det = 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol)))
  return -0.5 * (maha + log_det + d * jnp.log(2.0 * jnp.pi).astype(z.dtype))


def cholesky(cov: jnp.ndarray) -> jnp.ndarray:
  """``[..., D, D]`` lower Cholesky factors (``cho_factor``); NaN where one fails."""
  return jnp.vectorize(lambda c: cho_factor(c, lower=True)[0], signature='(d,d)->(d,d)')(cov)


def component_log_densities(z: jnp.ndarray, params: GMMParams,
                            chol: jnp.ndarray | None = None) -> jnp.ndarray:
  """``[N, K]`` log densities of every sample under every component (vmap over K).
  ``chol``: the covariances' Cholesky factors if already formed (``safe_cholesky``)."""
  chol = cholesky(params.cov) if chol is None else chol
  per_k = jax.vmap(_component_log_density, in_axes=(None, 0, 0))(z, params.mu, chol)
  return per_k.T


def energy(z: jnp.ndarray, params: GMMParams, chol: jnp.ndarray | None = None) -> jnp.ndarray:
  """Sample energy ``E(z) = -log sum_k phi_k N(z; mu_k, Sigma_k)`` (eq. 6), ``[N]``.

  Computed in log space with ``logsumexp`` over components. A component with
  ``phi_k = 0`` contributes nothing (its log weight is floored at the dtype's
  smallest normal number so that its gradient stays finite). ``chol``: the
  covariances' Cholesky factors if already formed (``safe_cholesky``);
  otherwise a failed Cholesky gives NaN, which callers detect (see
  ``train.py``); it is never replaced.
  """
  log_phi = jnp.log(jnp.maximum(params.phi, jnp.finfo(params.phi.dtype).tiny))
  return -logsumexp(component_log_densities(z, params, chol) + log_phi[None, :], axis=1)


def _sqrt(v: jnp.ndarray) -> jnp.ndarray:
  """``sqrt(v)`` for ``v >= 0`` with a zero gradient at 0 (not inf: inf times a zero
  cotangent is NaN)."""
  pos = v > 0
  return jnp.where(pos, jnp.sqrt(jnp.where(pos, v, 1.0)), 0.0)


def row_factors(z: jnp.ndarray, gamma: jnp.ndarray, weights: jnp.ndarray, mu: jnp.ndarray,
                scale: jnp.ndarray, add: jnp.ndarray, skip: jnp.ndarray | None = None) -> jnp.ndarray:
  """``[K, D, D]`` lower Cholesky factors of ``scale_k * Sigma_k + diag(add_k)``
  formed from the rows, never from the rounded covariance.

  ``Sigma_k = A_k^T A_k`` with ``A_k = sqrt(gamma_k / n_k) (z - mu_k)`` (eq. 5), so
  the regularized covariance is ``B_k^T B_k`` for ``B_k = [sqrt(scale_k) A_k;
  diag(sqrt(add_k))]`` and its Cholesky factor is ``R_k^T`` for ``B_k = Q_k R_k``
  (diagonal positive; ``_qr_r``). That ``R`` is backward stable in ``B_k``, whose
  entries are the square roots of the covariance's: the factor is exact for a
  covariance within rounding of ``B_k``, which is positive semi-definite by
  construction and at least ``diag(add_k)``. Forming ``Sigma_k`` first and
  factoring it loses that (its rounding, relative to its largest eigenvalue, can
  exceed ``add_k``). Components masked by ``skip [K]`` get the identity (and a
  finite gradient) instead.
  """
  g = gamma * weights[:, None].astype(gamma.dtype)                        # [N, K]
  denom = jnp.maximum(jnp.sum(g, axis=0), jnp.finfo(g.dtype).eps)         # as fit_gmm
  a = _sqrt(g / denom)[:, :, None] * (z[:, None, :] - mu[None])           # [N, K, D]
  eye = jnp.eye(z.shape[1], dtype=z.dtype)
  b = jnp.concatenate([_sqrt(scale)[:, None, None] * jnp.swapaxes(a, 0, 1),
                       _sqrt(add)[:, :, None] * eye], axis=1)             # [K, N + D, D]
  if skip is not None:
    harmless = jnp.concatenate([jnp.zeros_like(b[0, :-z.shape[1]]), eye])
    b = jnp.where(skip[:, None, None], harmless, b)
  return jnp.swapaxes(_qr_r(b), -1, -2)


def _qr_r(b: jnp.ndarray) -> jnp.ndarray:
  """``R [..., D, D]`` (upper triangular, diagonal >= 0) of ``b [..., M, D] = Q R``
  by modified Gram-Schmidt: its R is as accurate as Householder's (Bjorck and
  Paige 1992), and for the few columns of ``z`` it is a handful of fused passes
  over ``b`` (LAPACK's QR is one call per matrix, and its gradient needs Q). A
  column with nothing left gives a zero diagonal (and a zero gradient there)."""
  d = b.shape[-1]
  cols = [b[..., :, j] for j in range(d)]
  rows = []
  for j in range(d):
    norm = _sqrt(jnp.sum(cols[j] * cols[j], axis=-1))                      # [...]
    q = cols[j] / jnp.where(norm > 0, norm, 1.0)[..., None]
    r = [jnp.zeros_like(norm)] * j + [norm]
    for k in range(j + 1, d):
      r.append(jnp.sum(q * cols[k], axis=-1))
      cols[k] = cols[k] - r[-1][..., None] * q
    rows.append(jnp.stack(r, axis=-1))
  return jnp.stack(rows, axis=-2)


def safe_cholesky(cov: jnp.ndarray, rows: Callable[[jnp.ndarray], jnp.ndarray]) -> jnp.ndarray:
  """``[K, D, D]`` Cholesky factors of ``cov``: ``cho_factor``'s where it succeeds
  (bit for bit), ``rows(ok)`` for the components where it fails. ``rows`` gets
  the ``[K]`` mask of the components that do not need it (``row_factors``'s
  ``skip``): neither side's unused branch may put a NaN into a gradient."""
  ok = cholesky_ok(jax.lax.stop_gradient(cov))         # the same factorisation as below
  eye = jnp.eye(cov.shape[-1], dtype=cov.dtype)
  chol = cholesky(jnp.where(ok[:, None, None], cov, eye))
  formed = _factor_of(jnp.where(ok[:, None, None], eye, cov), jax.lax.stop_gradient(rows(ok)))
  return jnp.where(ok[:, None, None], chol, formed)


@jax.custom_jvp
def _factor_of(cov: jnp.ndarray, chol: jnp.ndarray) -> jnp.ndarray:
  """``chol``, a Cholesky factor of ``cov`` formed another way, differentiated as
  ``cholesky(cov)`` is (so no gradient runs back through how it was formed)."""
  del cov
  return chol


@_factor_of.defjvp
def _factor_of_jvp(primals, tangents):
  """Cholesky's tangent ``dL = L Phi(L^-1 dS L^-T)`` (``Phi``: the lower triangle,
  diagonal halved), at the factor ``L`` given and the covariance's tangent ``dS``."""
  (_, chol), (dcov, _) = primals, tangents
  half = jnp.tril(jnp.ones(chol.shape[-2:], chol.dtype)) - 0.5 * jnp.eye(chol.shape[-1], dtype=chol.dtype)
  left = solve_triangular(chol, dcov, lower=True)                            # L^-1 dS
  inner = jnp.swapaxes(solve_triangular(chol, jnp.swapaxes(left, -1, -2), lower=True), -1, -2)
  return chol, jnp.matmul(chol, half * inner, precision=HIGHEST)


def covariance_penalty(cov: jnp.ndarray) -> jnp.ndarray:
  """The paper's ``P(Sigma) = sum_k sum_j 1 / Sigma_k[j, j]``."""
  return jnp.sum(1.0 / jnp.diagonal(cov, axis1=-2, axis2=-1))


def cholesky_ok(cov: jnp.ndarray) -> jnp.ndarray:
  """``[K]`` booleans: whether each covariance has a finite Cholesky factor
  (``cholesky``'s: ``jnp.linalg.cholesky`` symmetrizes its input first, and may
  succeed where the energy's factor fails)."""
  return jnp.all(jnp.isfinite(cholesky(cov)), axis=(-2, -1))


def diagnostics(params: GMMParams) -> dict[str, jnp.ndarray]:
  """Per-component signs of the singularity problem: ``min_eig [K]``, ``cond [K]``
  (inf where the smallest eigenvalue is <= 0), ``phi [K]`` and the number of
  components whose Cholesky factorisation fails."""
  w = jnp.linalg.eigvalsh(params.cov)
  lo, hi = w[..., 0], w[..., -1]
  cond = jnp.where(lo > 0, hi / jnp.where(lo > 0, lo, 1.0), jnp.inf)
  return {'min_eig': lo, 'cond': cond, 'phi': params.phi,
          'cholesky_failures': jnp.sum(~cholesky_ok(params.cov))}
