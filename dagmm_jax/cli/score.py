"""Scores an image folder or tabular rows (CSV/NPY) with a saved model.

  dagmm-score --workdir runs/images --input data/test/ng --out scores.csv
  dagmm-score --workdir runs/tabular_model --input rows.csv --out scores.csv

Writes ``id,energy,is_anomaly`` (is_anomaly at the threshold stored with the model).
"""

from absl import app, flags

from dagmm_jax import inspector
from dagmm_jax.cli import common

WORKDIR = flags.DEFINE_string('workdir', None, 'Folder of a saved model (images or tabular).')
INPUT = flags.DEFINE_string('input', None, 'Image folder, or a .csv/.npy file of rows.')
OUT = flags.DEFINE_string('out', None, 'Output CSV: id,energy,is_anomaly.')


def _main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  n = inspector.score_to_csv(WORKDIR.value, INPUT.value, OUT.value)
  print(f'wrote {OUT.value}: {n} anomalies')


def main() -> None:
  flags.mark_flags_as_required(['workdir', 'input', 'out'])
  common.run(_main)


if __name__ == '__main__':
  main()
