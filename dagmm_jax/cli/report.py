"""Inspection report of a trained image inspector on OK and NG test folders.

  dagmm-report --workdir runs/img --test_ok DIR --test_ng DIR --out runs/img/report
      [--target_recall 0.99 | --max_fpr 0.01] [--store_threshold] [--step 50 [--train DIR]]

The report sets DAGMM beside two yardsticks fitted on the training OK images
(PCA residual, 5th-nearest neighbour) and says whether the code collapsed.
With --target_recall (or --max_fpr) the threshold is the one that reaches that
recall (or false-positive rate) on the two test folders; --store_threshold saves
it with the model, so that score.py uses it. With --step N the report scores with
the networks checkpointed at epoch N of training (their GMMs and threshold refitted
on the training images, as at the end of training), to compare epochs; the kept
epochs are config.checkpoints_to_keep's (experiments/images.py keeps all).
"""

from absl import app, flags

from dagmm_jax.cli import common

WORKDIR = flags.DEFINE_string('workdir', None, 'Folder of a trained inspector.')
TEST_OK = flags.DEFINE_string('test_ok', None, 'Folder of OK test images.')
TEST_NG = flags.DEFINE_string('test_ng', None, 'Folder of NG test images.')
OUT = flags.DEFINE_string('out', None, 'Report folder (PNGs + report.md).')
TARGET_RECALL = flags.DEFINE_float('target_recall', None, 'Threshold: flag at least this share '
                                   'of the NG test images.')
MAX_FPR = flags.DEFINE_float('max_fpr', None, 'Threshold: flag at most this share of the OK test images.')
STEP = flags.DEFINE_integer('step', None, 'Score with the networks of this training epoch.')
TRAIN = flags.DEFINE_string('train', None, 'The OK training images, for the yardsticks and with '
                            '--step (default: the folder the inspector was trained on).')
STORE = flags.DEFINE_bool('store_threshold', False, 'Save the chosen threshold with the model.')


def _main():
  from dagmm_jax import files
  from dagmm_jax.inspector import Inspector
  from dagmm_jax.reports import inspection
  if TARGET_RECALL.value is not None and MAX_FPR.value is not None:
    raise app.UsageError('give --target_recall or --max_fpr, not both')
  if STORE.value and TARGET_RECALL.value is None and MAX_FPR.value is None:
    raise app.UsageError('--store_threshold needs --target_recall or --max_fpr')
  if STORE.value and STEP.value is not None:
    raise app.UsageError('--store_threshold stores with the final model; it cannot follow --step')
  inspector = Inspector.load(WORKDIR.value, STEP.value, TRAIN.value)
  metrics = inspection.make_report(inspector, TEST_OK.value, TEST_NG.value, OUT.value,
                                      TARGET_RECALL.value, MAX_FPR.value, TRAIN.value)
  if STORE.value:
    with files.workdir_lock(WORKDIR.value):   # not while a training writes the workdir
      inspector.save_threshold(WORKDIR.value)
    print(f'stored threshold {inspector.threshold:.6g} in {WORKDIR.value}/inspector.json')
  print(' '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}' for k, v in metrics.items()))


def main() -> None:
  common.run(_main, required=['workdir', 'test_ok', 'test_ng', 'out'], doc=__doc__)


if __name__ == '__main__':
  main()
