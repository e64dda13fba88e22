"""ODDS Arrhythmia: 274-10-2-10-274, estimation 4-10-2, K=2, 10,000 epochs, batch 128, rho 0.15."""
import ml_collections

from dagmm_jax.experiments import base


def get_config() -> ml_collections.ConfigDict:
  config = base.get_config()
  config.dataset = 'arrhythmia'
  config.rho = 0.15
  config.constant_columns = 'zero'  # chosen by the ablation rule (results/ablation/ablation.md)
  config.model.hidden = (10,)
  config.model.latent_dims = 2
  config.model.n_mixtures = 2
  config.batch_size = 128
  config.num_epochs = 10000
  config.checkpoint_every = 1000
  return config
