"""One-factor-at-a-time ablations of the choices the paper leaves open, and the
rule that picks defaults from them (``experiments/ablation.py`` states the rule)."""
import pathlib
from typing import Any

import ml_collections
import numpy as np

from dagmm_jax import files, grid
from dagmm_jax.core import metrics
from dagmm_jax.reports import tables



def cells(study: ml_collections.ConfigDict, quick: bool = False) -> dict[str, ml_collections.ConfigDict]:
  """``{'<experiment>-<setting>': config}`` for every setting that applies."""
  out = {}
  only = study.only.to_dict()
  for name in study.experiments:
    for setting, overrides in study.settings.to_dict().items():
      if setting in only and name not in only[setting]:
        continue
      config = grid.load_experiment(name)
      config.protocol, config.seed, config.num_seeds = 'paper', study.seed, study.num_seeds
      grid.shorten(config, study.num_epochs.get(name))
      grid.apply_overrides(config, overrides)
      out[f'{name}-{setting}'] = grid.quick_config(config) if quick else config
  return out


def seed_f1(results: dict[str, Any]) -> np.ndarray:
  """Per-seed F1 in seed order, a failed seed as 0 (the rule's convention)."""
  return metrics.f1_failed_as_zero(sorted(results['runs'], key=lambda r: r['seed']))


def decide(study: ml_collections.ConfigDict, results: dict[str, dict[str, Any]]) -> list[str]:
  """The rule of ``experiments/ablation.py`` applied to the finished cells: one
  markdown line per decision (or why it cannot be made yet)."""
  lines = []
  only = study.only.to_dict()
  settings = [s for s in study.settings.to_dict() if s != 'default']
  diffs = {}   # (experiment, setting) -> (mean, se)
  for name in study.experiments:
    base = results.get(f'{name}-default')
    for s in settings:
      other = results.get(f'{name}-{s}')
      if base is not None and other is not None:
        diffs[name, s] = metrics.paired(seed_f1(other), seed_f1(base))
  for s in study.model_choices:
    per = [diffs.get((n, s)) for n in study.experiments]
    if any(p is None for p in per):
      lines.append(f'- `{s}` (all datasets): not decided, cells missing')
      continue
    mean = float(np.mean([m for m, _ in per]))
    se = float(np.sqrt(sum(e ** 2 for _, e in per)) / len(per))
    verdict = 'adopt' if mean > se else 'keep the default'
    lines.append(f'- `{s}` (all datasets): mean difference {mean:+.4f} ± {se:.4f} (se): **{verdict}**')
  for name in study.experiments:
    options = [s for s in settings if s not in study.model_choices
               and (s not in only or name in only[s])]
    if any((name, s) not in diffs for s in options):
      lines.append(f'- {name}: data choices not decided, cells missing')
      continue
    passing = {s: diffs[name, s][0] for s in options if diffs[name, s][0] > diffs[name, s][1]}
    detail = ', '.join(f'`{s}` {diffs[name, s][0]:+.4f} ± {diffs[name, s][1]:.4f}' for s in options)
    choice = max(passing, key=passing.get) if passing else None
    lines.append(f"- {name}: {detail}: **{f'adopt `{choice}`' if choice else 'keep the default'}**")
  return lines


def ablation_markdown(study: ml_collections.ConfigDict, results: dict[str, dict[str, Any]],
                      missing: list[str], quick: bool) -> str:
  """Per cell: F1 mean ± std and its standard error, the paired difference to the
  dataset's default, seeds at or above the paper, untrained F1, failures, wall."""
  lines = ['# Ablations of the choices the paper leaves open (seeds '
           f'{study.seed}..{study.seed + study.num_seeds - 1}, paper protocol)', '',
           *(['**Quick smoke run (few seeds, 1/100 of the epochs): not a result.**', ''] if quick else []),
           "One choice changes per row; `default` is the dataset's config "
           '(`experiments/<dataset>.py`) as it stood when the study ran. '
           'Cells with fewer epochs than the paper say so in `epochs`. F1: mean ± std (standard error); '
           'difference: paired per seed against the default, failed seeds as F1 0.', '',
           '| cell | epochs | F1 trained | vs default | seeds ≥ paper | F1 untrained | failed | wall |',
           '|---|---|---|---|---|---|---|---|']
  for cell, res in results.items():
    f1 = seed_f1(res)
    ok = [r['f1'] for r in res['runs'] if not r['failed']]
    base = results.get(cell.rsplit('-', 1)[0] + '-default')
    vs = '—' if base is None or base is res else '{:+.4f} ± {:.4f}'.format(*metrics.paired(f1, seed_f1(base)))
    paper = tables.PAPER_TABLE2.get(res['dataset'], (None,) * 3)[2]
    above = f'{sum(v >= paper for v in ok)}/{len(f1)}' if paper else '—'
    t, u = metrics.spread(ok), metrics.spread([r['untrained']['f1'] for r in res['runs'] if not r['untrained']['failed']])
    lines.append(f"| {cell} | {res['config']['num_epochs']} | {t['mean']:.4f} ± {t['std']:.4f} "
                 f"({t['se']:.4f}) | {vs} | {above} | "
                 f"{u['mean']:.4f} ± {u['std']:.4f} | {len(f1) - len(ok)}/{len(f1)} | "
                 f"{res['wall_time_s'] / 60:.1f} min |")
  lines += ['', '## Decisions (the rule in `experiments/ablation.py`)', '', *decide(study, results)]
  lines += tables.not_run_lines(missing)
  return '\n'.join(lines) + '\n'


def write_ablation(study: ml_collections.ConfigDict, workdir: str | pathlib.Path,
                   quick: bool = False, report_only: bool = False, processes: int = 1) -> str:
  """Runs (or resumes) every cell, writes ``workdir/ablation.md`` and returns its text."""
  configs = cells(study, quick)
  results, missing = grid.collect(configs, workdir, report_only, processes)
  text = ablation_markdown(study, results, missing, quick)
  files.write_text(pathlib.Path(workdir) / 'ablation.md', text)
  return text
