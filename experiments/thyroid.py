"""ODDS Thyroid: 6-12-4-1-4-12-6, estimation 3-10-2, K=2, 20,000 epochs, rho 0.025."""
import ml_collections

from dagmm_jax.experiments import base


def get_config() -> ml_collections.ConfigDict:
  config = base.get_config()
  config.dataset = 'thyroid'
  config.rho = 0.025
  config.scaling = 'zscore'        # chosen by the ablation rule (results/ablation/ablation.md)
  config.model.hidden = (12, 4)
  config.model.latent_dims = 1
  config.model.n_mixtures = 2
  config.batch_size = 1024
  config.num_epochs = 20000
  config.checkpoint_every = 1000
  return config
