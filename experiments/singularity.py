"""The GMM singularity study: covariance regularizer x dataset x dtype, 20 seeds each.

Run: python scripts/singularity_study.py --config experiments/singularity.py --workdir runs/singularity
Smoke run: add --quick (3 seeds, 1/100 of the epochs). Cells run in
WORKDIR/<experiment>-<regularizer>-<dtype>, float32 first, and resume independently.
"""
import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.experiments = ('thyroid', 'arrhythmia', 'kdd')            # experiments/<name>.py
  config.regularizers = ('none', 'jitter(eps=1e-6)', 'relative_jitter(eps=1e-4)',
                         'eigen_floor(eps=1e-5)', 'shrinkage(intensity=0.1)', 'oas')
  config.dtypes = ('float32', 'float64')
  config.num_seeds = 20
  return config
