"""How many mixture components do trained DAGMMs use?

  python scripts/collapse.py --out results/collapse runs/table2/kdd-paper runs/table2/kdd-paper-r5 ...

For each finished cell (a ``dagmm-reproduce`` / ``dagmm-table2`` workdir) it reports:

* from ``metrics.jsonl``: the median over the cell's networks of the largest
  mixture weight ``phi`` of the last training batch, at the first and the last
  logged epoch;
* from the final checkpoints: every network's test-time GMM (fitted over all its
  training rows, as the evaluation does; ``evalset.make_fit_fn``) and its
  effective number of components ``1 / sum_k phi_k^2`` (1 = one component, K =
  K equal ones): mean, min and max over the networks.

Networks are the seeds of a plain cell, or all R members of each seed of a cell
whose restarts trained to the end. No test row and no label is read. Writes
OUT/collapse.json and OUT/collapse.md.
"""
import json
import pathlib

import ml_collections
import numpy as np
from absl import app, flags

from dagmm_jax import experiment, files, rundir
from dagmm_jax.scoring import evalset
from dagmm_jax.training import distributed


def effective_components(phi: np.ndarray) -> np.ndarray:
  """``1 / sum_k phi_k^2`` over the last axis of mixture weights ``phi [..., K]``."""
  phi = np.asarray(phi, np.float64)
  return 1.0 / np.sum(phi ** 2, axis=-1)


def batch_weights(workdir: pathlib.Path) -> dict[str, float | int]:
  """Median over the networks of the largest batch weight at the first and last epoch
  logged in ``metrics.jsonl`` (for a cell with restarts: the members' phase)."""
  rows = files.read_jsonl(workdir / 'metrics.jsonl')
  if not rows:
    raise ValueError(f'{workdir}: metrics.jsonl is missing or empty')
  members = [r for r in rows if r.get('phase') == 'restarts'] or rows
  # An epoch run again after a resume is logged twice: keep its last line.
  members = list({(r.get('chunk', 0), r['epoch']): r for r in members}.values())
  first, last = min(r['epoch'] for r in members), max(r['epoch'] for r in members)
  median = lambda e: float(np.median([max(p) for r in members if r['epoch'] == e for p in r['phi']]))
  return {'first_epoch': first, 'first_max_phi': median(first), 'last_epoch': last,
          'last_max_phi': median(last)}


def test_time_weights(workdir: pathlib.Path) -> np.ndarray:
  """``[networks, K]`` mixture weights of every final network's test-time GMM."""
  results = json.loads((workdir / 'results.json').read_text())
  config = ml_collections.ConfigDict(results['config'])
  fit_fn, out = evalset.make_fit_fn(config), []
  with experiment.precision(config):
    for _, _, restore in rundir.restorable_chunks(workdir, config):
      members, state = restore()
      out.append(np.asarray(distributed.gather(fit_fn(state.params, members.train).phi)))
  return np.concatenate(out)


def cell_report(workdir: pathlib.Path) -> dict:
  """Both measurements of one cell."""
  eff = effective_components(test_time_weights(workdir))
  return {'cell': workdir.name, 'networks': int(eff.size), **batch_weights(workdir),
          'effective_components': {'mean': float(eff.mean()), 'min': float(eff.min()),
                                   'max': float(eff.max())}}


def main(argv) -> None:
  cells = [cell_report(pathlib.Path(a)) for a in argv[1:]]
  if not cells:
    raise app.UsageError('give one or more cell workdirs')
  out = pathlib.Path(flags.FLAGS.out)
  files.write_json(out / 'collapse.json', {'cells': cells})
  lines = ['# Mixture weights of trained DAGMMs', '',
           'Largest weight of the last training batch (median over the networks) and the test-time '
           "GMM's effective number of components 1 / Σ φ² (mean, min-max over the networks).", '',
           '| cell | networks | largest batch weight, first epoch | last epoch | effective components |',
           '|---|---|---|---|---|']
  for c in cells:
    e = c['effective_components']
    lines.append(f"| {c['cell']} | {c['networks']} | {c['first_max_phi']:.3f} (epoch {c['first_epoch']}) "
                 f"| {c['last_max_phi']:.3f} (epoch {c['last_epoch']}) "
                 f"| {e['mean']:.3f} ({e['min']:.3f}-{e['max']:.3f}) |")
  (out / 'collapse.md').write_text('\n'.join(lines) + '\n')
  print('\n'.join(lines))


if __name__ == '__main__':   # flags defined here: the tests import this file beside split_noise.py
  flags.DEFINE_string('out', None, 'Output folder for collapse.json and collapse.md.')
  flags.mark_flag_as_required('out')
  app.run(main)
