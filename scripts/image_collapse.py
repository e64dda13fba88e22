"""The collapsed code of issue 29, on MNIST digit 0 at 64 x 64 (docs/inspection.md#the-collapsed-code).

Trains one DAGMM on half of digit 0's test-set images, resized to 64 x 64, with
the image defaults before issue 29 (tanh, a 2-dimensional code, learning rate
3e-3, lambda_cov 0) and one override, and prints one JSON line: AUROC against 400
other digits' images, the spread of z on the training images (the code's
dimensions first, then relative distance and cosine), the final training
reconstruction error beside the mean image's, the GMM's weights.

  python scripts/image_collapse.py                                     # the old defaults
  python scripts/image_collapse.py --override "{'lambda_energy': 0.0}"
"""
import ast
import json
import time

import numpy as np
from absl import app, flags
from PIL import Image

from dagmm_jax.core import metrics
from dagmm_jax.data import mnist
from dagmm_jax.data.images import to_unit
from dagmm_jax.estimator import DAGMM
from dagmm_jax.training import cpu
from dagmm_jax.experiments import images

OVERRIDE = flags.DEFINE_string('override', '{}', "A dict of config fields, e.g. \"{'model.activation': 'gelu'}\".")
EPOCHS = flags.DEFINE_integer('epochs', 30, 'Training epochs.')
SEED = flags.DEFINE_integer('seed', 0, 'Split and training seed.')
OLD_DEFAULTS = {'model.activation': 'tanh', 'model.latent_dims': 2, 'learning_rate': 3e-3, 'lambda_cov': 0.0}


def _resize(a: np.ndarray, size: int = 64) -> np.ndarray:
  return np.stack([np.asarray(Image.fromarray(i).resize((size, size), Image.BILINEAR)) for i in a])[..., None]


def main(argv) -> None:
  del argv
  cpu.unroll_threefry_on_cpu()
  x, y = mnist.load_mnist_test()
  rng = np.random.default_rng(SEED.value)
  normal = rng.permutation(np.flatnonzero(y == 0))
  train, test_ok = normal[:len(normal) // 2], normal[len(normal) // 2:]
  test_ng = rng.choice(np.flatnonzero(y != 0), 400, replace=False)
  x_train, x_test = _resize(x[train]), _resize(x[np.r_[test_ok, test_ng]])
  labels = np.r_[np.zeros(len(test_ok)), np.ones(len(test_ng))].astype(bool)
  config = images.get_config()
  config.num_epochs, config.seed = EPOCHS.value, SEED.value
  overrides = {**OLD_DEFAULTS, **ast.literal_eval(OVERRIDE.value)}
  for key, value in overrides.items():
    *path, leaf = key.split('.')
    target = config
    for p in path:
      target = target[p]
    target[leaf] = value
  started = time.time()
  model = DAGMM(config).fit(x_train)
  z = model.embed(x_train)
  unit = to_unit(x_train)
  print(json.dumps({
      'digit': 0, 'seed': SEED.value, 'override': ast.literal_eval(OVERRIDE.value),
      'auroc': round(metrics.auroc(labels, model.decision_function(x_test)), 4),
      'z_std': np.round(z.std(0), 5).tolist(), 'reconstruction': round(model.history_[-1]['reconstruction'], 3),
      'mean_image_error': round(float(np.mean(np.sum((unit - unit.mean(0)) ** 2, axis=(1, 2, 3)))), 3),
      'phi': np.round(model.gmm_.phi, 3).tolist(), 'seconds': round(time.time() - started)}))


if __name__ == '__main__':
  app.run(main)
