"""The offline image benchmark: one-class MNIST and synthetic surfaces.

``run(config, workdir, processes)`` runs every (task, split seed) cell of
``experiments/image_benchmark.py`` in ``workdir/cells/<cell>.json`` (a finished
cell is reused: rerunning the command resumes) and writes ``benchmark.json`` and
``benchmark.md``. A cell writes its images as folders, trains an ``Inspector``
with ``config.members`` members on the training folder, then scores the test
folders with member 0 alone, the ensemble and the yardsticks fitted on the same
training images; the folders are deleted once the cell is written. With
``processes`` > 1, as many worker processes, each pinned to its own cores, share
the cells.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import time
from typing import Any, NamedTuple

import ml_collections
import numpy as np
from absl import logging

from dagmm_jax import files
from dagmm_jax.core import metrics, yardsticks
from dagmm_jax.data import mnist, synthetic_images
from dagmm_jax.inspector import Inspector, standardised_mean
from dagmm_jax.reports.inspection import flat_pixels
from dagmm_jax.scoring import registry
from dagmm_jax.training import pinning


class Cell(NamedTuple):
  task: str        # 'mnist' or 'surface'
  digit: int | None
  split_seed: int

  @property
  def name(self) -> str:
    return f'{self.task}{"" if self.digit is None else f"-{self.digit}"}-s{self.split_seed}'

  @property
  def row(self) -> str:
    """The table row the cell belongs to."""
    return f'MNIST digit {self.digit}' if self.task == 'mnist' else 'surfaces'


def cells(config: ml_collections.ConfigDict) -> list[Cell]:
  """Every (task, split seed) cell of the config, in table order."""
  unknown = sorted(set(config.tasks) - {'mnist', 'surface'})
  if unknown:
    raise ValueError(f"config.tasks: unknown {unknown}; known: 'mnist', 'surface'")
  out = []
  for task in config.tasks:
    for digit in (config.digits if task == 'mnist' else (None,)):
      out += [Cell(task, None if digit is None else int(digit), int(s)) for s in config.split_seeds]
  return out


def write_images(cell: Cell, config: ml_collections.ConfigDict, root: pathlib.Path,
                 mnist_data: tuple[np.ndarray, np.ndarray] | None) -> dict[str, pathlib.Path]:
  """The cell's ``train``, ``test_ok`` and ``test_ng`` folders under ``root`` (new)."""
  shutil.rmtree(root, ignore_errors=True)   # a cell interrupted while writing starts over
  if cell.task == 'mnist':
    return mnist.write_one_class(root, cell.digit, cell.split_seed, mnist_data)
  n = config.surface_images
  return synthetic_images.write_surface_dataset(root, cell.split_seed, n.n_train, n.n_test_ok, n.n_test_ng)


def inspector_config(cell: Cell, config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The task's inspector config with ``config.members`` members (seeds 0, 1, ...)."""
  c = ml_collections.ConfigDict(config[cell.task].to_dict())
  c.seed, c.num_seeds = 0, int(config.members)
  return c


def ensembles(member_energies: list[np.ndarray], standardise: list[tuple[float, float]],
              size: int) -> dict[str, np.ndarray]:
  """``{'ensemble': members 0..size-1, 'ensemble_1': the next size, ...}``: disjoint
  ensembles of ``size`` members (seeds), each the mean of its members' energies
  standardised by their training images (``inspector.standardised_mean``)."""
  part = lambda a, g: a[g * size:(g + 1) * size]
  return {'ensemble' if g == 0 else f'ensemble_{g}': standardised_mean(part(member_energies, g), part(standardise, g))
          for g in range(len(member_energies) // size)}


def run_cell(cell: Cell, config: ml_collections.ConfigDict, workdir: pathlib.Path,
             mnist_data: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, Any]:
  """Trains and scores one cell; returns its record (AUROC and AUPRC per scorer)."""
  started = time.perf_counter()
  root = workdir / 'images' / cell.name
  ids = {'cell': cell.name, 'task': cell.task, 'digit': cell.digit, 'split_seed': cell.split_seed}
  try:
    folders = write_images(cell, config, root, mnist_data)
    try:
      inspector = Inspector.from_config(inspector_config(cell, config)).fit(folders['train'])
    except FloatingPointError as e:   # counted as a failed cell, never dropped
      return {**ids, 'failed': str(e), 'seconds': time.perf_counter() - started}
    trained = time.perf_counter()
    ok, ng = inspector.load_images(folders['test_ok']), inspector.load_images(folders['test_ng'])
    arrays = {k: np.concatenate([ok.arrays[k], ng.arrays[k]]) for k in ok.arrays}
    labels = np.r_[np.zeros(len(ok.names)), np.ones(len(ng.names))].astype(bool)
    scored = inspector.score_arrays(arrays, ok.names + ng.names)
    scores = {f'member_{i}': e for i, e in enumerate(scored.member_energies)}
    scores['ensemble'] = scored.energies
    size = int(config.get('ensemble_size', 0))
    if size and size < len(scored.member_energies):   # disjoint ensembles: their spread over seeds
      scores.update(ensembles(scored.member_energies, inspector.standardise, size))
    x_train = flat_pixels(inspector.load_images(folders['train']).arrays)
    scores.update(yardsticks.scores(x_train, flat_pixels(arrays)))
    return {**ids, 'n_train': int(x_train.shape[0]), 'n_ok': int((~labels).sum()), 'n_ng': int(labels.sum()),
            'scores': {k: {'auroc': metrics.auroc(labels, v), 'auprc': metrics.auprc(labels, v)}
                       for k, v in scores.items()},
            'health': [{name: m.health_ for name, m in member.items()} for member in inspector.members],
            'train_seconds': trained - started, 'seconds': time.perf_counter() - started}
  finally:   # the images are written again if the cell is run again
    shutil.rmtree(root, ignore_errors=True)


def _claim(path: pathlib.Path) -> bool:
  """Takes a cell for this process (creates ``path`` exclusively); False if another has it."""
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'x') as f:
      f.write(str(os.getpid()))
    return True
  except FileExistsError:
    return False


def run_cells(config: ml_collections.ConfigDict, workdir: pathlib.Path) -> None:
  """Runs every cell not finished and not claimed by another process, the surface
  cells (the longest) first, writing ``cells/<cell>.json``. Several processes may
  share the work: each claims a cell before running it (``cells/<cell>.claim``)."""
  todo = sorted(cells(config), key=lambda c: c.task != 'surface')
  mnist_data = None
  for i, cell in enumerate(todo):
    path = workdir / 'cells' / f'{cell.name}.json'
    if path.is_file() or not _claim(path.with_suffix('.claim')):
      continue
    if cell.task == 'mnist' and mnist_data is None:
      mnist_data = mnist.load_mnist_test()
    record = run_cell(cell, config, workdir, mnist_data)
    files.write_json(path, record)
    path.with_suffix('.claim').unlink()
    if 'failed' in record:
      logging.warning('cell %d/%d %s FAILED: %s', i + 1, len(todo), cell.name, record['failed'])
      continue
    s = record['scores']
    logging.info('cell %d/%d %s: member 0 AUROC %.4f, ensemble %.4f, pca50 %.4f, knn5 %.4f (%.0f s)',
                 i + 1, len(todo), cell.name, s['member_0']['auroc'], s['ensemble']['auroc'],
                 s['pca50']['auroc'], s['knn5']['auroc'], record['seconds'])


@files.holds_workdir_lock
def run(config: ml_collections.ConfigDict, workdir: str | pathlib.Path,
        processes: int = 1) -> list[dict[str, Any]]:
  """Runs (or reuses) every cell, in ``processes`` processes each pinned to its
  own cores, then writes ``benchmark.json`` and ``benchmark.md``."""
  workdir = pathlib.Path(workdir)
  files.claim_workdir(workdir, config.to_dict())
  for stale in (workdir / 'cells').glob('*.claim'):   # an interrupted run's: this one holds the lock
    stale.unlink()
  if processes == 1:
    run_cells(config, workdir)
  else:
    workers = [pinning.spawn('dagmm_jax.cli.image_benchmark:worker_main', [str(workdir)], cores)
               for cores in pinning.core_groups(processes)]
    codes = [w.wait() for w in workers]
    if any(codes):
      raise RuntimeError(f'image benchmark workers exited with {codes}; rerun the command to resume')
  records = [json.loads((workdir / 'cells' / f'{c.name}.json').read_text()) for c in cells(config)]
  files.write_json(workdir / 'benchmark.json', {'config': config.to_dict(), 'cells': records})
  files.write_text(workdir / 'benchmark.md', table(records, config))
  return records


def report(workdir: str | pathlib.Path) -> str:
  """Rewrites ``benchmark.md`` from ``benchmark.json`` (no training); returns it."""
  workdir = pathlib.Path(workdir)
  saved = json.loads((workdir / 'benchmark.json').read_text())
  md = table(saved['cells'], ml_collections.ConfigDict(saved['config']))
  files.write_text(workdir / 'benchmark.md', md)
  return md


def _ensemble_keys(record: dict[str, Any]) -> list[str]:
  """A cell's ensemble scorers: ``ensemble`` and, with disjoint ensembles, ``ensemble_<g>``."""
  return [k for k in record['scores'] if k == 'ensemble' or k.startswith('ensemble_')]


def collapsed_members(record: dict[str, Any]) -> int:
  """Members of a cell with a collapsed code in any region (0 for a failed cell)."""
  if 'failed' in record:
    return 0
  return sum(any(h and h['collapsed_dims'] for h in member.values()) for member in record['health'])


def summary(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
  """Per table row: mean and std over split seeds of each scorer's AUROC (DAGMM:
  member 0 alone, the members' mean, the ensemble), collapsed members, seconds."""
  rows: dict[str, dict[str, Any]] = {}
  groups: dict[str, list[dict]] = {}
  for r in records:
    groups.setdefault(Cell(r['task'], r['digit'], r['split_seed']).row, []).append(r)
  for row, every in groups.items():
    rs = [r for r in every if 'failed' not in r]
    failed = [r['cell'] for r in every if 'failed' in r]
    if not rs:
      rows[row] = {'splits': 0, 'failed': failed, 'seconds': float(sum(r['seconds'] for r in every))}
      continue
    members = [k for k in rs[0]['scores'] if k.startswith('member_')]
    scorers = {name: np.array([auroc(r) for r in rs]) for name, auroc in registry.IMAGE_SCORERS.items()}
    groups_of = [_ensemble_keys(r) for r in rs]
    if all(len(g) > 1 for g in groups_of):   # disjoint ensembles per split: std over seeds, per split
      spread = [metrics.spread([r['scores'][k]['auroc'] for k in g])['std'] for r, g in zip(rs, groups_of)]
      extra = {'seed_spread': (float(np.mean(spread)), float(np.max(spread)), len(groups_of[0]))}
    else:
      extra = {}
    rows[row] = {**extra, 'splits': len(rs), 'failed': failed, 'members': len(members),
                 'auroc': {k: (metrics.spread(v)['mean'], metrics.spread(v)['std'])
                           for k, v in scorers.items()},
                 'collapsed': sum(collapsed_members(r) for r in rs),
                 'seconds': float(sum(r['seconds'] for r in every))}
  return rows


def digit_mean_spread(records: list[dict[str, Any]]) -> tuple[float, float]:
  """The spread over training seeds of the MNIST mean over digits: per split seed,
  the std (ddof=1) over disjoint ensembles of their AUROC averaged over the digits;
  its mean and max over split seeds (splits where every digit trained)."""
  by_split: dict[int, list[dict]] = {}
  for r in records:
    if r['task'] == 'mnist':
      by_split.setdefault(r['split_seed'], []).append(r)
  spreads = []
  for rs in by_split.values():
    if any('failed' in r for r in rs):
      continue
    keys = _ensemble_keys(rs[0])
    spreads.append(metrics.spread([np.mean([r['scores'][k]['auroc'] for r in rs]) for k in keys])['std'])
  return float(np.mean(spreads)), float(np.max(spreads))


def table(records: list[dict[str, Any]], config: ml_collections.ConfigDict) -> str:
  """``benchmark.md``: one row per task (MNIST: per digit and their mean)."""
  rows = summary(records)
  names = list(registry.IMAGE_SCORERS)
  fmt = lambda m, s: f'{m:.4f} ± {s:.4f}' if np.isfinite(s) else f'{m:.4f}'
  head = ('| row | ' + ' | '.join(names) + ' | collapsed members | failed cells | minutes |\n|'
          + '---|' * (len(names) + 4))
  seeds = any('seed_spread' in r for r in rows.values())   # only when the run made disjoint ensembles
  if seeds:
    head = head.replace(' | collapsed', " | ensembles' std over seeds (mean, max over splits) | collapsed", 1) + '---|'
  spread = lambda r: (' | {:.4f}, {:.4f}'.format(*r['seed_spread'][:2]) if 'seed_spread' in r else ' | n/a') if seeds else ''
  lines = [f'| {row} | ' + ' | '.join(fmt(*r['auroc'][n]) if r['splits'] else 'failed' for n in names)
           + spread(r) + f" | {r['collapsed'] if r['splits'] else 0} of {r['splits'] * r.get('members', 0)} | "
           + f"{len(r['failed'])} | {r['seconds'] / 60:.1f} |"
           for row, r in rows.items()]
  digits = [r for row, r in rows.items() if row.startswith('MNIST') and r['splits']]
  if len(digits) > 1:
    mean = lambda n: np.mean([r['auroc'][n][0] for r in digits])
    lines.append(f'| **MNIST, mean of {len(digits)} digits** | '
                 + ' | '.join(f'**{mean(n):.4f}**' for n in names)
                 + (' | {:.4f}, {:.4f}'.format(*digit_mean_spread(records)) if seeds else '') + ' | | | |')
  total = sum(r['seconds'] for r in records) / 60
  failures = ''.join(f"\n- `{r['cell']}` failed: {r['failed']}" for r in records if 'failed' in r)
  if failures:
    failures = ("\n\nFailed cells (their split seed is left out of the row's mean and std, and "
                'counted here):' + failures)
  size = int(config.get('ensemble_size', 0))
  ensembles_note = (f'\nWith {config.members} members in disjoint ensembles of {size} (seeds 0-{size - 1}, '
                    f"{size}-{2 * size - 1}, ...): ensemble is the first; the std of the ensembles' AUROC "
                    'within a split is their spread over training seeds.' if seeds else '')
  return f"""# Image benchmark

AUROC, mean ± std over split seeds {list(config.split_seeds)} (sample std);
{config.members} members per split (seeds 0-{config.members - 1}), trained together.
DAGMM (one model): member 0 alone; members (mean): each member alone, averaged;
ensemble: the members' training-standardised energies averaged (the score
`dagmm-score` gives). Yardsticks fitted on the same training images, on the same
loaded pixels: PCA residual with 10 and 50 components, distance to the 5th-nearest
training image. Collapsed members: a code dimension with spread < 1e-3 over the
training images (core/health.py).{ensembles_note} Total {total:.1f} min.

{head}
{chr(10).join(lines)}{failures}
"""
