"""Yardstick AUROCs of the synthetic surface set (issue 29): how hard is it?

For each generator seed it writes ``write_surface_dataset(seed, 300, 200, 200)``,
loads every folder at S x S grayscale (pattern: one region 'all', as
``dagmm-train-images`` would), and scores the test images with two detectors
fitted on the OK training images only: the squared residual norm of a
50-component PCA, and the distance to the 5th-nearest training image. It prints
the AUROC of each over all NG images and per defect kind.

  python -m benchmarks.surface_yardsticks 0,1,2 64,128
"""
import pathlib
import sys
import tempfile

import numpy as np
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score

from dagmm_jax.data import images
from dagmm_jax.data import synthetic_images as synth


def load_flat(folder: pathlib.Path, side: int) -> tuple[np.ndarray, list[str]]:
  """``[N, side * side]`` float32 in [0, 1] and the file names."""
  region = images.validate_region('all', {'width': side, 'height': side, 'region': 'all',
                                          'filters': (16, 32)})
  got = images.load_folder(folder, [region], channels=1)
  return images.to_unit(got.arrays['all']).reshape(len(got.names), -1), got.names


def pca_residual(train: np.ndarray, n_components: int = 50):
  """Score function: squared norm of the PCA reconstruction residual."""
  pca = PCA(n_components, random_state=0).fit(train)
  return lambda x: ((x - pca.inverse_transform(pca.transform(x))) ** 2).sum(1)


def knn_distance(train: np.ndarray, k: int = 5):
  """Score function: Euclidean distance to the k-th nearest training image."""
  sq = (train ** 2).sum(1)
  return lambda x: np.sqrt(np.sort(((x ** 2).sum(1)[:, None] - 2 * x @ train.T + sq).clip(0), 1)[:, k - 1])


def yardsticks(root: pathlib.Path, side: int) -> dict[str, dict[str, float]]:
  """``{'pca50' | 'knn5': {'all' | kind: AUROC}}`` of the data set under ``root``."""
  train, _ = load_flat(root / 'train', side)
  ok, _ = load_flat(root / 'test' / 'ok', side)
  ng, names = load_flat(root / 'test' / 'ng', side)
  kinds = np.array([pathlib.Path(n).stem.split('_', 3)[3] for n in names])   # test_ng_0007_crack
  out = {}
  for name, score in (('pca50', pca_residual(train)), ('knn5', knn_distance(train))):
    s_ok, s_ng = score(ok), score(ng)
    auroc = lambda s: roc_auc_score(np.r_[np.zeros(len(s_ok)), np.ones(len(s))], np.r_[s_ok, s])
    out[name] = {'all': auroc(s_ng), **{k: auroc(s_ng[kinds == k]) for k in synth.SURFACE_DEFECTS}}
  return out


def main(seeds: list[int], sides: list[int]) -> None:
  print('| seed | side | yardstick | all | ' + ' | '.join(synth.SURFACE_DEFECTS) + ' |')
  print('|---' * (4 + len(synth.SURFACE_DEFECTS)) + '|')
  for seed in seeds:
    with tempfile.TemporaryDirectory() as tmp:
      root = synth.write_surface_dataset(tmp, seed, 300, 200, 200)['train'].parent
      for side in sides:
        for name, aurocs in yardsticks(root, side).items():
          print(f'| {seed} | {side} | {name} | ' + ' | '.join(f'{a:.3f}' for a in aurocs.values()) + ' |',
                flush=True)


if __name__ == '__main__':
  main([int(s) for s in (sys.argv[1] if len(sys.argv) > 1 else '0,1,2').split(',')],
       [int(s) for s in (sys.argv[2] if len(sys.argv) > 2 else '64,128').split(',')])
