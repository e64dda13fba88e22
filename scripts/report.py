"""Inspection report of a trained image inspector on OK and NG test folders.

  python scripts/report.py --workdir runs/img --test_ok DIR --test_ng DIR --out runs/img/report
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from absl import app, flags  # noqa: E402

from dagmm_jax import images_report  # noqa: E402
from dagmm_jax.inspection import Inspector  # noqa: E402

WORKDIR = flags.DEFINE_string('workdir', None, 'Folder of a trained inspector.')
TEST_OK = flags.DEFINE_string('test_ok', None, 'Folder of OK test images.')
TEST_NG = flags.DEFINE_string('test_ng', None, 'Folder of NG test images.')
OUT = flags.DEFINE_string('out', None, 'Report folder (PNGs + report.md).')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  metrics = images_report.make_report(Inspector.load(WORKDIR.value), TEST_OK.value,
                                      TEST_NG.value, OUT.value)
  print(' '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}' for k, v in metrics.items()))


if __name__ == '__main__':
  flags.mark_flags_as_required(['workdir', 'test_ok', 'test_ng', 'out'])
  app.run(main)
