"""Results tables (markdown) beside the paper's figures."""
from typing import Any

import numpy as np

from dagmm_jax.core import metrics
from dagmm_jax.scoring import registry

# Zong et al. 2018, Table 2 (DAGMM, mean of 20 runs): precision, recall, F1.
PAPER_TABLE2 = {
    'kddcup99': (0.9297, 0.9442, 0.9369),
    'thyroid': (0.4766, 0.4834, 0.4782),
    'arrhythmia': (0.4909, 0.5078, 0.4983),
    'kddcup99_rev': (0.9370, 0.9390, 0.9380),
}

# How every table states its spread (``metrics.spread``).
SPREAD = ('Mean ± std over the seeds that did not fail (sample std, ddof=1), the '
          "F1's standard error std/sqrt(n) in brackets.")


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
  """Per scorer every run has (``registry.present``: trained and untrained always;
  the restart scorers when the members trained to the end): mean, std and
  standard error (``metrics.spread``, over seeds that did not fail) of every
  metric, the count of failed seeds and the F1 mean with them as 0. Tables
  recompute it from the runs, so a results.json written under an older
  convention reads in today's."""
  def stats(rows):
    ok = [r for r in rows if not r['failed']]
    out = {'n': len(ok), 'n_failed': len(rows) - len(ok)}
    for m in metrics.NAMES:
      s = metrics.spread([r[m] for r in ok])
      out[m] = {k: s[k] if np.isfinite(s[k]) else None for k in ('mean', 'std', 'se')}
    # Failed seeds are never dropped silently: the F1 mean with each failed seed as 0.
    out['f1_failed_as_zero'] = float(np.mean(metrics.f1_failed_as_zero(rows))) if rows else None
    return out
  return {name: stats(rows) for name, rows in registry.present(runs).items()}


def _cell(stat: dict[str, float | None], se: bool = False) -> str:
  """'0.7015 ± 0.0777' (mean ± std), with ``se`` also '(0.0174)'; 'n/a' for no seeds."""
  if stat['mean'] is None:
    return 'n/a'
  if stat['std'] is None:
    return f"{stat['mean']:.4f}"
  return f"{stat['mean']:.4f} ± {stat['std']:.4f}" + (f" ({stat['se']:.4f})" if se else '')


def summary_rows(results: dict[str, Any]) -> list[str]:
  """Markdown rows: one per scorer of the runs (registry order), then the paper
  (paper protocol only)."""
  rows = []
  restarts = results['config'].get('restarts', 1)
  for key, s in summarize(results['runs']).items():
    cells = ' | '.join(_cell(s[c], se=c == 'f1') for c in metrics.NAMES)
    failed = str(s['n_failed'])
    if s['n_failed'] and s.get('f1_failed_as_zero') is not None:
      failed += f" (F1 {s['f1_failed_as_zero']:.4f} with them as 0)"
    rows.append(f'| {registry.SCORERS[key].label(restarts)} | {cells} | {s["n"]} | {failed} |')
  paper = PAPER_TABLE2.get(results['dataset'])
  if paper and results['protocol'] == 'paper':
    rows.append('| paper (Zong et al. 2018, Table 2) | ' +
                ' | '.join(f'{v:.4f}' for v in paper) + ' | n/a | n/a | 20 | n/a |')
  return rows


def _processes_and_memory(results: dict) -> str:
  """', 2 processes, peak host memory 2.71 GiB' (what results.json has of these)."""
  out = f", {results['processes']} processes" if results.get('processes', 1) > 1 else ''
  if 'peak_host_memory_gib' in results:
    out += f", peak host memory {results['peak_host_memory_gib']:.2f} GiB"
  return out


def _sessions(results: dict) -> str:
  """' (summed over 3 sessions: the run was resumed)' when it was; else ''."""
  n = results.get('sessions', 1)   # results.json files older than the field: one session
  return f' (summed over {n} sessions: the run was resumed)' if n > 1 else ''


def results_markdown(results: dict[str, Any]) -> str:
  """The table a researcher pastes: mean ± std over seeds beside the paper."""
  c = results['config']
  header = ('| run | precision | recall | F1 | AUROC | AUPRC | seeds | failed |\n'
            '|---|---|---|---|---|---|---|---|')
  lines = [
      f"# DAGMM on {results['dataset']} ({results['protocol']} protocol)", '',
      f"{len(results['seeds'])} seeds ({results['seeds'][0]}..{results['seeds'][-1]}), "
      f"{c['num_epochs']} epochs, batch {c['batch_size']}, scaling `{c['scaling']}`, "
      f"regularizer `{c['gmm']['regularizer']}`, {c['dtype']}. "
      f"Wall time {results['wall_time_s']:.0f} s{_sessions(results)} on {', '.join(results['devices'])}"
      f"{_processes_and_memory(results)}.", '',
      header, *summary_rows(results), '',
      f'{SPREAD} The untrained baseline is each '
      "seed's network at initialisation, its GMM fitted on the training set the same way.",
  ]
  failures = [f"- seed {r['seed']}: {r['failure']}" for r in results['runs'] if r['failed']]
  if failures:
    lines += ['', '## Failed seeds', *failures]
  members = [f"- seed {r['seed']}, restart {j}: {m['failure']}" for r in results['runs']
             for j, m in enumerate(r.get('members', [])) if m['failed'] and m.get('failure')]
  if members:   # results.json files older than the members' 'failure' field list none
    lines += ['', '## Failed restart members', *members]
  return '\n'.join(lines) + '\n'


def not_run_lines(missing: list[str]) -> list[str]:
  """Markdown lines naming the cells that have not finished (none: no lines)."""
  if not missing:
    return []
  return ['', '## Not run yet', '',
          'These cells have not finished; rerunning the same command (same workdir) '
          'resumes them and keeps the finished ones:', '', *[f'- {m}' for m in missing]]


def table2_markdown(results: dict[str, dict[str, Any]], missing: list[str] = (),
                    quick: bool = False, exploration: list[dict[str, dict]] = ()) -> str:
  """Every finished cell of a Table 2 run (``{cell name: results}``) in one table,
  then the cells not run yet. With ``exploration`` (result sets of other seeds,
  ``per_cell_choice``) also each cell's scorer chosen on them."""
  lines = ["# DAGMM-JAX: the paper's Table 2", '',
           *(['**Quick smoke run (few seeds, 1/100 of the epochs): not a reproduction.**', '']
             if quick else []),
           f'{SPREAD} `failed` counts seeds whose '
           'training hit a non-finite loss or whose final GMM gave non-finite energies '
           '(listed below). The paper reports only precision, recall and F1, and only '
           'for its own (`paper`) protocol.', '',
           '| dataset | protocol | run | precision | recall | F1 | AUROC | AUPRC | seeds | failed | wall time |',
           '|---|---|---|---|---|---|---|---|---|---|---|']
  failures = []
  for cell, res in results.items():
    head = f"| {res['dataset']} | {res['protocol']} |"
    wall = f"{res['wall_time_s'] / 60:.1f} min"
    for i, row in enumerate(summary_rows(res)):
      lines.append(f"{head if i == 0 else '| | |'} {row[2:]} {wall if i == 0 else ''} |")
    failures += [f"- {cell}, seed {r['seed']}: {r['failure']}" for r in res['runs'] if r['failed']]
    failures += [f"- {cell}, seed {r['seed']} (untrained): {r['untrained']['failure']}"
                 for r in res['runs'] if r['untrained']['failed']]
  settings = {r['dataset']: (f"{r['dataset']} {r['config']['num_epochs']} epochs, batch "
                             f"{r['config']['batch_size']}, scaling `{r['config']['scaling']}`, "
                             f"regularizer `{r['config']['gmm']['regularizer']}`")
              for r in results.values() if r['protocol'] == 'paper'}
  lines += ['', 'Settings per dataset: ' + '; '.join(settings.values()) + '.']
  lines += scorer_decision(results, len(missing))
  if exploration:
    lines += per_cell_lines(results, per_cell_choice(list(exploration)),
                                     {d: p[2] for d, p in PAPER_TABLE2.items()})
  if failures:
    lines += ['', '## Failed seeds', *failures]
  lines += not_run_lines(list(missing))
  return '\n'.join(lines) + '\n'


# -- which restart scorer a cell reports (the rules of experiments/restarts.py and confirm.py) --

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
    ens = metrics.f1_failed_as_zero([registry.SCORERS['ensemble'].row(r) for r in runs])
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


def _candidates() -> dict[str, Any]:
  """``{rule name: scorer}``: the registry's candidates of the per-cell rule, in order."""
  return {s.rule: s for s in registry.SCORERS.values() if s.rule}


def _every_candidate_scored(runs: list[dict], candidates: dict[str, Any]) -> bool:
  """Whether every run has a row of every candidate (cells made before one existed do not)."""
  return all(s.row(r) is not None for s in candidates.values() for r in runs)


def per_cell_choice(exploration: list[dict[str, dict]]) -> dict[str, tuple[str, dict[str, float]]]:
  """The rule of ``experiments/confirm.py``: per cell, the scorer (``_candidates``; ties
  go to the earlier one) with the highest mean F1, failed seeds as 0, over the
  seeds of every exploration result set pooled. ``exploration``: one
  ``{cell: results}`` per set; a cell counts only where every set has all three
  scorers. Returns ``{cell: (scorer, {scorer: pooled mean})}``."""
  names = set.intersection(*(set(e) for e in exploration)) if exploration else set()
  candidates, out = _candidates(), {}
  for name in sorted(names):
    runs = [r for e in exploration for r in e[name]['runs']]
    if not _every_candidate_scored(runs, candidates):
      continue
    means = {n: float(metrics.f1_failed_as_zero([s.row(r) for r in runs]).mean()) for n, s in candidates.items()}
    out[name] = (max(means, key=lambda n: (means[n], -list(candidates).index(n))), means)
  return out


def per_cell_lines(results: dict[str, dict], choice: dict[str, tuple[str, dict[str, float]]],
                   paper_f1: dict[str, float]) -> list[str]:
  """Markdown: per finished cell, the scorer ``per_cell_choice`` picked on the
  exploration seeds and its F1 here (mean ± std, standard error, failed seeds as
  0) beside the paper's."""
  candidates, rows = _candidates(), []
  for name, res in results.items():
    if name not in choice or not _every_candidate_scored(res['runs'], candidates):
      continue
    scorer, means = choice[name]
    f1 = metrics.spread(metrics.f1_failed_as_zero([candidates[scorer].row(r) for r in res['runs']]))
    explored = ', '.join(f'{s} {m:.4f}' for s, m in means.items())
    paper = paper_f1.get(res['dataset'])
    rows.append(f"| {name} | {explored} | **{scorer}** | {f1['mean']:.4f} ± {f1['std']:.4f} "
                f"({f1['se']:.4f}) | " + (f'{paper:.4f}' if paper else 'n/a') + ' |')
  if not rows:
    return []
  return ['', '## Per-cell scorer (the rule in `experiments/confirm.py`)', '',
          '| cell | exploration mean F1 (pooled) | chosen | F1 here (se) | paper |', '|---|---|---|---|---|',
          *rows]
