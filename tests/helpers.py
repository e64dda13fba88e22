"""Small synthetic problems shared by the unit tests."""
import pathlib

import jax.numpy as jnp
import ml_collections
import numpy as np

from dagmm_jax import grid
from dagmm_jax.training import train

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_config(name: str = 'kdd', **overrides) -> ml_collections.ConfigDict:
  """``experiments/<name>.py``'s config with field overrides (``'model__hidden'`` is model.hidden)."""
  config = grid.load_experiment(name)
  grid.apply_overrides(config, overrides)
  return config


def synthetic_data(n_seeds: int = 2, n: int = 600, d: int = 8, seed: int = 0) -> train.TrainData:
  """Gaussian rows; each seed trains on its own random subset of slightly different size."""
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, d)).astype(np.float32)
  sizes = [n // 2 + 10 * i for i in range(n_seeds)]
  idx = np.zeros((n_seeds, max(sizes)), np.int32)
  for i, m in enumerate(sizes):
    idx[i, :m] = np.sort(rng.permutation(n)[:m])
  return train.TrainData(jnp.asarray(x), jnp.asarray(idx), jnp.asarray(sizes, jnp.int32),
                         jnp.zeros((n_seeds, d)), jnp.ones((n_seeds, d)))


# The image tests: PNG files start with this; a small 32 x 32 one-region pattern.
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
TINY = {'all': {'width': 32, 'height': 32, 'region': 'all', 'filters': (8, 16)}}


def tiny_config(**overrides):
  base = dict(patterns={'tiny': TINY}, pattern='tiny', batch_size=10, num_epochs=200,
              learning_rate=3e-3, val_every=50)
  base.update(overrides)
  return load_config('images', **base)
