"""The singularity study: a grid of regularizer x dataset x dtype cells, its table and plots.

Each cell is an ordinary run (``grid.run_grid``); this module reads the cells'
``results.json`` and ``metrics.jsonl`` (per-epoch diagnostics: smallest
covariance eigenvalue, condition number, mixture weights, non-finite energies,
Cholesky failures) and writes ``study.md`` and PNG plots.
"""
import json
import pathlib
import re
from typing import Any

import ml_collections
import numpy as np

from dagmm_jax import files, grid
from dagmm_jax.core import metrics, regularizers
from dagmm_jax.reports import plots, tables



def cell_name(experiment: str, spec: str, dtype: str) -> str:
  """``'thyroid-jitter_eps_1e-06-float32'``: a folder name for one cell."""
  name, params = regularizers.parse_spec(spec)
  tag = '_'.join([name, *(f'{k}_{v:g}' for k, v in sorted(params.items()))])
  return f'{experiment}-{re.sub(r"[^A-Za-z0-9_.+-]", "_", tag)}-{dtype}'


def cells(study: ml_collections.ConfigDict, quick: bool = False
          ) -> dict[str, ml_collections.ConfigDict]:
  """Every cell's run config, float32 cells first."""
  out = {}
  for dtype in study.dtypes:
    for experiment in study.experiments:
      for spec in regularizers_of(study, dtype):
        config = grid.load_experiment(experiment)
        config.gmm.regularizer, config.dtype, config.num_seeds = spec, dtype, study.num_seeds
        out[cell_name(experiment, spec, dtype)] = grid.quick_config(config) if quick else config
  return out


def regularizers_of(study: ml_collections.ConfigDict, dtype: str) -> tuple[str, ...]:
  """The regularizers run in ``dtype``: all, or ``study.float64_regularizers`` in float64."""
  if dtype == 'float64' and study.get('float64_regularizers') is not None:
    return tuple(study.float64_regularizers)
  return tuple(study.regularizers)


DIGEST = 'diagnostics.json'   # what the table and plots read of metrics.jsonl, small enough to commit
DIGEST_FORMAT = 1


def read_diagnostics(cell_dir: pathlib.Path) -> dict[str, np.ndarray]:
  """Per-record arrays from ``metrics.jsonl``: ``epoch [T]``, ``min_eig [T, S, K]``,
  ``phi [T, S, K]``, ``min_phi [T, S, K]`` (``phi`` for runs that did not log it),
  ``steps [T, S]``, ``cholesky_failures [T, S]``, ``n_nonfinite [T, S]``. Seed
  chunks (which log separately) are joined along the seed axis, at the epochs
  every chunk logged."""
  recs = {(r.get('chunk', 0), r['epoch']): r
          for r in files.read_jsonl(cell_dir / 'metrics.jsonl', key=('chunk', 'epoch'))}
  chunks = sorted({c for c, _ in recs})
  epochs = sorted(e for e in {e for _, e in recs} if all((c, e) in recs for c in chunks))
  get = lambda k: np.asarray([np.concatenate([np.asarray(recs[c, e][k], float) for c in chunks])
                              for e in epochs], float)
  has = all('min_phi' in r for r in recs.values())   # older runs logged the mean weights only
  return {'epoch': np.asarray(epochs, float), 'min_eig': get('min_eig'), 'phi': get('phi'),
          'min_phi': get('min_phi' if has else 'phi'), 'steps': get('steps'),
          'cholesky_failures': get('cholesky_failures'), 'n_nonfinite': get('n_nonfinite')}


def _listed(a: np.ndarray) -> list:
  """A JSON-ready nested list with NaN and infinities as None."""
  return np.where(np.isfinite(a), a, None).tolist()


def _array(values: list) -> np.ndarray:
  return np.asarray(values, dtype=float)   # None reads back as NaN


def digest(diag: dict[str, np.ndarray]) -> dict[str, Any]:
  """What the table and plots need of a cell's diagnostics (``read_diagnostics``),
  about a thousand numbers: per epoch the median over seeds of the smallest
  positive eigenvalue and of the sorted mixture weights; per seed its smallest
  eigenvalue and its last epoch's weights; the smallest weight and the counts."""
  lo = np.min(diag['min_eig'], axis=2)                                # [T, S]
  lo = np.where(np.isfinite(lo) & (lo > 0), lo, np.nan)
  with np.errstate(all='ignore'):
    median_min_eig = np.asarray([np.nanmedian(row) if np.isfinite(row).any() else np.nan for row in lo])
  seed_min_eig = np.min(np.where(np.isfinite(diag['min_eig']), diag['min_eig'], np.inf), axis=(0, 2))
  active = diag['steps'] > 0                                          # [T, S]: a seed's epochs before it failed
  weight = np.where(active[..., None], diag['min_phi'], np.inf)
  last = np.asarray([diag['phi'][np.flatnonzero(active[:, i])[-1], i] if active[:, i].any()
                     else np.full(diag['phi'].shape[2], np.nan) for i in range(active.shape[1])])
  return {'format': DIGEST_FORMAT, 'epoch': _listed(diag['epoch']),
          'median_min_eig': _listed(median_min_eig),
          'median_sorted_weights': _listed(np.median(-np.sort(-diag['phi'], axis=2), axis=1)),
          'seed_min_eig': _listed(seed_min_eig), 'seed_last_weights': _listed(last),
          'min_weight': float(np.min(weight)) if np.isfinite(weight).any() else None,
          'cholesky_failures': int(np.sum(diag['cholesky_failures'])),
          'nonfinite_energies': int(np.sum(diag['n_nonfinite']))}


def read_digest(cell_dir: pathlib.Path) -> dict[str, Any]:
  """A cell's ``digest``: from ``metrics.jsonl`` where the run kept it, else from
  ``DIGEST`` (a committed cell; ``write_study`` saves it beside the results)."""
  if (cell_dir / 'metrics.jsonl').exists():
    return digest(read_diagnostics(cell_dir))
  d = json.loads((cell_dir / DIGEST).read_text())
  if d.get('format') != DIGEST_FORMAT:
    raise ValueError(f'{cell_dir / DIGEST}: format {d.get("format")!r}, expected {DIGEST_FORMAT}')
  return d


def _failed_at(run: dict) -> list[int] | None:
  """``[epoch, step]`` where a seed failed in training (``failed_at``; runs written
  before that field: read from the failure's text), None otherwise."""
  if 'failed_at' in run:
    return run['failed_at']
  m = re.search(r'epoch (\d+), step (\d+)', run.get('failure') or '')
  return [int(m[1]), int(m[2])] if m else None


def cell_summary(results: dict[str, Any], dig: dict[str, Any]) -> dict[str, Any]:
  """Failure rate, F1 / AUROC over seeds that did not fail, median smallest eigenvalue."""
  runs = results['runs']
  ok = [r for r in runs if not r['failed']]
  stat = lambda m: (lambda s: (s['mean'], s['std']))(metrics.spread([r[m] for r in ok])) if ok else None
  # Smallest eigenvalue each seed's mixture reached during training (over epochs and components).
  per_seed_min = _array(dig['seed_min_eig'])
  finite = per_seed_min[np.isfinite(per_seed_min)]
  last = _array(dig['seed_last_weights'])
  failures = sorted(tuple(at) for r in runs if r['failed'] and (at := _failed_at(r)))
  return {'seeds': len(runs), 'failed': len(runs) - len(ok), 'f1': stat('f1'), 'auroc': stat('auroc'),
          'f1_failed_as_zero': float(np.mean(metrics.f1_failed_as_zero(runs))),
          'median_min_eig': float(np.median(finite)) if finite.size else None,
          'min_weight': dig['min_weight'],
          # 1 / sum(phi^2) of each seed's last epoch's mean weights, median over seeds
          'effective_components': float(np.nanmedian(1.0 / np.sum(last ** 2, axis=1))),
          'first_failure': 'epoch {}, step {}'.format(*failures[0]) if failures else None,
          'cholesky_failures': dig['cholesky_failures'],
          'nonfinite_energies': dig['nonfinite_energies'],
          'wall_time_s': results['wall_time_s']}


def study_markdown(summaries: dict[str, dict[str, Any]], configs: dict[str, Any],
                   quick: bool, pictures: list[str], missing: list[str] = (), rule: list[str] = ()) -> str:
  """``study.md``: one row per cell, the cells not run, the ``rule`` lines, then the plots."""
  fmt = lambda s: 'n/a' if s is None else f'{s[0]:.4f} ± {s[1]:.4f}'
  lines = ['# The GMM singularity study', '',
           *(['**Quick smoke run (few seeds, 1/100 of the epochs): not a result.**', ''] if quick else []),
           'Failure: a non-finite loss or gradient during training, or non-finite test '
           'energies from the final GMM fit; the first failure is the earliest (epoch, step). '
           'F1 and AUROC are over the seeds that did not fail (paper protocol); F1 (failed '
           'as 0) counts every seed. Smallest eigenvalue: the smallest covariance eigenvalue '
           "a seed's batch mixtures reached during training (after regularization), median "
           'over seeds. Smallest weight: the smallest mixture weight of any batch of any seed. '
           "Effective components: 1 / sum(phi^2) of a seed's last epoch's mean weights, median "
           "over seeds. Covariances without a Cholesky factor (rescued by the rows' factor "
           'for loadings, docs/singularity.md) and non-finite energies are counted over all '
           'training steps.', '',
           '| dataset | regularizer | dtype | failed | F1 | F1 (failed as 0) | AUROC '
           '| median smallest eigenvalue | smallest weight | effective components | first failure '
           '| no Cholesky factor | non-finite energies | wall time |',
           '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|']
  for name, s in summaries.items():
    c = configs[name]
    num = lambda v, f: 'n/a' if v is None else format(v, f)
    lines.append(f"| {c['dataset']} | `{c['gmm']['regularizer']}` | {c['dtype']} | "
                 f"{s['failed']}/{s['seeds']} | {fmt(s['f1'])} | {s['f1_failed_as_zero']:.4f} | "
                 f"{fmt(s['auroc'])} | {num(s['median_min_eig'], '.2e')} | {num(s['min_weight'], '.2e')} | "
                 f"{num(s['effective_components'], '.2f')} | {s['first_failure'] or '-'} | "
                 f"{s['cholesky_failures']} | {s['nonfinite_energies']} | {s['wall_time_s'] / 60:.1f} min |")
  lines += tables.not_run_lines(list(missing)) + list(rule)
  lines += ['', *[f'![{p}]({p})' for p in pictures]]
  return '\n'.join(lines) + '\n'


def plot_dataset(dataset: str, dtype: str, digests: dict[str, dict[str, Any]],
                 out: pathlib.Path) -> list[str]:
  """Two PNGs for one dataset and dtype: smallest eigenvalue and sorted mixture weights
  over training, one line (median over seeds) per regularizer. Returns the file names."""
  names = []
  fig, ax = plots.subplots(figsize=(7, 4))
  for i, (spec, d) in enumerate(digests.items()):
    lo = _array(d['median_min_eig'])
    if np.isfinite(lo).any():   # lines that coincide stay told apart by their style and markers
      ax.plot(d['epoch'], lo, label=spec, ls=('-', '--', ':', '-.')[i % 4],
              marker='osv^Dx'[i % 6], markevery=max(1, len(d['epoch']) // 8), ms=4, lw=1.2)
  ax.set(xlabel='epoch', ylabel='smallest eigenvalue (median of seeds)', yscale='log',
         title=f'{dataset}, {dtype}')
  ax.legend(fontsize=7)
  names.append(f'{dataset}-{dtype}-min_eig.png')
  plots.save(fig, out / names[-1])

  cols = min(3, len(digests))
  rows = -(-len(digests) // cols)
  fig, axes = plots.subplots(rows, cols, figsize=(3.6 * cols, 2.9 * rows), sharex=True, sharey=True,
                             squeeze=False)
  for ax in axes.flat[len(digests):]:
    ax.axis('off')
  rank = lambda k: 'largest' if k == 0 else f'{k + 1}{"nd" if k == 1 else "rd" if k == 2 else "th"} largest'
  for ax, (spec, d) in zip(axes.flat, digests.items()):
    phi = _array(d['median_sorted_weights'])                        # [T, K], components by weight
    for k in range(phi.shape[1]):
      ax.plot(d['epoch'], phi[:, k], label=rank(k))
    ax.set(title=spec, yscale='log', ylim=(1e-4, 1.5))
    ax.title.set_fontsize(8)
  for ax in axes[-1]:
    ax.set_xlabel('epoch')
  for ax in axes[:, 0]:
    ax.set_ylabel('weight (median of seeds)')
  axes[0][0].legend(fontsize=7, title='component', title_fontsize=7)
  fig.suptitle(f'{dataset}, {dtype}: mixture weights, sorted')
  names.append(f'{dataset}-{dtype}-weights.png')
  plots.save(fig, out / names[-1])
  return names


DEFAULT = 'jitter(eps=1e-6)'   # the rule's last tie-break: the original implementations' choice


def rule_lines(study: ml_collections.ConfigDict, summaries: dict[str, dict[str, Any]]) -> list[str]:
  """The rule of ``experiments/singularity.py`` on the finished float32 cells:
  per regularizer the failed trainings summed over the study's datasets and the
  F1 (failed seeds as 0) averaged over them, then the regularizer it picks
  (fewest failed; then the highest mean F1; then ``DEFAULT``), or why not yet."""
  names = {spec: [cell_name(e, spec, 'float32') for e in study.experiments] for spec in study.regularizers}
  lines = ['', '## The default regularizer (the rule in `experiments/singularity.py`)', '',
           f'Float32 cells, {len(study.experiments)} datasets ({", ".join(study.experiments)}).', '',
           '| regularizer | cells finished | failed trainings | mean F1 (failed as 0) |', '|---|---|---|---|']
  score = {}
  for spec, cells_of in names.items():
    done = [summaries[n] for n in cells_of if n in summaries]
    failed = sum(s['failed'] for s in done)
    f1 = float(np.mean([s['f1_failed_as_zero'] for s in done])) if done else float('nan')
    complete = len(done) == len(cells_of)
    lines.append(f"| `{spec}` | {len(done)}/{len(cells_of)} | {failed} | {f'{f1:.4f}' if complete else '-'} |")
    if complete:
      score[spec] = (failed, -f1, spec != DEFAULT)
  missing = len(names) - len(score)
  verdict = (f'**{min(score, key=score.get)}**' if not missing else
             f'not decided: {missing} regularizer(s) lack a finished float32 cell on some dataset')
  return lines + ['', f'Chosen: {verdict}.']


def write_study(study: ml_collections.ConfigDict, workdir: str | pathlib.Path,
                quick: bool = False, report_only: bool = False, processes: int = 1) -> str:
  """Runs (or resumes) every cell, then writes ``study.md`` and the plots; returns
  the text. With ``report_only`` only the finished cells are reported (the others
  are listed as not run)."""
  workdir = pathlib.Path(workdir)
  configs = cells(study, quick)
  results, missing = grid.collect(configs, workdir, report_only, processes)
  digests = {name: read_digest(workdir / name) for name in results}
  for name, dig in digests.items():
    files.write_text(workdir / name / DIGEST, json.dumps(dig, allow_nan=False) + '\n')
  summaries = {name: cell_summary(results[name], digests[name]) for name in results}
  pictures = []
  for dtype in study.dtypes:
    for experiment in study.experiments:
      group = {spec: digests[name] for spec in regularizers_of(study, dtype)
               if (name := cell_name(experiment, spec, dtype)) in digests}
      if group:
        pictures += plot_dataset(grid.load_experiment(experiment).dataset, dtype, group, workdir)
  rule = rule_lines(study, summaries) if not quick and 'float32' in study.dtypes else []
  text = study_markdown(summaries, {n: r['config'] for n, r in results.items()}, quick, pictures,
                        missing, rule)
  files.write_text(workdir / 'study.md', text)
  return text
