"""The GMM singularity study: regularizer x dataset x dtype, 20 seeds per cell.

  python scripts/singularity_study.py --config experiments/singularity.py --workdir runs/singularity [--quick]

Writes WORKDIR/study.md and PNG plots; each cell's results under WORKDIR/<cell>.
Rerunning with the same workdir reuses finished cells and resumes the rest.
"""
import pathlib
import sys

from absl import app, flags
from ml_collections import config_flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from dagmm_jax import cli, study  # noqa: E402

CONFIG = config_flags.DEFINE_config_file('config', 'experiments/singularity.py', 'Study config.')
WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory (rerun to resume).')
QUICK = flags.DEFINE_bool('quick', False, 'Smoke run: 3 seeds, 1/100 of the epochs.')
flags.mark_flags_as_required(['workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  cli.setup_logging()
  print(study.write_study(CONFIG.value, WORKDIR.value, QUICK.value))


if __name__ == '__main__':
  app.run(main)
