"""Pictures of a reproduction, written beside its ``results.md``: per-seed F1 and
AUPRC (trained vs untrained, the paper's F1 drawn in) and the training curves of
the loss terms per seed from ``metrics.jsonl`` (failed seeds in red), the paper's
Figure 3 and the energy histogram.

Figures are drawn without pyplot (``matplotlib.figure.Figure`` objects saved
straight to files), so importing this package never switches a notebook user's
backend.
"""
import pathlib
from collections import defaultdict
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from dagmm_jax import files
from dagmm_jax.reports import tables
from dagmm_jax.scoring import registry


TERMS = ('reconstruction', 'energy', 'penalty')
COLORS = ('C0', 'C1', 'C2', 'C4', 'C5')   # red (C3) marks failed seeds


def subplots(*args, figsize: tuple[float, float], **kwargs):
  """``(figure, axes)`` as ``pyplot.subplots`` returns them, on a backend-free Figure."""
  fig = Figure(figsize=figsize)
  return fig, fig.subplots(*args, **kwargs)


def save(fig: Figure, path: str | pathlib.Path, dpi: int = 150,
         rect: tuple[float, float, float, float] | None = None) -> None:
  """Lays out and writes ``fig``: the PNG ``path`` (``dpi``) and a vector copy
  beside it (same name, ``.pdf``) for papers. Artists drawn with
  ``rasterized=True`` (dense scatters) stay small in the PDF."""
  path = pathlib.Path(path)
  fig.tight_layout(rect=rect)
  fig.savefig(path, dpi=dpi)
  fig.savefig(path.with_suffix('.pdf'), dpi=dpi)


def _scorers(results: dict[str, Any]) -> list[tuple[str, list[dict]]]:
  """``[(label, per-seed metric dicts)]`` of the drawn scorers the runs have (registry order)."""
  restarts = results['config'].get('restarts', 1)
  runs = sorted(results['runs'], key=lambda r: r['seed'])
  return [(registry.SCORERS[name].plot_label(restarts), rows)
          for name, rows in registry.present(runs).items() if registry.SCORERS[name].plot_label]


def metric_strips(results: dict[str, Any], path: pathlib.Path) -> None:
  """Per-seed F1 and AUPRC as strips, one per scorer; failed seeds drawn at 0 as red x;
  the mean as a bar; the paper's F1 as a dashed line (paper protocol)."""
  fig, axes = subplots(1, 2, figsize=(9, 3.8))
  rng = np.random.default_rng(0)
  scorers = _scorers(results)
  any_failed = False
  for ax, metric in zip(axes, ('f1', 'auprc')):
    for i, (label, rows) in enumerate(scorers):
      ok = np.asarray([r[metric] for r in rows if not r['failed']], float)
      n_failed = sum(r['failed'] for r in rows)
      ax.scatter(i + rng.uniform(-0.15, 0.15, ok.size), ok, s=14, alpha=0.8, color=COLORS[i % len(COLORS)])
      if n_failed:
        ax.scatter(i + rng.uniform(-0.15, 0.15, n_failed), np.zeros(n_failed), s=20, c='red', marker='x',
                   label='failed seed (at 0)' if not any_failed else None)
        any_failed = True
      if ok.size:
        ax.hlines(ok.mean(), i - 0.3, i + 0.3, colors='k', label='mean' if i == 0 else None)
    paper = tables.PAPER_TABLE2.get(results['dataset'])
    if metric == 'f1' and paper and results['protocol'] == 'paper':
      ax.axhline(paper[2], color='gray', ls='--', label=f'paper {paper[2]:.4f}')
    ax.set_xticks(range(len(scorers)), [s for s, _ in scorers], fontsize=8)
    ax.set(ylabel=metric.upper(), ylim=(-0.03, 1.03))
  handles, labels = axes[0].get_legend_handles_labels()
  fig.suptitle(f"{results['dataset']} ({results['protocol']} protocol), {len(results['runs'])} seeds")
  fig.legend(handles, labels, fontsize=7, loc='lower center', ncol=len(labels), frameon=False)
  save(fig, path, rect=(0, 0.06, 1, 1))   # the legend below the axes, off the points


def training_curves(log_path: pathlib.Path, failed_seeds: set[int], path: pathlib.Path,
                    title: str = '') -> None:
  """The loss terms over epochs: the median over seeds (and restarts) with the band
  of the middle 80% (10th-90th percentile), and each failed seed's own line in red."""
  series = defaultdict(lambda: defaultdict(list))   # (seed, restart) -> term -> [(epoch, value)]
  for r in files.read_jsonl(log_path, key=('chunk', 'epoch')):
    restarts = r.get('restart', [0] * len(r['seeds']))
    failed = r.get('failed', [False] * len(r['seeds']))
    for i, (seed, restart) in enumerate(zip(r['seeds'], restarts)):
      if failed[i]:   # the state stopped at its last finite step; nothing to draw after it
        continue
      for term in TERMS:
        series[seed, restart][term].append((r['epoch'], r[term][i]))
  fig, axes = subplots(1, len(TERMS), figsize=(12, 3.6))
  ok = [k for k in series if k[0] not in failed_seeds]
  for ax, term in zip(axes, TERMS):
    if ok:
      epochs = sorted(set.intersection(*(set(e for e, _ in series[k][term]) for k in ok)))
      at = [dict(series[k][term]) for k in ok]
      v = np.asarray([[a[e] for a in at] for e in epochs], float)          # [epochs, seeds]
      lo, mid, hi = np.nanpercentile(v, [10, 50, 90], axis=1)
      ax.fill_between(epochs, lo, hi, color='C0', alpha=0.25, lw=0, label='10th-90th percentile')
      ax.plot(epochs, mid, color='C0', lw=1.2, label=f'median of {len(ok)}')
    for k in sorted(k for k in series if k[0] in failed_seeds):
      e, val = np.asarray(series[k][term], float).T
      ax.plot(e, val, color='red', lw=0.9, label='failed seed')
    ax.set(xlabel='epoch', ylabel=term, title=term, yscale='symlog' if term == 'energy' else 'log')
    handles, labels = ax.get_legend_handles_labels()
    keep = {lab: h for h, lab in zip(handles, labels)}                    # one entry per label
    ax.legend(keep.values(), keep.keys(), fontsize=7)
  if title:
    fig.suptitle(title)
  save(fig, path)


def write_run_plots(workdir: pathlib.Path, results: dict[str, Any]) -> list[str]:
  """Both pictures into ``workdir``; returns their file names."""
  workdir = pathlib.Path(workdir)
  metric_strips(results, workdir / 'metrics.png')
  names = ['metrics.png']
  if (workdir / 'metrics.jsonl').exists():
    failed = {r['seed'] for r in results['runs'] if r['failed']}
    training_curves(workdir / 'metrics.jsonl', failed, workdir / 'training_curves.png',
                    f"{results['dataset']} ({results['protocol']} protocol), loss terms per epoch")
    names.append('training_curves.png')
  return names


def _sample(labels: np.ndarray, max_per_class: int, seed: int = 0) -> np.ndarray:
  """Indices of at most ``max_per_class`` rows of each label (fixed draw)."""
  rng = np.random.default_rng(seed)
  out = []
  for value in (False, True):
    idx = np.flatnonzero(labels.astype(bool) == value)
    out.append(rng.choice(idx, max_per_class, replace=False) if idx.size > max_per_class else idx)
  return np.concatenate(out)


def latent_space(z: np.ndarray, labels: np.ndarray, latent_dims: int, title: str,
                 path: pathlib.Path, max_per_class: int = 3000) -> None:
  """The paper's Figure 3: test rows at (first code dimension, relative Euclidean
  distance, cosine similarity), normal vs anomalous (a fixed sample of each)."""
  idx = _sample(labels, max_per_class)
  pts, lab = z[idx][:, [0, latent_dims, latent_dims + 1]], labels[idx].astype(bool)
  fig = Figure(figsize=(6.4, 5.2))
  ax = fig.add_subplot(projection='3d')
  for mask, name, style in ((~lab, 'normal', dict(c='C0', marker='o')), (lab, 'anomalous', dict(c='C3', marker='^'))):
    ax.scatter(*pts[mask].T, s=4, alpha=0.5, label=f'{name} ({int(mask.sum())} shown)', rasterized=True,
               **style)
  ax.set(xlabel='z_c[0] (encoded)', ylabel='relative Euclidean distance', zlabel='cosine similarity')
  ax.set_title(title, fontsize=9)
  ax.legend(fontsize=7, loc='upper left')
  save(fig, path)


def energy_histogram(energies: np.ndarray, labels: np.ndarray, threshold: float, title: str,
                     path: pathlib.Path) -> None:
  """Energies of normal and anomalous test rows and the decision threshold. Energies
  span orders of magnitude (KDDCUP: -10 to 5,000), so the axis is symmetric-log
  with bins even on it; counts are on a log axis; the outer 0.1% on each side are
  gathered into the end bins."""
  lab = labels.astype(bool)
  lo, hi = np.percentile(energies, [0.1, 99.9])
  bins = np.sinh(np.linspace(np.arcsinh(min(lo, threshold)), np.arcsinh(max(hi, threshold)), 60))
  clipped = np.clip(energies, bins[0], bins[-1])
  fig, ax = subplots(figsize=(6.4, 3.6))
  ax.hist(clipped[~lab], bins=bins, alpha=0.6, color='C0', label=f'normal ({int((~lab).sum())})')
  ax.hist(clipped[lab], bins=bins, alpha=0.6, color='C3', label=f'anomalous ({int(lab.sum())})')
  ax.axvline(threshold, color='k', ls='--', label=f'threshold {threshold:.3g}')
  ax.set_xscale('symlog', linthresh=1.0)
  ax.set(xlabel='sample energy (symmetric log)', ylabel='test rows', yscale='log', xlim=(bins[0], bins[-1]))
  ax.set_title(title, fontsize=9)
  ax.legend(fontsize=7)
  save(fig, path)
