"""Writes a synthetic inspection data set: train/, val/, test/ok/, test/ng/.

  dagmm-make-synthetic-images --out /tmp/parts --size 64 --channels 1 --seed 0
"""

from absl import flags

from dagmm_jax.data import synthetic_images
from dagmm_jax.cli import common

OUT = flags.DEFINE_string('out', None, 'Root folder.')
SIZE = flags.DEFINE_integer('size', 64, 'Image side in pixels.')
CHANNELS = flags.DEFINE_integer('channels', 1, '1 grayscale, 3 RGB.')
SEED = flags.DEFINE_integer('seed', 0, 'Random seed.')
N_TRAIN = flags.DEFINE_integer('n_train', 200, 'OK training images.')
N_TEST = flags.DEFINE_integer('n_test', 50, 'Validation, test OK and test NG images each.')


def _main():
  folders = synthetic_images.write_dataset(OUT.value, SEED.value, SIZE.value, CHANNELS.value,
                                           N_TRAIN.value, N_TEST.value, N_TEST.value, N_TEST.value)
  print('\n'.join(f'{k}: {v}' for k, v in folders.items()))


def main() -> None:
  common.run(_main, required=['out'])


if __name__ == '__main__':
  main()
