"""Tabulates the image-default exploration (results/image_ablation/RULE.md) from its
benchmark.json files and applies the committed rules.

  python scripts/image_ablation.py --root results/image_ablation
"""
import json
import pathlib

import numpy as np
from absl import app, flags

from dagmm_jax.image_benchmark import collapsed_members

ROOT = flags.DEFINE_string('root', 'results/image_ablation', 'Folder of the runs (one benchmark.json each).')
STAGE1 = ('default', 'cov', 'gelu', 'lr1e-3', 'latent8', 'gelu_latent8')
STAGE2 = ('whole64', 'whole128', 'tiles128x2', 'tiles128x4', 'tiles128x4top3')


def run_summary(path: pathlib.Path) -> dict:
  """Collapsed members, MNIST mean AUROC (member 0), surface AUROC and their mean."""
  cells = json.loads(path.read_text())['cells']
  auroc = lambda task: [c['scores']['member_0']['auroc'] for c in cells if c['task'] == task]
  mnist, surface = auroc('mnist'), auroc('surface')
  out = {'collapsed': sum(collapsed_members(c) for c in cells), 'cells': len(cells),
         'mnist': float(np.mean(mnist)) if mnist else None,
         'surface': float(np.mean(surface)) if surface else None}
  if mnist and surface:
    out['score'] = (out['mnist'] + out['surface']) / 2
  return out


def pick(rows: dict[str, dict], key: str) -> str:
  """The fewest collapsed members, then the highest ``key``."""
  return min(rows, key=lambda n: (rows[n]['collapsed'], -rows[n][key]))


def main(argv) -> None:
  del argv
  root = pathlib.Path(ROOT.value)
  lines = ['| run | collapsed members | MNIST mean AUROC | surface AUROC | score |', '|---|---|---|---|---|']
  rows = {n: run_summary(root / n / 'benchmark.json') for n in STAGE1 if (root / n / 'benchmark.json').is_file()}
  fmt = lambda v: '' if v is None else f'{v:.4f}'
  for n, r in rows.items():
    lines.append(f"| {n} | {r['collapsed']} of {r['cells']} | {fmt(r['mnist'])} | {fmt(r['surface'])} | "
                 f"{fmt(r.get('score'))} |")
  stage1 = {n: r for n, r in rows.items() if n != 'gelu_latent8'}
  text = '# Image defaults: exploration on split seed 100, one member\n\n## Stage 1 and 1b\n\n'
  text += '\n'.join(lines) + f"\n\nRule 1 picks `{pick(stage1, 'score')}`."
  if 'gelu_latent8' in rows:
    text += f" Rule 1b (gelu or gelu_latent8) picks `{pick({n: rows[n] for n in ('gelu', 'gelu_latent8')}, 'score')}`."
  for base in ('gelu', 'gelu_latent8'):
    found = {n: run_summary(root / f's2{base}_{n}' / 'benchmark.json') for n in STAGE2
             if (root / f's2{base}_{n}' / 'benchmark.json').is_file()}
    if base in rows and found:
      found = {'whole64': rows[base], **found}
      text += (f'\n\n## Stage 2 with {base}: surfaces\n\n| input | collapsed members | surface AUROC |\n|---|---|---|\n'
               + '\n'.join(f"| {n} | {r['collapsed']} | {r['surface']:.4f} |" for n, r in found.items())
               + f"\n\nHighest with no collapsed member: `{pick(found, 'surface')}` (rule 2 also "
               'prefers the cheaper input within 0.01).')
  (root / 'exploration.md').write_text(text + '\n')
  print(text)


if __name__ == '__main__':
  app.run(main)
