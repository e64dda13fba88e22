"""Scores an image folder or tabular rows (CSV/NPY) with a saved model.

  python scripts/score.py --workdir runs/images --input data/test/ng --out scores.csv
  python scripts/score.py --workdir runs/tabular_model --input rows.csv --out scores.csv

Writes ``id,energy,is_anomaly`` (is_anomaly at the threshold stored with the model).
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from absl import app, flags  # noqa: E402

from dagmm_jax import inspection  # noqa: E402

WORKDIR = flags.DEFINE_string('workdir', None, 'Folder of a saved model (images or tabular).')
INPUT = flags.DEFINE_string('input', None, 'Image folder, or a .csv/.npy file of rows.')
OUT = flags.DEFINE_string('out', None, 'Output CSV: id,energy,is_anomaly.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  n = inspection.score_to_csv(WORKDIR.value, INPUT.value, OUT.value)
  print(f'wrote {OUT.value}: {n} anomalies')


if __name__ == '__main__':
  flags.mark_flags_as_required(['workdir', 'input', 'out'])
  app.run(main)
