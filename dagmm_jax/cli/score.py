"""Scores an image folder or tabular rows (CSV/NPY) with a saved model.

  dagmm-score --workdir runs/images --input data/test/ng --out scores.csv
  dagmm-score --workdir runs/tabular_model --input rows.csv --out scores.csv

Writes ``id,energy,is_anomaly`` (is_anomaly at the threshold stored with the model).
"""

from absl import flags

from dagmm_jax import inspector
from dagmm_jax.cli import common

WORKDIR = flags.DEFINE_string('workdir', None, 'Folder of a saved model (images or tabular).')
INPUT = flags.DEFINE_string('input', None, 'Image folder, or a .csv/.npy file of rows.')
OUT = flags.DEFINE_string('out', None, 'Output CSV: id,energy,is_anomaly.')


def _main():
  n = inspector.score_to_csv(WORKDIR.value, INPUT.value, OUT.value)
  print(f'wrote {OUT.value}: {n} anomalies')


def main() -> None:
  common.run(_main, required=['workdir', 'input', 'out'])


if __name__ == '__main__':
  main()
