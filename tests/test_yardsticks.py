"""The yardsticks against scikit-learn run directly, and the code-health check."""
import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from dagmm_jax.core import health, yardsticks


@pytest.fixture
def rows():
  rng = np.random.default_rng(0)
  basis = rng.normal(size=(6, 40))
  x_train = rng.normal(size=(120, 6)) @ basis + 0.1 * rng.normal(size=(120, 40))
  x_test = rng.normal(size=(70, 6)) @ basis + 0.1 * rng.normal(size=(70, 40))
  x_test[:10] += rng.normal(size=(10, 40))   # off the subspace
  return x_train, x_test


@pytest.mark.parametrize('q', [3, 10, 50])
def test_pca_score_is_scikit_learns_residual(rows, q):
  x_train, x_test = rows
  pca = PCA(n_components=min(q, 39), svd_solver='full').fit(x_train)
  expected = ((x_test - pca.inverse_transform(pca.transform(x_test))) ** 2).sum(1)
  np.testing.assert_allclose(yardsticks.pca_score(x_train, x_test, q), expected, rtol=1e-8, atol=1e-10)


def test_knn_score_is_scikit_learns_kth_distance(rows, monkeypatch):
  x_train, x_test = rows
  expected = NearestNeighbors(n_neighbors=5).fit(x_train).kneighbors(x_test)[0][:, 4]
  np.testing.assert_allclose(yardsticks.knn_score(x_train, x_test, 5), expected, rtol=1e-9)
  monkeypatch.setattr(yardsticks, '_BLOCK', 7 * len(x_train))   # blocks of 7 test rows
  np.testing.assert_allclose(yardsticks.knn_score(x_train, x_test, 5), expected, rtol=1e-9)


def test_yardsticks_take_images(rows):
  x_train, x_test = rows
  imgs = lambda x: x.reshape(len(x), 5, 8, 1)
  got = yardsticks.scores(imgs(x_train), imgs(x_test))
  assert set(got) == {'pca10', 'pca50', 'knn5'}
  np.testing.assert_allclose(got['knn5'], yardsticks.knn_score(x_train, x_test, 5))


def test_health_flags_a_constant_code_and_a_mean_reconstruction():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(50, 12))
  mean_err = health.mean_image_error(x)
  assert mean_err == pytest.approx(np.mean(np.sum((x - x.mean(0)) ** 2, 1)))
  living = np.c_[rng.normal(size=(50, 2)), rng.random((50, 2))]
  ok = health.check(living, 2, 0.3 * mean_err * np.ones(50), mean_err)
  assert ok['warnings'] == [] and ok['collapsed_dims'] == []
  dead = living.copy()
  dead[:, 1] = 0.25 + 1e-6 * rng.normal(size=50)
  bad = health.check(dead, 2, mean_err * np.ones(50), mean_err)
  assert bad['collapsed_dims'] == [1]
  assert any('collapsed code: 1 of 2' in w and 'unused' in w for w in bad['warnings'])
  dead[:, 0] = -1.0
  assert any('2 of 2' in w and 'reconstruction features alone' in w
             for w in health.check(dead, 2, mean_err * np.ones(50), mean_err)['warnings'])
  assert any('no better than the mean' in w for w in bad['warnings'])
