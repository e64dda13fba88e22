"""scripts/split_noise.py: the two deterministic yardstick scorers against a float64 brute force."""
import importlib.util
import pathlib

import numpy as np

_SPEC = importlib.util.spec_from_file_location(
    'split_noise', pathlib.Path(__file__).parents[1] / 'scripts' / 'split_noise.py')
split_noise = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(split_noise)


def test_knn_score_is_the_kth_smallest_distance_over_chunks():
  rng = np.random.default_rng(0)
  train, test = rng.normal(size=(50, 4)), rng.normal(size=(7, 4))
  brute = np.sort(((test[:, None] - train[None]) ** 2).sum(-1), axis=1)[:, 4]
  np.testing.assert_allclose(split_noise.knn_score(train, test, k=5, chunk=3), brute, rtol=1e-12)


def test_pca_score_is_zero_in_the_subspace_and_the_residual_off_it():
  rng = np.random.default_rng(1)
  train = np.zeros((200, 3))
  train[:, :2] = rng.normal(size=(200, 2)) * [3.0, 2.0]
  train[:, 2] = 0.01 * rng.normal(size=200)
  test = np.array([[1.0, -1.0, 0.0], [0.0, 0.0, 5.0]])
  score = split_noise.pca_score(train, test, q=10)   # q capped at D - 1 = 2
  assert score[0] < 1e-3
  np.testing.assert_allclose(score[1], 25.0, rtol=1e-2)
