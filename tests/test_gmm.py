"""fit_gmm / energy / penalty against a float64 NumPy + SciPy reference."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from dagmm_jax.core import gmm, regularizers


def _problem(seed=0, n=500, d=3, k=4):
  rng = np.random.default_rng(seed)
  z = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d)
  logits = rng.normal(size=(n, k)) * 2
  gamma = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
  return z, gamma


def _reference_fit(z, gamma):
  nk = gamma.sum(0)
  phi = nk / len(z)
  mu = (gamma.T @ z) / nk[:, None]
  cov = np.stack([(gamma[:, k, None] * (z - mu[k])).T @ (z - mu[k]) / nk[k]
                  for k in range(gamma.shape[1])])
  return phi, mu, cov


def _reference_energy(z, phi, mu, cov):
  logp = np.stack([np.atleast_1d(multivariate_normal(mu[k], cov[k]).logpdf(z)) for k in range(len(phi))], 1)
  return -logsumexp(logp + np.log(phi), axis=1)


@pytest.mark.parametrize('dtype,rtol', [(jnp.float32, 1e-4), (jnp.float64, 1e-9)])
def test_fit_and_energy_match_scipy(dtype, rtol):
  with jax.enable_x64(dtype == jnp.float64):
    z, gamma = _problem()
    phi, mu, cov = _reference_fit(z, gamma)
    params = jax.jit(gmm.fit_gmm)(jnp.asarray(z, dtype), jnp.asarray(gamma, dtype))
    assert params.cov.dtype == dtype
    np.testing.assert_allclose(params.phi, phi, rtol=rtol)
    np.testing.assert_allclose(params.mu, mu, rtol=rtol, atol=rtol * np.abs(mu).max())
    np.testing.assert_allclose(params.cov, cov, rtol=rtol, atol=rtol * np.abs(cov).max())
    # Energy from the exact (float64) parameters, so only the energy itself is tested.
    exact = gmm.GMMParams(*(jnp.asarray(a, dtype) for a in (phi, mu, cov)))
    e = jax.jit(gmm.energy)(jnp.asarray(z, dtype), exact)
    np.testing.assert_allclose(e, _reference_energy(z, phi, mu, cov), rtol=rtol)
    np.testing.assert_allclose(gmm.covariance_penalty(exact.cov),
                               np.sum(1 / np.diagonal(cov, axis1=1, axis2=2)), rtol=rtol)


def test_weights_mask_rows_out():
  z, gamma = _problem(n=300)
  w = np.r_[np.ones(200), np.zeros(100)]
  full = gmm.fit_gmm(jnp.asarray(z[:200]), jnp.asarray(gamma[:200]))
  masked = gmm.fit_gmm(jnp.asarray(z), jnp.asarray(gamma), jnp.asarray(w))
  for a, b in zip(full, masked):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_dead_component_gives_no_nan():
  z, gamma = _problem(n=200, k=3)
  gamma[:, 2] = 0.0                   # memberships sum to exactly zero
  gamma /= gamma.sum(1, keepdims=True)
  params = gmm.fit_gmm(jnp.asarray(z), jnp.asarray(gamma))
  assert params.phi[2] == 0 and np.all(np.isfinite(params.mu)) and np.all(np.isfinite(params.cov))
  reg = params._replace(cov=params.cov + 1e-6 * jnp.eye(3))
  e = gmm.energy(jnp.asarray(z, jnp.float32), reg)
  np.testing.assert_allclose(e, _reference_energy(z, *[np.asarray(a)[:2] for a in reg]), rtol=1e-4)
  grad = jax.grad(lambda g: gmm.energy(jnp.asarray(z), gmm.regularize(
      gmm.fit_gmm(jnp.asarray(z), g), lambda c, n: c + 1e-6 * jnp.eye(3), len(z))).mean())(jnp.asarray(gamma))
  assert np.all(np.isfinite(grad))


def test_singular_covariance_is_reported_not_hidden():
  z = np.zeros((50, 3), np.float32)
  z[:, 0] = np.linspace(-1, 1, 50)    # rank-1 data: covariance is singular
  gamma = np.ones((50, 2), np.float32) / 2
  params = gmm.fit_gmm(jnp.asarray(z), jnp.asarray(gamma))
  assert not np.any(gmm.cholesky_ok(params.cov))
  assert not np.any(np.isfinite(gmm.energy(jnp.asarray(z), params)))


def test_energy_is_stable_far_from_every_component():
  """A point 1e3 standard deviations away: naive exp() underflows to log(0)."""
  params = gmm.GMMParams(jnp.array([0.5, 0.5]), jnp.zeros((2, 2)),
                         jnp.stack([jnp.eye(2), 2 * jnp.eye(2)]))
  e = gmm.energy(jnp.array([[1e3, 0.0]]), params)
  ref = _reference_energy(np.array([[1e3, 0.0]]), np.array([.5, .5]), np.zeros((2, 2)),
                          np.stack([np.eye(2), 2 * np.eye(2)]))
  assert np.isfinite(e).all()
  np.testing.assert_allclose(e, ref, rtol=1e-5)


def test_large_nearly_singular_fit_is_accurate_in_float32():
  """200k rows on a curve (covariance eigenvalues down to ~1e-6), offset from
  the origin: a plain float32 sum over rows makes such covariances indefinite."""
  rng = np.random.default_rng(3)
  n = 200_000
  t = rng.normal(size=n)
  z = np.stack([t, 0.5 * np.tanh(t), 0.3 * t + 1e-3 * rng.normal(size=n)], 1) + [1.0, 0.7, 0.9]
  logits = np.stack([t, -t, 0.1 * t, np.zeros(n)], 1) * 3
  gamma = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
  _, _, cov = _reference_fit(z, gamma)
  fit = jax.jit(gmm.fit_gmm)(jnp.asarray(z, jnp.float32), jnp.asarray(gamma, jnp.float32))
  err = np.abs(np.asarray(fit.cov, np.float64) - cov).max()
  assert err < 2e-6, err
  assert np.all(gmm.cholesky_ok(fit.cov + 1e-6 * jnp.eye(3)))


def _jitter_lost_in_rounding():
  """A mixture whose float32 covariance cannot hold the jitter (docs/singularity.md):
  component 1 has four rows on a line, spread 20480 along it, so its covariance is
  exactly rank 1; 1e-6 added to a diagonal entry of 20480 (float32 spacing 0.002)
  rounds away, and the regularized covariance stays exactly singular. Every number
  is exact in float32, so this holds whatever the order of the sums."""
  rng = np.random.default_rng(0)
  line = np.array([0.5, -0.25, 0.125]) + 64.0 * np.outer([-3.0, -1.0, 1.0, 3.0], [1.0, 1.0, 0.0])
  z = np.concatenate([rng.normal(size=(60, 3)), line])
  gamma = np.zeros((64, 2)); gamma[:60, 0] = 1.0; gamma[60:, 1] = 1.0
  return z, gamma


def test_rows_formed_factor_where_the_covariance_has_none():
  z, gamma = _jitter_lost_in_rounding()
  reg = regularizers.get_regularizer('jitter(eps=1e-6)')
  zj, gj, w = jnp.asarray(z, jnp.float32), jnp.asarray(gamma, jnp.float32), jnp.ones(64)
  fit = gmm.fit_gmm(zj, gj, w)
  params = gmm.regularize(fit, reg, 64)
  assert gmm.cholesky_ok(params.cov).tolist() == [True, False]
  assert not np.any(np.isfinite(gmm.energy(zj, params)))              # the plain factor: NaN
  loading = reg.loading(fit.cov, fit.phi * 64)

  def energies(z):
    rows = lambda ok: gmm.row_factors(z, gj, w, fit.mu, *loading, skip=ok)
    return gmm.energy(z, params, gmm.safe_cholesky(params.cov, rows))

  phi, mu, cov = _reference_fit(z, gamma)
  chol = np.linalg.cholesky(cov + 1e-6 * np.eye(3))                    # float64, nothing lost
  white = [np.linalg.solve(chol[k], (z - mu[k]).T) for k in range(2)]
  logp = np.stack([-0.5 * (np.sum(white[k] ** 2, 0) + 2 * np.sum(np.log(np.diag(chol[k])))
                           + 3 * np.log(2 * np.pi)) for k in range(2)], 1)
  expected = -logsumexp(logp + np.log(phi), axis=1)
  # The line rows' energies add terms of size ~30 (log det with two eigenvalues 1e-6):
  # float32 resolves them to ~1e-5 absolute.
  np.testing.assert_allclose(energies(zj), expected, rtol=1e-5, atol=1e-4)
  grad = jax.grad(lambda z: jnp.sum(energies(z)))(zj)
  with jax.enable_x64(True):   # float64 keeps the jitter: the plain factor's gradient is the reference
    z64, g64 = jnp.asarray(z), jnp.asarray(gamma)
    plain = lambda z: jnp.sum(gmm.energy(z, gmm.regularize(gmm.fit_gmm(z, g64), reg, 64)))
    expected_grad = np.asarray(jax.grad(plain)(z64))
  # The line rows' gradient across the line goes through the 1e-6 eigenvalues (condition
  # ~4e10, beyond float32): finite is all float32 can promise there. The other rows' match.
  assert np.all(np.isfinite(grad))
  np.testing.assert_allclose(grad[:60], expected_grad[:60], rtol=1e-4, atol=1e-5)


def test_rows_formed_factor_leaves_a_healthy_mixture_bit_for_bit():
  z, gamma = _problem()
  zj, gj, w = jnp.asarray(z, jnp.float32), jnp.asarray(gamma, jnp.float32), jnp.ones(len(z))
  reg = regularizers.get_regularizer('jitter(eps=1e-6)')

  def energies(z, safe):
    fit = gmm.fit_gmm(z, gj, w)
    params = gmm.regularize(fit, reg, len(z))
    if not safe:
      return gmm.energy(z, params)
    rows = lambda ok: gmm.row_factors(z, gj, w, fit.mu, *reg.loading(fit.cov, fit.phi * len(z)), skip=ok)
    return gmm.energy(z, params, gmm.safe_cholesky(params.cov, rows))

  for f in (lambda z, s: energies(z, s), lambda z, s: jax.grad(lambda z: jnp.sum(energies(z, s)))(z)):
    np.testing.assert_array_equal(jax.jit(f, static_argnums=1)(zj, True),
                                  jax.jit(f, static_argnums=1)(zj, False))


def test_a_factor_formed_from_rows_is_differentiated_as_cholesky():
  with jax.enable_x64(True):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2, 5, 3))
    cov = jnp.asarray(np.einsum('kni,knj->kij', a, a))
    d = jnp.asarray(rng.normal(size=(2, 3, 3)))
    d = d + jnp.swapaxes(d, -1, -2)
    _, got = jax.jvp(lambda c: gmm._factor_of(c, gmm.cholesky(c)), (cov,), (d,))
    _, expected = jax.jvp(gmm.cholesky, (cov,), (d,))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
