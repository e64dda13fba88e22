"""Tabular detection on a real file: training beats the untrained network.

A short real cell: Thyroid (paper protocol), seeds 0-5 trained together for
2,000 epochs at learning rate 1e-3 (the paper's 20,000 at 1e-4 take minutes).
The statistic is the mean over the six seeds of trained F1 minus the F1 of the
same seed's network at initialisation (its GMM fitted the same way).

Measured before choosing the bar (`dagmm-reproduce --config thyroid --seeds 20
--config.num_epochs=2000 --config.learning_rate=1e-3`): per-seed differences
-0.29 to +0.78, mean 0.46; over all 38,760 six-seed subsets of those 20 seeds
the mean is at least 0.036, at least 0.193 in 99% of them, median 0.466. Seeds
0-3 give the same F1 on one core, on two, and with --xla_cpu_max_isa=SSE4_2
(one value differs by 0.02). The bar, 0.1, fails for about 1% of seed sets: a
failure means training stopped helping, not noise.
"""
import numpy as np

from dagmm_jax import experiment
from helpers import load_config


def test_training_beats_the_untrained_network_on_thyroid(tmp_path, data_file):
  data_file('thyroid.mat')
  config = load_config('thyroid', num_seeds=6, num_epochs=2000, learning_rate=1e-3, checkpoint_every=2000)
  results = experiment.train_and_evaluate(config, str(tmp_path))
  runs = results['runs']
  assert not any(r['failed'] or r['untrained']['failed'] for r in runs)
  gain = np.mean([r['f1'] - r['untrained']['f1'] for r in runs])
  print(f'mean F1 gain over the untrained network, seeds 0-5: {gain:.4f}')
  assert gain > 0.1, [(r['f1'], r['untrained']['f1']) for r in runs]
