"""Trains the image inspector (one convolutional DAGMM per region of the pattern).

  dagmm-train-images --config experiments/images.py --train DIR --val DIR --workdir runs/img
  dagmm-train-images --config experiments/images.py --config.pattern=connector ...
  dagmm-train-images --config experiments/images.py --train DIR --workdir W --seeds 5   # an ensemble

Writes the models, the decision threshold and a metrics log (metrics.json) to --workdir;
training is checkpointed in --workdir/training and rerunning the same command resumes it.
"""

from absl import app, flags
from ml_collections import config_flags

from dagmm_jax.cli import common

CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file.')
TRAIN = flags.DEFINE_string('train', None, 'Folder of OK training images.')
VAL = flags.DEFINE_string('val', None, 'Folder of OK validation images (optional).')
WORKDIR = flags.DEFINE_string('workdir', None, 'Output folder for the models.')
SEEDS = flags.DEFINE_integer('seeds', None, 'Members: train this many models per region (seeds '
                             'config.seed, config.seed + 1, ...) in one compiled program and score '
                             'with their ensemble (sets config.num_seeds).')


def _main():
  from dagmm_jax import config_check, files
  from dagmm_jax.inspector import Inspector
  common.setup()
  config = CONFIG.value
  if SEEDS.value is not None:
    if SEEDS.value < 1:
      raise app.UsageError(f'--seeds must be at least 1, got {SEEDS.value}')
    config.num_seeds = SEEDS.value
  config_check.validate_config(config)   # a typo: refused before the workdir is touched
  with files.workdir_lock(WORKDIR.value):   # fit and save: one run in the workdir at a time
    inspector = Inspector.from_config(config).fit(TRAIN.value, VAL.value, verbose=True,
                                                  workdir=WORKDIR.value)
    inspector.save(WORKDIR.value)
  print(f'saved to {WORKDIR.value}; threshold {inspector.threshold:.4g}')


def main() -> None:
  common.run(_main, required=['config', 'train', 'workdir'], doc=__doc__)


if __name__ == '__main__':
  main()
