"""Writes a synthetic inspection data set.

  dagmm-make-synthetic-images --out /tmp/parts --size 64 --channels 1 --seed 0
  dagmm-make-synthetic-images --kind surface --out /tmp/surface --n_train 300 --n_test 200

--kind parts (default): square parts with a regular texture; train/, val/, test/ok/,
test/ng/ (synthetic_images.write_dataset). --kind surface: the harder set of
grayscale textured surfaces under uneven light, sizes 96-256 px of varying aspect,
PNG and JPEG, small defects; train/, test/ok/, test/ng/
(synthetic_images.write_surface_dataset; --size and --channels do not apply).
"""

from absl import app, flags

from dagmm_jax.cli import common

OUT = flags.DEFINE_string('out', None, 'Root folder.')
KIND = flags.DEFINE_enum('kind', 'parts', ['parts', 'surface'], 'Which data set: the regular parts '
                         'or the harder textured surfaces (see the module doc).')
SIZE = flags.DEFINE_integer('size', 64, 'Image side in pixels (parts only).')
CHANNELS = flags.DEFINE_integer('channels', 1, '1 grayscale, 3 RGB (parts only).')
SEED = flags.DEFINE_integer('seed', 0, 'Random seed.')
N_TRAIN = flags.DEFINE_integer('n_train', 200, 'OK training images.')
N_TEST = flags.DEFINE_integer('n_test', 50, 'Validation (parts only), test OK and test NG images each.')


def _main():
  from dagmm_jax.data import synthetic_images
  if KIND.value == 'surface':
    for flag in (SIZE, CHANNELS):
      if flags.FLAGS[flag.name].present:
        raise app.UsageError(f'--{flag.name} applies to --kind parts only (surfaces are grayscale, '
                             'sides 96-256 px)')
    folders = synthetic_images.write_surface_dataset(OUT.value, SEED.value, N_TRAIN.value,
                                                     N_TEST.value, N_TEST.value)
  else:
    folders = synthetic_images.write_dataset(OUT.value, SEED.value, SIZE.value, CHANNELS.value,
                                             N_TRAIN.value, N_TEST.value, N_TEST.value, N_TEST.value)
  print('\n'.join(f'{k}: {v}' for k, v in folders.items()))


def main() -> None:
  common.run(_main, required=['out'], doc=__doc__)


if __name__ == '__main__':
  main()
