"""Two runs of the same restart cell, member by member: what a code change did.

  python scripts/paired_members.py --before results/confirm/kdd-paper-r5/results.json \
      --after runs/confirm_fix/kdd-paper-r5/results.json --out results/failures/paired-kdd-200-219.md

Both ``results.json`` must hold the same seeds and restarts (``runs[i]['members']``,
``config.restarts`` members per seed, restart 0 the faithful run). Reports the
failed members before and after (with the recorded causes after), how many of
the members that never failed are unchanged (F1, AUROC, AUPRC and threshold all
equal to the last bit), the paired F1 differences of those members, and the
faithful row (restart 0, failed seeds as F1 0) and the ensemble before and after.
Standard errors use the sample standard deviation (ddof=1).
"""
import json
import pathlib

from absl import app, flags

from dagmm_jax.core import metrics
from dagmm_jax.scoring.registry import SCORERS

BEFORE = flags.DEFINE_string('before', None, 'results.json of the run before the change.')
AFTER = flags.DEFINE_string('after', None, 'results.json of the run after it.')
OUT = flags.DEFINE_string('out', None, 'Write the markdown here (printed anyway).')
EXACT = ('f1', 'auroc', 'auprc', 'threshold')


def _mean_se(v: list[float]) -> str:
  s = metrics.spread(v)
  return f"{s['mean']:.4f} (se {s['se']:.4f}, n={s['n']})"


def compare(before: dict, after: dict) -> str:
  """The markdown report (see the module docstring)."""
  if [r['seed'] for r in before['runs']] != [r['seed'] for r in after['runs']]:
    raise ValueError('the two runs hold different seeds')
  rows, failed_before, failed_after, same, diffs = [], [], [], 0, []
  for b, a in zip(before['runs'], after['runs']):
    for j, (mb, ma) in enumerate(zip(b['members'], a['members'])):
      if mb['failed']:
        failed_before.append((b['seed'], j))
      if ma['failed']:
        failed_after.append((a['seed'], j, ma.get('failure')))
      if not mb['failed'] and not ma['failed']:
        same += all(mb[k] == ma[k] for k in EXACT)
        diffs.append(ma['f1'] - mb['f1'])
      if mb['failed'] or ma['failed']:
        f1 = lambda m: 'failed' if m['failed'] else f"{m['f1']:.4f}"
        rows.append(f"| {b['seed']} | {j} | {f1(mb)} | {f1(ma)} | {ma.get('failure') or '-'} |")
  n_members = sum(len(r['members']) for r in before['runs'])
  f1s = lambda name: lambda res: list(metrics.f1_failed_as_zero([SCORERS[name].row(r) for r in res['runs']]))
  faithful, ensemble = f1s('restart0'), f1s('ensemble')
  lines = [
      f"# Member by member: {len(before['runs'])} seeds x {n_members // len(before['runs'])} restarts", '',
      f'- failed members: **{len(failed_before)} before, {len(failed_after)} after** (of {n_members})',
      f'- members that never failed: {len(diffs)}; unchanged to the last bit (F1, AUROC, AUPRC, '
      f'threshold): **{same} of {len(diffs)}**; F1 after - before: {_mean_se(diffs) if diffs else "n/a"}',
      f'- faithful row (restart 0, failed seeds as F1 0): before {_mean_se(faithful(before))}, '
      f'after {_mean_se(faithful(after))}',
      f'- 5-member ensemble (failed members left out): before {_mean_se(ensemble(before))}, '
      f'after {_mean_se(ensemble(after))}', '',
      '| seed | restart | F1 before | F1 after | failure after |', '|---|---|---|---|---|', *rows]
  return '\n'.join(lines) + '\n'


def main(argv: list[str]) -> None:
  del argv
  text = compare(json.loads(pathlib.Path(BEFORE.value).read_text()),
                 json.loads(pathlib.Path(AFTER.value).read_text()))
  print(text)
  if OUT.value:
    pathlib.Path(OUT.value).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(OUT.value).write_text(text)


if __name__ == '__main__':
  flags.mark_flags_as_required(['before', 'after'])
  app.run(main)
