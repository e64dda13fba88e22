"""Scores an image folder or tabular rows (CSV/NPY) with a saved model.

  dagmm-score --workdir runs/images --input data/test/ng --out scores.csv [--skip_bad_images]
  dagmm-score --workdir runs/tabular_model --input rows.csv --out scores.csv

Writes ``id,energy,is_anomaly,out_of_range`` (is_anomaly at the threshold stored
with the model; out_of_range: 1 where a row lies outside the model's training
range, see ``estimator.DAGMM.out_of_range``), one output row per input row. A
CSV's first line is a header only when none of its fields is a number; a bad
field stops the run naming its line and column.
"""

from absl import flags, logging

from dagmm_jax.cli import common

WORKDIR = flags.DEFINE_string('workdir', None, 'Folder of a saved model (images or tabular).')
INPUT = flags.DEFINE_string('input', None, 'Image folder, or a .csv/.npy file of rows.')
OUT = flags.DEFINE_string('out', None, 'Output CSV: id,energy,is_anomaly,out_of_range.')
SKIP_BAD_IMAGES = flags.DEFINE_bool('skip_bad_images', None, 'Image folders: skip unreadable images '
                                    '(listed in a warning) and score the others; default: the stored '
                                    "config's skip_bad_images. Without it every unreadable file is listed "
                                    'in the error.')


def _main():
  from dagmm_jax import inspector
  s = inspector.score_to_csv(WORKDIR.value, INPUT.value, OUT.value, SKIP_BAD_IMAGES.value)
  if not s.range_known:
    logging.warning('the model in %s records no training range (saved in format 1): '
                    'out_of_range not checked (0 in every row)', WORKDIR.value)
  elif s.out_of_range:
    logging.warning('%d of %d rows lie outside the training range (out_of_range column)',
                    s.out_of_range, s.rows)
  print(f'wrote {OUT.value}: {s.rows} rows, {s.anomalies} anomalies, {s.out_of_range} out of range')


def main() -> None:
  common.run(_main, required=['workdir', 'input', 'out'], doc=__doc__)


if __name__ == '__main__':
  main()
