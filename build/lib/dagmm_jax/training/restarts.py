"""Label-free restarts and ensembles: R members per reported seed, as scikit-learn's
``GaussianMixture(n_init=R)`` restarts EM.

Every seed trains ``R`` members in the same vmapped program (member ``s * R + r``
is restart ``r`` of seed ``s``; keys from ``train.seed_keys``): the same split and scaling, different network
initialisations, shuffles and dropout. Restart 0 uses the seed's own keys, so it
is exactly the plain run of that seed. After ``select_epoch`` epochs the member
with the lowest mean energy on its seed's training rows (exact GMM fit over the
training rows, as at test time) is kept and trained alone to the end. Nothing
here reads a test row or a label.

When ``select_epoch`` equals the number of epochs every member trains to the
end, and the R members' test energies, rank-averaged, give a second scorer of
the same run (the ensemble).
"""
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dagmm_jax.core import metrics
from dagmm_jax.training import train


def repeat_members(tree: Any, restarts: int) -> Any:
  """Every leaf's leading seed axis ``[S, ...]`` repeated to ``[S * R, ...]`` (seed-major)."""
  return jax.tree_util.tree_map(lambda a: jnp.repeat(a, restarts, axis=0), tree)


def member_data(data: train.TrainData, restarts: int) -> train.TrainData:
  """The seeds' training data for their members (the feature matrix is shared)."""
  return data._replace(**{f: repeat_members(getattr(data, f), restarts)
                          for f in ('train_idx', 'n_train', 'shift', 'scale')})


def pick(train_energy: np.ndarray, failed: np.ndarray, restarts: int) -> np.ndarray:
  """``[S]`` restart index per seed: the lowest mean training energy among the
  members that did not fail and whose energy is finite; restart 0 when none qualify."""
  e = np.where(np.isfinite(train_energy) & ~failed, train_energy, np.inf).reshape(-1, restarts)
  return np.where(np.isfinite(e).any(axis=1), np.argmin(e, axis=1), 0)


def select(state: train.TrainState, choice: np.ndarray, restarts: int) -> train.TrainState:
  """The chosen member of each seed: ``[S * R, ...]`` leaves -> ``[S, ...]``."""
  idx = jnp.asarray(np.arange(len(choice)) * restarts + choice)
  return train.map_seed_fields(lambda t: jax.tree_util.tree_map(lambda a: a[idx], t), state)


def rank_average(energies: np.ndarray) -> np.ndarray:
  """``[R, n]`` member energies -> ``[n]`` ensemble score: each member's energies
  turned into ranks (ties averaged) and the ranks averaged over members. A member
  with a non-finite energy is left out of the ensemble."""
  finite = np.all(np.isfinite(energies), axis=1)
  if not finite.any():
    return np.full(energies.shape[1], np.nan)
  ranks = [_ranks(e) for e in energies[finite]]
  return np.mean(ranks, axis=0)


def _ranks(v: np.ndarray) -> np.ndarray:
  order = np.argsort(v, kind='stable')
  ranks = np.empty(len(v))
  ranks[order] = np.arange(len(v), dtype=float)
  _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
  sums = np.bincount(inverse, weights=ranks)
  return sums[inverse] / counts[inverse]


def scorer_decision(results: dict[str, dict], missing: int = 0) -> list[str]:
  """The rule of ``experiments/restarts.py`` applied to finished cells that trained
  every member to the end: markdown lines, per cell the mean F1 (failed seeds as 0)
  of best-of-R and of the ensemble with their paired difference, then the verdict
  (none while ``missing`` cells of the grid have not finished)."""
  cells = {k: r for k, r in results.items() if 'ensemble' in r['summary']}
  if not cells:
    return []
  lines = ['', '## Best-of-R or ensemble (the rule in `experiments/restarts.py`)', '']
  means = {'best-of-R': [], 'ensemble': []}
  for name, res in cells.items():
    runs = sorted(res['runs'], key=lambda r: r['seed'])
    best = metrics.f1_failed_as_zero(runs)
    ens = metrics.f1_failed_as_zero([r['ensemble'] for r in runs])
    diff, se = metrics.paired(ens, best)
    means['best-of-R'].append(best.mean())
    means['ensemble'].append(ens.mean())
    lines.append(f'- {name}: best-of-R {best.mean():.4f}, ensemble {ens.mean():.4f} '
                 f'(ensemble - best {diff:+.4f} ± {se:.4f} se, {len(runs)} seeds)')
  b, e = float(np.mean(means['best-of-R'])), float(np.mean(means['ensemble']))
  verdict = ('ensemble' if e > b else 'best-of-R') if not missing else \
      f'not decided: {missing} cell(s) not finished'
  lines.append(f'- mean over {len(cells)} cells: best-of-R {b:.4f}, ensemble {e:.4f}: '
               f'**{verdict}**')
  return lines


SCORERS = {'best-of-R': lambda run: run, 'ensemble': lambda run: run['ensemble'],
           'EM-refit best-of-R': lambda run: run['em']}


def per_cell_choice(exploration: list[dict[str, dict]]) -> dict[str, tuple[str, dict[str, float]]]:
  """The rule of ``experiments/confirm.py``: per cell, the scorer (``SCORERS``; ties
  go to the earlier one) with the highest mean F1, failed seeds as 0, over the
  seeds of every exploration result set pooled. ``exploration``: one
  ``{cell: results}`` per set; a cell counts only where every set has all three
  scorers. Returns ``{cell: (scorer, {scorer: pooled mean})}``."""
  names = set.intersection(*(set(e) for e in exploration)) if exploration else set()
  out = {}
  for name in sorted(names):
    runs = [r for e in exploration for r in e[name]['runs']]
    if not all('ensemble' in r and 'em' in r for r in runs):
      continue
    means = {s: float(metrics.f1_failed_as_zero([get(r) for r in runs]).mean()) for s, get in SCORERS.items()}
    out[name] = (max(means, key=lambda s: (means[s], -list(SCORERS).index(s))), means)
  return out


def per_cell_lines(results: dict[str, dict], choice: dict[str, tuple[str, dict[str, float]]],
                   paper_f1: dict[str, float]) -> list[str]:
  """Markdown: per finished cell, the scorer ``per_cell_choice`` picked on the
  exploration seeds and its F1 here (mean ± std, standard error, failed seeds as
  0) beside the paper's."""
  rows = []
  for name, res in results.items():
    if name not in choice or not all('em' in r for r in res['runs']):
      continue
    scorer, means = choice[name]
    f1 = metrics.spread(metrics.f1_failed_as_zero([SCORERS[scorer](r) for r in res['runs']]))
    explored = ', '.join(f'{s} {m:.4f}' for s, m in means.items())
    paper = paper_f1.get(res['dataset'])
    rows.append(f"| {name} | {explored} | **{scorer}** | {f1['mean']:.4f} ± {f1['std']:.4f} "
                f"({f1['se']:.4f}) | " + (f'{paper:.4f}' if paper else 'n/a') + ' |')
  if not rows:
    return []
  return ['', '## Per-cell scorer (the rule in `experiments/confirm.py`)', '',
          '| cell | exploration mean F1 (pooled) | chosen | F1 here (se) | paper |', '|---|---|---|---|---|',
          *rows]
