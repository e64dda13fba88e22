"""Image-inspection quality over seeds: trained vs untrained AUROC on synthetic parts.

For each seed it writes a synthetic data set (dagmm_jax/data/synthetic_images.py),
trains the convolutional DAGMM of experiments/images.py on the OK training parts,
and scores the test parts with the trained network and with the same network
untrained (0 epochs). It writes one JSON line per seed and a markdown table.

  python -m benchmarks.bench_images --out runs/bench_images --seeds 0,1,2,3 \
      --size 32 --n_train 60 --n_test 30 --config.num_epochs=200 --config.lambda_cov=0.0

Quality claims about the image pipeline (README, tests) come from this script's
output over several seeds, never from one run: one small run's AUROC moves with
float rounding from machine to machine (issue 18).
"""
import json
import os
import pathlib
import sys
import time

import numpy as np
from absl import flags
from ml_collections import config_flags

from dagmm_jax.cli import common
from dagmm_jax.core import metrics
from dagmm_jax.data import synthetic_images as synth
from dagmm_jax.inspector import Inspector

_CONFIG = config_flags.DEFINE_config_file('config', 'experiments/images.py', 'Image config.')
OUT = flags.DEFINE_string('out', None, 'Output folder (data, results.jsonl, results.md).')
SEEDS = flags.DEFINE_list('seeds', ['0', '1', '2', '3'], 'Data and training seeds.')
SIZE = flags.DEFINE_integer('size', 32, 'Image side in pixels (the pattern is set to match).')
N_TRAIN = flags.DEFINE_integer('n_train', 60, 'OK training parts per seed.')
N_TEST = flags.DEFINE_integer('n_test', 30, 'Test OK and test NG parts each.')
CONTRAST = flags.DEFINE_float('contrast', synth.CONTRAST, 'Scratch/spot brightness step.')
DEFECT_SCALE = flags.DEFINE_float('defect_scale', synth.DEFECT_SCALE, 'Defect size factor.')
FILTERS = flags.DEFINE_list('filters', ['8', '16'], 'Encoder filters of the single region.')


def auroc(inspector: Inspector, folders: dict) -> dict[str, float]:
  """Overall AUROC, one per defect kind (each kind's NG parts vs all OK parts), and the
  share of NG and of OK test parts flagged at the stored threshold."""
  ok, ng = inspector.score_folder(folders['test_ok']), inspector.score_folder(folders['test_ng'])
  out = {'auroc': metrics.auroc(np.r_[np.zeros(len(ok.names)), np.ones(len(ng.names))],
                                 np.r_[ok.energies, ng.energies])}
  for kind in synth.DEFECTS:
    sel = np.array([kind in n for n in ng.names])
    out[f'auroc_{kind}'] = metrics.auroc(np.r_[np.zeros(len(ok.names)), np.ones(sel.sum())],
                                          np.r_[ok.energies, ng.energies[sel]])
  out['ng_flagged'] = np.mean(ng.is_anomaly)    # at the stored threshold
  out['ok_flagged'] = np.mean(ok.is_anomaly)
  return {k: float(v) for k, v in out.items()}


def run_seed(config, seed: int, root: pathlib.Path) -> dict:
  folders = synth.write_dataset(root / f'data_{seed}', seed=seed, size=SIZE.value,
                                n_train=N_TRAIN.value, n_val=10, n_test_ok=N_TEST.value,
                                n_test_ng=N_TEST.value, contrast=CONTRAST.value,
                                defect_scale=DEFECT_SCALE.value)
  cfg = config.copy_and_resolve_references()
  cfg.seed = seed
  t0 = time.time()
  trained = Inspector.from_config(cfg).fit(folders['train'])
  seconds = time.time() - t0
  cfg0 = cfg.copy_and_resolve_references()
  cfg0.num_epochs = 0
  untrained = Inspector.from_config(cfg0).fit(folders['train'])
  first, last = trained.models['all'].history_[0], trained.models['all'].history_[-1]
  return {'seed': seed, 'trained': auroc(trained, folders), 'untrained': auroc(untrained, folders),
          'final_reconstruction': float(last['reconstruction']),
          'loss_ratio': float(last['loss'] / first['loss']),
          'reconstruction_ratio': float(last['reconstruction'] / first['reconstruction']),
          'train_seconds': seconds}


def table(rows: list[dict]) -> str:
  def col(which, key):
    v = np.array([r[which][key] for r in rows])
    return f'{v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0:.3f} (min {v.min():.3f})'
  keys = ['auroc'] + [f'auroc_{k}' for k in synth.DEFECTS] + ['ng_flagged', 'ok_flagged']
  lines = ['| metric | trained | untrained |', '|---|---|---|']
  lines += [f'| {k} | {col("trained", k)} | {col("untrained", k)} |' for k in keys]
  lines.append('')
  lines.append('| seed | trained AUROC | untrained AUROC | final reconstruction | '
               'last/first loss | last/first reconstruction | train s |')
  lines.append('|---|---|---|---|---|---|---|')
  lines += [f'| {r["seed"]} | {r["trained"]["auroc"]:.3f} | {r["untrained"]["auroc"]:.3f} | '
            f'{r["final_reconstruction"]:.3g} | {r["loss_ratio"]:.3f} | '
            f'{r["reconstruction_ratio"]:.3f} | {r["train_seconds"]:.0f} |' for r in rows]
  return '\n'.join(lines)


def main():
  common.setup()   # as the commands: the CPU lowering they train with
  config = _CONFIG.value
  side = SIZE.value
  config.patterns = {'bench': {'all': {'width': side, 'height': side, 'region': 'all',
                                       'filters': tuple(int(f) for f in FILTERS.value)}}}
  config.pattern = 'bench'
  config.val_every = 0
  out = pathlib.Path(OUT.value)
  out.mkdir(parents=True, exist_ok=True)
  (out / 'results.jsonl').write_text('')
  rows = []
  for seed in (int(s) for s in SEEDS.value):
    row = run_seed(config, seed, out)
    rows.append(row)
    print(f'seed {seed}: trained {row["trained"]["auroc"]:.3f}  '
          f'untrained {row["untrained"]["auroc"]:.3f}  ({row["train_seconds"]:.0f} s)', flush=True)
    with open(out / 'results.jsonl', 'a') as f:
      f.write(json.dumps(row) + '\n')
  settings = {'size': side, 'n_train': N_TRAIN.value, 'n_test': N_TEST.value,
              'contrast': CONTRAST.value, 'defect_scale': DEFECT_SCALE.value,
              'filters': FILTERS.value, 'num_epochs': config.num_epochs,
              'lambda_cov': config.lambda_cov, 'learning_rate': config.learning_rate,
              'batch_size': config.batch_size, 'XLA_FLAGS': os.environ.get('XLA_FLAGS', ''),
              'cpus': len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()}
  md = (f'# Image inspection over seeds\n\n`python {" ".join(sys.argv)}`\n\nSettings: '
        f'{json.dumps(settings)}\n\n{table(rows)}\n')
  (out / 'results.md').write_text(md)
  print(md)


if __name__ == '__main__':
  common.run(main, required=['out'])
