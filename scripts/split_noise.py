"""How much of Table 2's spread across seeds comes from the split alone?

  python scripts/split_noise.py --out results/split_noise [--experiments arrhythmia,thyroid,kdd,kdd_rev]

Each seed of the paper protocol draws its own 50/50 split, so F1 varies across
seeds even for a scorer with no randomness of its own. This scores the same
splits and scaling as the Table 2 cells (seeds 100-119, each experiment's
config) with two deterministic, label-free scorers fitted on the training rows
only, and reports their F1 mean ± std across seeds:

* ``knn5``: squared Euclidean distance to the 5th nearest training row (only
  where the training rows fit in memory: at most ``--knn_max_train`` rows);
* ``pca10``: squared residual after projecting onto the top 10 principal
  components of the training rows (at most D - 1: Thyroid's 6 features get 5).

k = 5 and q = 10 were the only values tried: these are yardsticks for the
split's share of the spread, not tuned competitors. Writes OUT/split_noise.json
and OUT/split_noise.md.
"""
import pathlib

import numpy as np
from absl import app, flags

from dagmm_jax import files, grid
from dagmm_jax.scoring import evalset
from dagmm_jax.core import metrics
from dagmm_jax.data import load_dataset

OUT = flags.DEFINE_string('out', None, 'Output folder for split_noise.json and split_noise.md.')
EXPERIMENTS = flags.DEFINE_list('experiments', ['arrhythmia', 'thyroid', 'kdd', 'kdd_rev'], 'Experiment configs.')
FIRST_SEED = flags.DEFINE_integer('first_seed', 100, 'First seed (Table 2: 100-119).')
NUM_SEEDS = flags.DEFINE_integer('num_seeds', 20, 'Seeds (splits).')
KNN_MAX_TRAIN = flags.DEFINE_integer('knn_max_train', 5000, 'Largest training set knn5 is computed for.')


def knn_score(x_train: np.ndarray, x_test: np.ndarray, k: int = 5, chunk: int = 1024) -> np.ndarray:
  """Squared Euclidean distance from each test row to its k-th nearest training row."""
  out = []
  for lo in range(0, x_test.shape[0], chunk):
    d = ((x_test[lo:lo + chunk, None, :] - x_train[None]) ** 2).sum(-1)
    out.append(np.partition(d, k - 1, axis=1)[:, k - 1])
  return np.concatenate(out)


def pca_score(x_train: np.ndarray, x_test: np.ndarray, q: int = 10) -> np.ndarray:
  """Squared residual of each test row off the top-min(q, D-1) principal subspace of the training rows."""
  mean = x_train.mean(0)
  _, _, vt = np.linalg.svd(x_train - mean, full_matrices=False)
  v = vt[:min(q, x_train.shape[1] - 1)].T   # q < D: some residual is left
  centred = x_test - mean
  return ((centred - centred @ v @ v.T) ** 2).sum(1)


def split_f1s(name: str, seeds: list[int], knn_max_train: int) -> dict[str, list[float]]:
  """``{scorer: [F1 per seed]}`` on the paper-protocol splits of experiment ``name``."""
  config = grid.load_experiment(name)
  config.protocol = 'paper'
  data = load_dataset(config.dataset, config.get('kdd_symbolic', 'strings'))
  out = {'knn5': [], 'pca10': []}
  for seed in seeds:
    split = evalset.seed_split(config, data.y, seed)
    scaler = evalset.seed_scaler(config, data.x[split.train_idx])
    x_train = scaler.apply(data.x[split.train_idx]).astype(np.float64)
    x_test = scaler.apply(data.x[split.test_idx]).astype(np.float64)
    labels = data.y[split.test_idx]
    scores = {'pca10': pca_score(x_train, x_test)}
    if x_train.shape[0] <= knn_max_train:
      scores['knn5'] = knn_score(x_train, x_test)
    for scorer, s in scores.items():   # the same top-k threshold and metrics as a DAGMM seed
      out[scorer].append(evalset.seed_metrics(config, labels, s)[0]['f1'])
  return {scorer: f1 for scorer, f1 in out.items() if f1}


def main(argv) -> None:
  del argv
  seeds = list(range(FIRST_SEED.value, FIRST_SEED.value + NUM_SEEDS.value))
  results = {name: split_f1s(name, seeds, KNN_MAX_TRAIN.value) for name in EXPERIMENTS.value}
  out = pathlib.Path(OUT.value)
  files.write_json(out / 'split_noise.json', {'seeds': seeds, 'f1': results})
  text = markdown(seeds, results)
  files.write_text(out / 'split_noise.md', text)
  print(text)


def markdown(seeds: list[int], results: dict[str, dict[str, list[float]]]) -> str:
  """The table of ``split_noise.md`` from what ``split_noise.json`` holds."""
  lines = [f'# F1 across the paper-protocol splits of seeds {seeds[0]}-{seeds[-1]}: deterministic scorers', '',
           'Mean ± std (sample std, ddof=1) over the seeds.', '',
           '| experiment | scorer | F1 mean ± std | min | max |', '|---|---|---|---|---|']
  for name, per in results.items():
    for scorer, f1 in per.items():
      s = metrics.spread(f1)
      lines.append(f"| {name} | {scorer} | {s['mean']:.4f} ± {s['std']:.4f} | {min(f1):.4f} | {max(f1):.4f} |")
  return '\n'.join(lines) + '\n'


if __name__ == '__main__':
  flags.mark_flag_as_required('out')
  app.run(main)
