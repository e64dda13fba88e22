"""DAGMM in JAX/Flax: Deep Autoencoding Gaussian Mixture Model (Zong et al., ICLR 2018).

  from dagmm_jax import DAGMM, load_dataset
  model = DAGMM(config).fit(X_train)          # config: experiments/*.py's get_config()
  energies = model.decision_function(X_test)  # higher = more anomalous

Layers, each importing only those below it:
  core/       the model: networks, GMM energy, regularizers, objective, metrics (pure JAX)
  data/       data sets, protocols (splits, scaling), image folders
  training/   the compiled training loop, sharding, checkpoints, processes
  reports/    tables and figures
  experiment.py, grid.py, study.py, ablation.py   multi-seed reproductions and grids
  estimator.py (DAGMM), inspector.py (image inspection)
  cli/        the command-line programs
"""
import importlib

__version__ = '0.3.0'

# Imported on first use: ``python -m dagmm_jax.training.pinning`` must pin its
# process to its cores before anything imports JAX.
_EXPORTS = {'DAGMM': 'dagmm_jax.estimator', 'get_regularizer': 'dagmm_jax.core.regularizers',
            'load_dataset': 'dagmm_jax.data', 'train_and_evaluate': 'dagmm_jax.experiment'}
__all__ = [*_EXPORTS, '__version__']


def __getattr__(name: str):
  if name in _EXPORTS:
    return getattr(importlib.import_module(_EXPORTS[name]), name)
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
