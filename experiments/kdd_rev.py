"""KDDCUP-Rev: 'normal.' rows are the normal class, 24,319 attack rows drawn per seed
as anomalies (20%). Networks as KDDCUP, 400 epochs.
"""
import ml_collections

from dagmm_jax.experiments import kdd


def get_config() -> ml_collections.ConfigDict:
  config = kdd.get_config()
  config.dataset = 'kddcup99_rev'
  config.max_anomalies = 24319
  config.num_epochs = 400
  return config
