"""Scoring speed of an image inspector (issue 29 target: dagmm-score >= 500 images/s at 64 x 64 on CPU).

Writes ``--n`` synthetic 64 x 64 parts, trains the default inspector of
experiments/images.py for ``--epochs`` epochs (the speed of scoring does not depend
on how well it is trained) and times, over ``--repeats`` runs each: reading the
folder (Pillow), scoring the loaded arrays (the compiled networks and GMM), and
``inspector.score_to_csv`` end to end (what ``dagmm-score`` runs after its imports:
load the model, compile, read, score, write) and the ``dagmm-score`` command as a
new process (imports included). The first scoring call compiles and is timed apart.

  python -m benchmarks.bench_score_images --out runs/bench_score --n 2000
"""
import json
import pathlib
import subprocess
import sys
import time

from absl import flags

from dagmm_jax import inspector as inspector_lib
from dagmm_jax.cli import common
from dagmm_jax.data import synthetic_images as synth
from dagmm_jax.experiments import images

OUT = flags.DEFINE_string('out', None, 'Output folder (images, model, results.json).')
N = flags.DEFINE_integer('n', 2000, 'Images to score.')
EPOCHS = flags.DEFINE_integer('epochs', 1, 'Training epochs of the scored model.')
REPEATS = flags.DEFINE_integer('repeats', 3, 'Timed runs of each stage (the median is reported).')
SEEDS = flags.DEFINE_integer('seeds', 1, 'Members of the inspector.')


def _median_seconds(fn, repeats: int) -> float:
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  return sorted(times)[len(times) // 2]


def main():
  common.setup()
  out = pathlib.Path(OUT.value)
  folders = synth.write_dataset(out / 'parts', seed=0, size=64, n_train=200, n_val=0,
                                n_test_ok=N.value, n_test_ng=0, formats=('png',))
  config = images.get_config()
  config.num_epochs, config.val_every, config.num_seeds = EPOCHS.value, 0, SEEDS.value
  inspector = inspector_lib.Inspector.from_config(config).fit(folders['train'])
  inspector.save(out / 'model')
  loaded = inspector.load_images(folders['test_ok'])
  t0 = time.perf_counter()
  inspector.score_arrays(loaded.arrays, loaded.names)
  first = time.perf_counter() - t0
  r = REPEATS.value
  read = _median_seconds(lambda: inspector.load_images(folders['test_ok']), r)
  score = _median_seconds(lambda: inspector.score_arrays(loaded.arrays, loaded.names), r)
  model = inspector_lib.Inspector.load(out / 'model')
  model.score_arrays(loaded.arrays, loaded.names)   # compiled once, as a long dagmm-score run would be
  csv = _median_seconds(lambda: inspector_lib.score_to_csv(out / 'model', folders['test_ok'],
                                                           out / 'scores.csv'), r)
  command = [sys.executable, '-m', 'dagmm_jax.cli.score', '--workdir', str(out / 'model'),
             '--input', str(folders['test_ok']), '--out', str(out / 'scores_command.csv')]
  process = _median_seconds(lambda: subprocess.run(command, check=True, capture_output=True), r)
  n = len(loaded.names)
  result = {'images': n, 'members': SEEDS.value, 'first_score_call_s': first,
            'read_images_per_s': n / read, 'score_images_per_s': n / score,
            'score_to_csv_images_per_s': n / csv, 'command_images_per_s': n / process,
            'command_seconds': process, 'score_share_of_end_to_end': score / csv}
  (out / 'results.json').write_text(json.dumps(result, indent=2) + '\n')
  print(json.dumps(result, indent=2))


if __name__ == '__main__':
  common.run(main, required=['out'])
