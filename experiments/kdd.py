"""KDDCUP (10%) with the paper's settings: D-60-30-10-1-10-30-60-D, estimation 3-10-4, K=4.

Run: python scripts/reproduce.py --config experiments/kdd.py --workdir runs/kdd --seeds 20
Any field can be overridden, e.g. --config.num_epochs=20 --config.scaling=zscore
"""
import ml_collections

from dagmm_jax.experiments import base


def get_config() -> ml_collections.ConfigDict:
  config = base.get_config()
  config.dataset = 'kddcup99'      # 'normal.' rows are the anomaly class
  config.rho = 0.2
  config.model.hidden = (60, 30, 10)
  config.model.latent_dims = 1
  config.model.n_mixtures = 4
  config.batch_size = 1024
  config.num_epochs = 200
  return config
