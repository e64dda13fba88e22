"""The offline image benchmark (issue 29): ``dagmm-image-benchmark``.

Tasks:
  mnist    one-class MNIST (the test set in ``DAGMM_DATA_DIR``): each digit of
           ``digits`` in turn is normal, half of its images train, the other half
           and every image of the other digits test (data/mnist.py);
  surface  synthetic textured surfaces under uneven light, 96-256 px of varying
           aspect, small defects (1-3% of the area: pits, hairline cracks, frayed
           edges, uneven patches; data/synthetic_images.py).

Every (task, split seed) cell trains ``members`` models (seeds 0..members-1) in
one compiled program with the task's inspector config and scores the test
images with member 0 alone, the members' ensemble and the yardsticks
(core/yardsticks.py) fitted on the same training images.

  dagmm-image-benchmark --config experiments/image_benchmark.py --workdir runs/image_bench
  dagmm-image-benchmark ... --config.digits='(0, 1)' --config.mnist.num_epochs=5   # a quick look
"""
import ml_collections

from dagmm_jax.experiments import images


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.tasks = ('mnist', 'surface')
  config.digits = tuple(range(10))
  config.split_seeds = (0, 1, 2)
  config.members = 3
  # 0: the members form one ensemble. k < members: also disjoint ensembles of k members
  # (ensemble, ensemble_1, ...), whose AUROC std within a split is the ensemble's spread over
  # training seeds, e.g. --config.members=9 --config.ensemble_size=3.
  config.ensemble_size = 0
  # One-class MNIST at its own 28 x 28 pixels.
  config.mnist = images.get_config()
  config.mnist.pattern = 'mnist'
  config.mnist.patterns = {'mnist': {'all': {'width': 28, 'height': 28, 'region': 'all',
                                             'filters': (16, 32)}}}
  config.mnist.num_epochs = 30
  config.mnist.val_every = 0
  # Surfaces at 128 x 128 in 4 x 4 tiles of 32, one shared model, an image scored by its worst
  # tile (results/image_ablation: stage 2 of its RULE.md).
  config.surface = images.get_config()
  config.surface.pattern = 'tiles128x4'
  config.surface.num_epochs = 30
  config.surface.val_every = 0
  config.surface_images = ml_collections.ConfigDict({'n_train': 300, 'n_test_ok': 200, 'n_test_ng': 200})
  return config
