"""The covariance regularizer registry."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dagmm_jax.core import gmm, regularizers


def test_spec_parsing_and_jitter():
  reg = regularizers.get_regularizer('jitter(eps=0.5)')
  np.testing.assert_allclose(reg(jnp.zeros((2, 3, 3)), jnp.ones(2)), 0.5 * np.broadcast_to(np.eye(3), (2, 3, 3)))
  assert regularizers.parse_spec('none') == ('none', {})
  assert regularizers.parse_spec(' jitter(eps=1e-6) ') == ('jitter', {'eps': 1e-6})


def test_unknown_name_lists_known_ones():
  with pytest.raises(ValueError, match=r"unknown covariance regularizer 'ridge'.*'jitter'.*'none'"):
    regularizers.get_regularizer('ridge(eps=1)')


@pytest.mark.parametrize('spec', ['jitter(1e-6)', 'jitter(eps=)', '3'])
def test_malformed_spec(spec):
  with pytest.raises(ValueError, match='bad regularizer spec'):
    regularizers.get_regularizer(spec)


def test_wrong_parameter_names_the_regularizer():
  with pytest.raises(ValueError, match="bad parameters for regularizer 'jitter'"):
    regularizers.get_regularizer('jitter(epsilon=1e-6)')


def _hard_covariances() -> dict[str, np.ndarray]:
  """Singular and badly scaled ``[K, 3, 3]`` covariances, as fit_gmm produces them."""
  rng = np.random.default_rng(0)
  def cov_of(z):
    c = z - z.mean(0)
    return c.T @ c / len(z)
  base = rng.normal(size=(200, 3))
  dup = np.repeat(base[:1], 200, 0) + 0 * base                # every row the same point
  rank1 = np.outer(rng.normal(size=200), [1.0, -2.0, 0.5])
  dup_col = base.copy(); dup_col[:, 2] = dup_col[:, 0]         # duplicated feature
  scaled = base * [1e3, 1.0, 1e-3]                             # variances 1e6 .. 1e-6
  return {
      'rank0': np.zeros((2, 3, 3)),
      'rank1': np.stack([np.outer([1.0, -2.0, 0.5], [1.0, -2.0, 0.5]), cov_of(rank1)]),
      'duplicated_rows': np.stack([cov_of(dup), cov_of(base[:2])]),
      'duplicated_feature': np.stack([cov_of(dup_col), cov_of(dup_col) * 1e-4]),
      'huge_scale': np.stack([cov_of(scaled), cov_of(scaled[:, ::-1])]),
      'huge_scale_rank1': np.stack([np.outer(v, v) for v in ([1e2, 1.0, 1e-2], [1e-2, 1e2, 1.0])]),
  }


SAFE = ['jitter', 'relative_jitter', 'eigen_floor', 'shrinkage', 'oas', 'shrinkage(intensity=0.5)']


@pytest.mark.parametrize('dtype', [jnp.float32, jnp.float64])
@pytest.mark.parametrize('spec', SAFE)
def test_regularized_covariances_are_spd_with_finite_gradients(spec, dtype):
  with jax.enable_x64(dtype == jnp.float64):
    reg = regularizers.get_regularizer(spec)
    for case, cov in _hard_covariances().items():
      c = jnp.asarray(cov, dtype)
      n_eff = jnp.asarray([50.0, 150.0], dtype)
      out = jax.jit(reg)(c, n_eff)
      assert out.dtype == dtype
      np.testing.assert_allclose(out, jnp.swapaxes(out, -1, -2), rtol=0, atol=1e-6 * float(jnp.abs(out).max()))
      assert np.all(gmm.cholesky_ok(out)), (spec, case)
      assert np.all(np.linalg.eigvalsh(np.asarray(out, np.float64)) > 0), (spec, case)
      grad = jax.grad(lambda a: jnp.sum(jnp.log(jnp.diagonal(jnp.linalg.cholesky(reg(a, n_eff)),
                                                            axis1=-2, axis2=-1))))(c)
      assert np.all(np.isfinite(grad)), (spec, case)


def test_none_on_rank_deficient_input_is_reported():
  cov = jnp.asarray(_hard_covariances()['rank1'], jnp.float32)
  out = regularizers.get_regularizer('none')(cov, None)
  assert not np.any(gmm.cholesky_ok(out))
  params = gmm.GMMParams(jnp.asarray([0.5, 0.5]), jnp.zeros((2, 3)), out)
  assert not np.any(np.isfinite(gmm.energy(jnp.ones((4, 3)), params)))


def test_eigen_floor_keeps_a_well_conditioned_covariance_and_bounds_the_condition_number():
  rng = np.random.default_rng(1)
  a = rng.normal(size=(3, 3)); good = a @ a.T + np.eye(3)
  out = regularizers.get_regularizer('eigen_floor(eps=1e-3)')(jnp.asarray(good[None]), None)
  np.testing.assert_allclose(out[0], good, rtol=1e-5, atol=1e-5)
  bad = np.outer([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])[None]
  w = np.linalg.eigvalsh(np.asarray(regularizers.get_regularizer('eigen_floor(eps=1e-3)')(
      jnp.asarray(bad), None), np.float64))
  assert w.max() / w.min() == pytest.approx(1e3, rel=1e-3)


def test_oas_shrinks_more_with_fewer_samples():
  cov = jnp.asarray(_hard_covariances()['rank1'][1:], jnp.float32)
  reg = regularizers.get_regularizer('oas(floor=0.0)')
  off = lambda n: float(jnp.abs(reg(cov, jnp.asarray([n]))[0, 0, 1]))
  assert off(5.0) < off(500.0) < float(jnp.abs(cov[0, 0, 1]))


def test_n_eff_cannot_be_set_in_the_spec():
  with pytest.raises(ValueError, match='n_eff comes from the data'):
    regularizers.get_regularizer('oas(n_eff=3)')


def test_adding_a_regularizer_is_one_function_and_one_entry(monkeypatch):
  """The README's example, run as it is written there."""
  import pathlib
  import re
  readme = (pathlib.Path(__file__).parents[1] / 'README.md').read_text()
  (block,) = [b for b in re.findall(r'```python\n(.*?)```', readme, re.S) if 'def diagonal_loading' in b]
  monkeypatch.setattr(regularizers, 'REGULARIZERS', dict(regularizers.REGULARIZERS))
  exec(block, {})
  reg = regularizers.get_regularizer('diagonal_loading(alpha=1e-2)')
  cov = jnp.asarray([[[2.0, 1.0], [1.0, 4.0]]])
  np.testing.assert_allclose(reg(cov, None), [[[2.02, 1.0], [1.0, 4.04]]], rtol=1e-6)
  np.testing.assert_allclose(reg.loading(cov, None).add, [[0.02, 0.04]], rtol=1e-6)   # a Loading


def test_a_regularizer_returning_a_matrix_still_works(monkeypatch):
  monkeypatch.setitem(regularizers.REGULARIZERS, 'double', lambda cov: 2.0 * cov)
  reg = regularizers.get_regularizer('double')
  assert reg.loading(jnp.eye(2)[None], None) is None
  np.testing.assert_allclose(reg(jnp.eye(2)[None], None), 2.0 * np.eye(2)[None])


def _np_eig_floor(c, eps, floor):
  w, v = np.linalg.eigh(c)
  return (v * np.maximum(w, max(eps * w[-1], floor))) @ v.T


def _np_oas(c, n, floor):   # Chen, Wiesel, Eldar, Hero (2010), eq. 23, toward (tr/p) I
  p, tr, tr2 = c.shape[0], np.trace(c), np.trace(c @ c)
  rho = min(((1 - 2 / p) * tr2 + tr ** 2) / ((n + 1 - 2 / p) * (tr2 - tr ** 2 / p)), 1.0)
  return (1 - rho) * c + (rho * tr / p + floor) * np.eye(p)


# Every registered regularizer's formula, written again in float64 NumPy. A new
# registry entry without a reference here fails the test below.
REFERENCES = {
    'none': lambda c, n: c,
    'jitter': lambda c, n: c + 1e-6 * np.eye(len(c)),
    'relative_jitter': lambda c, n: c + max(1e-4 * np.trace(c) / len(c), 1e-6) * np.eye(len(c)),
    'eigen_floor': lambda c, n: _np_eig_floor(c, 1e-5, 1e-6),
    'shrinkage': lambda c, n: 0.9 * c + np.diag(0.1 * np.diag(c) + 1e-6),
    'oas': lambda c, n: _np_oas(c, n, 1e-6),
}


def test_every_registered_regularizer_matches_its_float64_reference():
  assert set(regularizers.REGULARIZERS) == set(REFERENCES)
  rng = np.random.default_rng(0)
  a = rng.normal(size=(3, 4, 4)) * np.array([1.0, 0.1, 1e-3, 10.0])   # very different scales
  covs = a @ np.swapaxes(a, -1, -2) / 4
  covs[2] = np.outer(a[2, 0], a[2, 0])                                  # rank one: floors bite
  n_eff = np.array([30.0, 5.0, 2.0])
  with jax.enable_x64(True):   # float64 throughout, so even the jitter of 1e-6 is resolved
    for name, ref in REFERENCES.items():
      got = np.asarray(regularizers.get_regularizer(name)(jnp.asarray(covs), jnp.asarray(n_eff)))
      want = np.stack([ref(c, n) for c, n in zip(covs, n_eff)])
      scale = np.abs(covs).max(axis=(1, 2), keepdims=True)
      np.testing.assert_allclose((got - covs) / scale, (want - covs) / scale, atol=1e-12, err_msg=name)
