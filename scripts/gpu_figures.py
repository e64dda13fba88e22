"""Issue 17's GPU figures in one process: the KDDCUP reproduction end to end, the
throughput benchmark, and per-seed agreement with the committed CPU run.

  python scripts/gpu_figures.py --out OUT [--seeds 20] [--epochs 200] [--first_seed 100]

Runs, on whatever JAX's default backend is:
1. ``experiment.train_and_evaluate`` on experiments/kdd.py (paper protocol) for
   seeds first_seed.. with ``epochs`` epochs, timed end to end (data loading,
   compiling, training, scoring);
2. ``lib.run`` (benchmarks/bench.py's figures: samples/s for 1 and ``seeds``
   seeds, model FLOP/s against this device's dense matmul FLOP/s);
3. per-seed F1 against ``--reference`` (default: the committed CPU run of
   seeds 100-119, results/table2/kdd-paper/results.json), when its epochs
   and seeds match.

Writes OUT/gpu.json and OUT/gpu.md (commit them as results/bench/gpu.*). On the
device machine scripts/gpu_figures.sh wraps this with the wheels and data it
needs; a tiny CPU check: python scripts/gpu_figures.py --out /tmp/g --seeds 2 --epochs 2
"""
import json
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np
from absl import app, flags

from benchmarks import lib
from dagmm_jax import cli, experiment, grid

OUT = flags.DEFINE_string('out', None, 'Output folder for gpu.json and gpu.md.')
SEEDS = flags.DEFINE_integer('seeds', 20, 'Seeds trained together.')
EPOCHS = flags.DEFINE_integer('epochs', 200, 'Epochs (the paper: 200).')
FIRST_SEED = flags.DEFINE_integer('first_seed', 100, 'First seed (the CPU reference used 100-119).')
REFERENCE = flags.DEFINE_string('reference', 'results/table2/kdd-paper/results.json',
                                'A CPU results.json of the same config to compare per-seed F1 with.')


def device_name() -> str:
  """The accelerator as nvidia-smi names it, else JAX's device kind."""
  if shutil.which('nvidia-smi'):
    out = subprocess.run(['nvidia-smi', '-L'], capture_output=True, text=True).stdout.strip()
    if out:
      return out
  return f'{jax.devices()[0].platform}: {jax.devices()[0].device_kind}'


def compare(results: dict, reference_path: str) -> dict | None:
  """Per-seed F1 differences to a reference run with the same epochs (None when not comparable)."""
  path = pathlib.Path(reference_path)
  if not path.exists():
    return None
  ref = json.loads(path.read_text())
  if ref['config']['num_epochs'] != results['config']['num_epochs']:
    return None
  ref_f1 = {r['seed']: (None if r['failed'] else r['f1']) for r in ref['runs']}
  pairs = [(r['seed'], None if r['failed'] else r['f1'], ref_f1[r['seed']])
           for r in results['runs'] if r['seed'] in ref_f1]
  both = [(s, a, b) for s, a, b in pairs if a is not None and b is not None]
  d = np.asarray([a - b for _, a, b in both])
  return {'reference': str(path), 'seeds': [s for s, _, _ in pairs],
          'f1_here': [a for _, a, _ in pairs], 'f1_reference': [b for _, _, b in pairs],
          'failed_here': [s for s, a, _ in pairs if a is None],
          'failed_reference': [s for s, _, b in pairs if b is None],
          'mean_abs_diff': float(np.abs(d).mean()) if d.size else None,
          'max_abs_diff': float(np.abs(d).max()) if d.size else None,
          'mean_diff': float(d.mean()) if d.size else None,
          'identical_seeds': int(np.sum(np.abs(d) < 1e-9))}


def markdown(r: dict) -> str:
  s = r['reproduction']['summary']['trained']
  u = r['reproduction']['summary']['untrained']
  lines = [f"# GPU figures: {r['device']}", '',
           f"`python {' '.join(r['argv'])}` (jax {r['jax']}, Python {r['python']})", '',
           f"## KDDCUP reproduction, {r['seeds']} seeds x {r['epochs']} epochs, paper protocol", '',
           f"- end to end (data loading, compiling, training, scoring): **{r['wall_s']:.1f} s**",
           f"- F1 trained {s['f1']['mean']:.4f} ± {s['f1']['std']:.4f} over {s['n']} seeds, "
           f"{s['n_failed']} failed (F1 {s['f1_failed_as_zero']:.4f} with them as 0); "
           f"untrained {u['f1']['mean']:.4f}", '']
  c = r['comparison']
  if c:
    lines += [f"## Against the CPU run (`{c['reference']}`)", '',
              f"- per-seed F1 difference: mean {c['mean_diff']:+.4f}, mean |d| {c['mean_abs_diff']:.4f}, "
              f"max |d| {c['max_abs_diff']:.4f}; identical on {c['identical_seeds']} of {len(c['seeds'])} seeds",
              f"- failed here: {c['failed_here'] or 'none'}; failed on CPU: {c['failed_reference'] or 'none'}", '',
              '| seed | F1 here | F1 CPU |', '|---|---|---|']
    lines += [f'| {s_} | {a if a is None else round(a, 4)} | {b if b is None else round(b, 4)} |'
              for s_, a, b in zip(c['seeds'], c['f1_here'], c['f1_reference'])]
    lines.append('')
  lines += ['## Throughput (benchmarks/bench.py)', '', lib.markdown(r['bench'])]
  return '\n'.join(lines) + '\n'


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  cli.setup_logging()
  config = grid.load_experiment('kdd')
  config.num_seeds, config.seed = SEEDS.value, FIRST_SEED.value
  grid.shorten(config, EPOCHS.value)
  with tempfile.TemporaryDirectory() as workdir:
    start = time.perf_counter()
    results = experiment.train_and_evaluate(config, workdir)
    wall = time.perf_counter() - start
  bench = lib.run(grid.load_experiment('kdd'), SEEDS.value, epochs=2, repeats=3)
  r = {'device': device_name(), 'jax': jax.__version__, 'python': platform.python_version(),
       'argv': sys.argv, 'seeds': SEEDS.value, 'epochs': EPOCHS.value, 'wall_s': wall,
       'reproduction': {k: results[k] for k in ('summary', 'runs', 'config', 'seeds')},
       'comparison': compare(results, REFERENCE.value), 'bench': bench}
  out = pathlib.Path(OUT.value)
  lib.write_report(out, 'gpu', r, markdown(r))


if __name__ == '__main__':
  flags.mark_flags_as_required(['out'])
  app.run(main)
