"""EM refit of the mixture (core/em.py) against a float64 NumPy + SciPy reference."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from dagmm_jax.core import em, regularizers

JITTER = regularizers.get_regularizer('jitter(eps=1e-6)')


def _clusters(n=600, seed=0):
  rng = np.random.default_rng(seed)
  centres = np.array([[0.0, 0.0, 0.0], [6.0, 0.0, 1.0], [0.0, 7.0, -3.0]])
  sizes = [n // 2, n // 3, n - n // 2 - n // 3]
  z = np.concatenate([rng.normal(size=(s, 3)) @ rng.normal(size=(3, 3)) * 0.3 + c
                      for s, c in zip(sizes, centres)])
  return z, centres, np.array(sizes) / n


def _reference_steps(z, phi, mu, cov, n_iter):
  """Plain float64 EM (E-step with SciPy densities, M-step eq. 5, then + 1e-6 I)."""
  for _ in range(n_iter):
    logp = np.stack([multivariate_normal(mu[k], cov[k]).logpdf(z) for k in range(len(phi))], 1)
    logp = logp + np.log(phi)
    resp = np.exp(logp - logsumexp(logp, axis=1, keepdims=True))
    nk = resp.sum(0)
    phi, mu = nk / len(z), (resp.T @ z) / nk[:, None]
    cov = np.stack([(resp[:, k, None] * (z - mu[k])).T @ (z - mu[k]) / nk[k] + 1e-6 * np.eye(z.shape[1])
                    for k in range(len(phi))])
  return phi, mu, cov


@pytest.mark.parametrize('dtype,rtol', [(jnp.float32, 2e-3), (jnp.float64, 1e-8)])
def test_em_steps_match_reference(dtype, rtol):
  with jax.enable_x64(dtype == jnp.float64):
    z, _, _ = _clusters()
    zj, w, key = jnp.asarray(z, dtype), jnp.ones(len(z), dtype), jax.random.PRNGKey(3)
    start = em.fit(zj, w, key, 3, 0, JITTER)
    assert start.mu.dtype == dtype
    # the start: distinct rows as means, the rows' covariance everywhere, uniform weights
    assert len({tuple(np.asarray(m)) for m in start.mu}) == 3
    assert all(any(np.allclose(m, row) for row in z) for m in np.asarray(start.mu, float))
    np.testing.assert_allclose(start.cov[1], np.cov(z.T, bias=True) + 1e-6 * np.eye(3), rtol=1e-4)
    got = jax.jit(em.fit, static_argnums=(3, 4, 5))(zj, w, key, 3, 8, JITTER)
    want = _reference_steps(z, *(np.asarray(a, np.float64) for a in start), 8)
    for g, r in zip(got, want):
      np.testing.assert_allclose(np.asarray(g, np.float64), r, rtol=rtol, atol=rtol * 10)


def test_em_recovers_separated_clusters():
  z, centres, sizes = _clusters(seed=1)
  got = em.fit(jnp.asarray(z, jnp.float32), jnp.ones(len(z)), jax.random.PRNGKey(0), 3, 100, JITTER)
  order = [int(np.argmin(np.linalg.norm(np.asarray(got.mu) - c, axis=1))) for c in centres]
  assert sorted(order) == [0, 1, 2]
  np.testing.assert_allclose(np.asarray(got.mu)[order], centres, atol=0.15)
  np.testing.assert_allclose(np.asarray(got.phi)[order], sizes, atol=1e-3)


def test_em_ignores_padding_rows():
  z, _, _ = _clusters()
  pad = np.zeros((50, 3))
  w = jnp.asarray(np.r_[np.ones(len(z)), np.zeros(50)], jnp.float32)
  fits = [em.fit(jnp.asarray(np.r_[z, fill], jnp.float32), w, jax.random.PRNGKey(0), 3, 20, JITTER)
          for fill in (pad, pad + 1e4)]
  for a, b in zip(*fits):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
