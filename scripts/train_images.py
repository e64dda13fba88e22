"""Trains the image inspector (one convolutional DAGMM per region of the pattern).

  python scripts/train_images.py --config experiments/images.py --train DIR --val DIR --workdir runs/img
  python scripts/train_images.py --config experiments/images.py --config.pattern=connector ...

Writes the models, the decision threshold and a metrics log (metrics.json) to --workdir;
training is checkpointed in --workdir/training and rerunning the same command resumes it.
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from dagmm_jax import cli  # noqa: E402
from dagmm_jax.inspection import Inspector  # noqa: E402

CONFIG = config_flags.DEFINE_config_file('config', None, 'Experiment config file.')
TRAIN = flags.DEFINE_string('train', None, 'Folder of OK training images.')
VAL = flags.DEFINE_string('val', None, 'Folder of OK validation images (optional).')
WORKDIR = flags.DEFINE_string('workdir', None, 'Output folder for the models.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  cli.setup_logging()   # without orbax's INFO line at every checkpoint
  inspector = Inspector.from_config(CONFIG.value).fit(TRAIN.value, VAL.value, verbose=True,
                                                      workdir=WORKDIR.value)
  inspector.save(WORKDIR.value)
  print(f'saved to {WORKDIR.value}; threshold {inspector.threshold:.4g}')


if __name__ == '__main__':
  flags.mark_flags_as_required(['config', 'train', 'workdir'])
  app.run(main)
