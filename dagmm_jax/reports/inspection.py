"""Inspection report: energies of OK and NG test folders -> PNG figures + report.md.

Figures: energy histogram (OK vs NG, with the threshold), ROC and precision-recall
curves (the threshold's operating point marked), latent scatter (first code
dimension vs relative reconstruction distance, as in the paper's Fig. 1), 2-D PCA
and t-SNE embeddings of the full ``z`` of the first region, and three galleries:
the highest energies, the false positives (highest-energy OK images) and the
missed NG images (lowest-energy NG images). ``report.md`` embeds them and lists
precision/recall/F1 and the false-positive rate at the threshold, AUROC and AUPRC.
"""
from __future__ import annotations

import os
import pathlib
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.ticker import MaxNLocator

from dagmm_jax import files
from dagmm_jax.core import metrics, yardsticks
from dagmm_jax.data.images import to_unit
from dagmm_jax.reports import plots


if TYPE_CHECKING:   # the inspector sits a layer above the reports
  from dagmm_jax.inspector import Inspector

N_GALLERY = 8
TSNE_POINTS = 1000   # t-SNE of at most this many images (a fixed sample): seconds


def pca_2d(z: np.ndarray) -> np.ndarray:
  """``[N, 2]`` projection on the two leading principal components (zero-padded if D < 2)."""
  zc = z - z.mean(axis=0)
  _, _, vt = np.linalg.svd(zc, full_matrices=False)
  p = zc @ vt[:2].T
  return np.pad(p, ((0, 0), (0, 2 - p.shape[1])))


def tsne_2d(z: np.ndarray, seed: int = 0) -> np.ndarray:
  """``[N, 2]`` t-SNE embedding (scikit-learn; perplexity 30, or less for few points)."""
  from sklearn.manifold import TSNE   # imported here: only reports need it
  if z.shape[0] < 5:
    return np.zeros((z.shape[0], 2))
  perplexity = min(30.0, (z.shape[0] - 1) / 3)
  return TSNE(2, perplexity=perplexity, init='pca', random_state=seed).fit_transform(z.astype(np.float64))


def _short(name: str, width: int = 26) -> str:
  """A file name that fits under a thumbnail: its start and its end (the extension
  and any numbering), an ellipsis between."""
  return name if len(name) <= width else f'{name[:width - 12]}…{name[-11:]}'


def _gallery(images: np.ndarray, idx: np.ndarray, titles: list[str], path: pathlib.Path,
             empty: str) -> None:
  """Thumbnails of ``images[idx]`` (pixels scaled by their bit depth) with titles."""
  n = max(len(idx), 1)
  fig, axes = plots.subplots(1, n, figsize=(2 * n, 2.4), squeeze=False)
  for ax in axes[0]:
    ax.axis('off')
  if not len(idx):
    axes[0][0].text(0.5, 0.5, empty, ha='center', va='center', fontsize=9)
  for ax, i, title in zip(axes[0], idx, titles):
    img = to_unit(images[i])
    ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap='gray', vmin=0, vmax=1)
    ax.set_title(title, fontsize=7)
  plots.save(fig, path)


def _curves(labels: np.ndarray, e: np.ndarray, result: dict[str, float], path: pathlib.Path) -> None:
  """ROC and precision-recall curves with the threshold's operating point (``result``)."""
  fpr, tpr = metrics.roc_curve(labels, e)
  recall, precision, _ = metrics.pr_curve(labels, e)
  at_fpr, at_recall, at_precision = result['false_positive_rate'], result['recall'], result['precision']
  fig, (a, b) = plots.subplots(1, 2, figsize=(9, 3.8))
  a.plot(fpr, tpr)
  a.plot([0, 1], [0, 1], color='gray', ls=':', lw=0.8)
  a.plot(at_fpr, at_recall, 'ko', label='threshold')
  a.set(xlabel='false-positive rate (OK flagged)', ylabel='recall (NG flagged)',
        title=f'ROC, AUROC {metrics.auroc(labels, e):.4f}')
  b.plot(recall, precision, drawstyle='steps-pre')
  b.plot(at_recall, at_precision, 'ko', label='threshold')
  b.set(xlabel='recall', ylabel='precision', ylim=(0, 1.02),
        title=f'precision-recall, AUPRC {metrics.auprc(labels, e):.4f}')
  a.legend(fontsize=7, loc='lower right'), b.legend(fontsize=7, loc='lower left')
  plots.save(fig, path)


def flat_pixels(arrays: dict[str, np.ndarray]) -> np.ndarray:
  """``[N, P]`` float32 in [0, 1]: every region's pixels of each image, side by side."""
  return np.concatenate([to_unit(a).reshape(len(a), -1) for a in arrays.values()], axis=1)


def _yardsticks(inspector: Inspector, arrays: dict[str, np.ndarray], labels: np.ndarray,
                train_dir: str | os.PathLike | None) -> dict[str, dict[str, float]] | str:
  """``{yardstick: {'auroc', 'auprc'}}`` of ``core.yardsticks`` fitted on the
  training OK images (``train_dir``, default the folder ``fit`` read) and scored on
  the same loaded test arrays as the model; a sentence saying why when there is no
  training folder."""
  train_dir = train_dir or inspector.folders.get('train')
  if train_dir is None or not pathlib.Path(train_dir).is_dir():
    return (f'no yardsticks: the training folder {train_dir} is not available '
            '(give it with --train)')
  x_train = flat_pixels(inspector.load_images(train_dir).arrays)
  return {name: {'auroc': metrics.auroc(labels, v), 'auprc': metrics.auprc(labels, v)}
          for name, v in yardsticks.scores(x_train, flat_pixels(arrays)).items()}


def _health_lines(health: dict[str, dict | None]) -> str:
  """Markdown lines on each region's code health (``core.health.check``)."""
  lines = []
  for region, h in health.items():
    if h is None:
      lines.append(f'- `{region}`: not recorded (a model saved before code health was)')
      continue
    lines.append(f"- `{region}`: code std {', '.join(f'{v:.3g}' for v in h['code_std'])}; training "
                 f"reconstruction error {h['reconstruction_error']:.4g}, "
                 f"{h['reconstruction_ratio']:.2f} x the mean image's ({h['mean_image_error']:.4g})")
    lines += [f'  - **WARNING: {w}**' for w in h['warnings']] or ['  - healthy']
  return '\n'.join(lines)


def make_report(inspector: Inspector, test_ok: str | os.PathLike, test_ng: str | os.PathLike,
                out_dir: str | os.PathLike, target_recall: float | None = None,
                max_fpr: float | None = None,
                train_dir: str | os.PathLike | None = None) -> dict[str, float]:
  """Scores both folders, writes the figures and ``report.md`` to ``out_dir``; returns metrics.

  With ``target_recall`` or ``max_fpr`` the inspector's threshold is replaced by the
  one that reaches it on these folders (``metrics.threshold_for``) before the
  metrics are taken; the caller may then save it with the model. The yardsticks
  (``core.yardsticks``) are fitted on the OK images of ``train_dir`` (default: the
  folder the inspector was trained on) and scored on the same test arrays."""
  out = pathlib.Path(out_dir)
  out.mkdir(parents=True, exist_ok=True)
  ok_set, ng_set = inspector.load_images(test_ok), inspector.load_images(test_ng)
  arrays = {k: np.concatenate([ok_set.arrays[k], ng_set.arrays[k]]) for k in ok_set.arrays}
  names = ok_set.names + ng_set.names
  scores = inspector.score_arrays(arrays, names)
  labels = np.r_[np.zeros(len(ok_set.names)), np.ones(len(ng_set.names))].astype(bool)
  e = scores.energies
  source = (f"the top {inspector.config.get('contamination', 0.01):g} share of the "
            f"{'validation' if inspector.config.get('threshold_source', 'train') == 'val' else 'training'} energies")
  if target_recall is not None or max_fpr is not None:
    inspector.threshold = metrics.threshold_for(labels, e, target_recall, max_fpr)
    source = (f'chosen on these test folders for recall >= {target_recall}' if target_recall is not None
              else f'chosen on these test folders for false-positive rate <= {max_fpr}')
  yard = _yardsticks(inspector, arrays, labels, train_dir)
  above = e > inspector.threshold
  p, r, f1 = metrics.precision_recall_f1(labels, above)
  fpr = float(np.mean(above[~labels]))
  result = {'precision': p, 'recall': r, 'f1': f1, 'auroc': metrics.auroc(labels, e),
            'auprc': metrics.auprc(labels, e), 'false_positive_rate': fpr,
            'threshold': inspector.threshold,
            'n_ok': int((~labels).sum()), 'n_ng': int(labels.sum())}
  several = len(inspector.members) > 1
  if several:   # each member alone, beside the ensemble (``e``)
    member_auroc = [metrics.auroc(labels, m) for m in scores.member_energies]
    result.update(members=len(member_auroc), member_auroc_mean=float(np.mean(member_auroc)),
                  member_auroc_std=metrics.spread(member_auroc)['std'])
  health = {f'{name} (seed {m.config.seed})' if several else name: m.health_
            for member in inspector.members for name, m in member.items()}

  fig, ax = plots.subplots(figsize=(6, 4))
  # Quantile bins: a few very high energies would put every OK image in one linear bar.
  bins = np.unique(np.quantile(np.append(e, inspector.threshold), np.linspace(0, 1, 41)))
  ax.hist(e[~labels], bins=bins, alpha=0.6, label='OK')
  ax.hist(e[labels], bins=bins, alpha=0.6, label='NG')
  ax.axvline(inspector.threshold, color='k', ls='--', label='threshold')
  ax.set_xscale('symlog', linthresh=max(float(np.median(np.abs(e))), 1e-12))
  ax.set_xlabel('energy (symmetric log; bins hold equal shares of the images)'), ax.set_ylabel('images')
  ax.legend()
  plots.save(fig, out / 'energy_hist.png')

  _curves(labels, e, result, out / 'curves.png')

  region = inspector.regions[0].name
  z = inspector.embed(region, arrays[region])
  latent = inspector.models[region].config.model.latent_dims
  sample = np.sort(np.random.default_rng(0).permutation(len(e))[:TSNE_POINTS])
  for fname, pts, xl, yl, rows in [
      ('latent_scatter.png', z[:, [0, latent]], 'z_c[0]', 'relative distance', slice(None)),
      ('pca.png', pca_2d(z), 'PC 1', 'PC 2', slice(None)),
      ('tsne.png', tsne_2d(z[sample]), 't-SNE 1', 't-SNE 2', sample)]:
    lab = labels[rows]
    fig, ax = plots.subplots(figsize=(5, 4))
    ax.scatter(pts[~lab, 0], pts[~lab, 1], s=12, label='OK', rasterized=True)
    ax.scatter(pts[lab, 0], pts[lab, 1], s=12, marker='x', label='NG', rasterized=True)
    ax.set_xlabel(xl), ax.set_ylabel(yl), ax.set_title(f'region {region!r}'), ax.legend()
    ax.xaxis.set_major_locator(MaxNLocator(5))   # long tick labels of tiny codes must not overlap
    ax.ticklabel_format(style='sci', scilimits=(-3, 3), useOffset=False)
    plots.save(fig, out / fname)

  images = arrays[region]
  worst = np.argsort(-e, kind='stable')[:N_GALLERY]
  ok_high = np.flatnonzero(~labels)[np.argsort(-e[~labels], kind='stable')][:N_GALLERY]
  ng_low = np.flatnonzero(labels)[np.argsort(e[labels], kind='stable')][:N_GALLERY]
  title = lambda i, what: f'{what} {e[i]:.3g}\n{_short(names[i])}'
  _gallery(images, worst, [title(i, 'NG' if labels[i] else 'OK') for i in worst], out / 'worst.png', '')
  _gallery(images, ok_high, [title(i, 'FP' if above[i] else 'OK, below') for i in ok_high],
           out / 'false_positives.png', 'no OK images')
  _gallery(images, ng_low, [title(i, 'MISSED' if not above[i] else 'NG, caught') for i in ng_low],
           out / 'missed.png', 'no NG images')

  yard_md = yard if isinstance(yard, str) else '\n'.join(
      ['| scorer | AUROC | AUPRC |', '|---|---|---|', f'| **DAGMM** | {result["auroc"]:.4f} | {result["auprc"]:.4f} |']
      + [f'| {name} | {v["auroc"]:.4f} | {v["auprc"]:.4f} |' for name, v in yard.items()])
  members_md = ''
  if several:
    members_md = (f'; {len(inspector.members)} members (seeds '
                  f'{[int(m[region].config.seed) for m in inspector.members]}), the score is the mean of '
                  'their energies standardised by their training images: ensemble AUROC '
                  f'{result["auroc"]:.4f}, the members alone {result["member_auroc_mean"]:.4f} ± '
                  f'{result["member_auroc_std"]:.4f}')
  rows = '\n'.join(f'| {k} | {v:.4g} |' if isinstance(v, float) else f'| {k} | {v} |'
                   for k, v in result.items())
  table = lambda idx: '\n'.join(f'| {names[i]} | {"NG" if labels[i] else "OK"} | {e[i]:.4g} | '
                                  f'{"yes" if above[i] else "no"} |' for i in idx)
  head = '| file | label | energy | flagged |\n|---|---|---|---|'
  files.write_text(out / 'report.md', f"""# Inspection report

Pattern `{inspector.config.pattern}`, regions {[r.name for r in inspector.regions]}
(image energy = sum of region energies{members_md}). OK: `{test_ok}`, NG: `{test_ng}`.
Networks: {'final' if inspector.step is None else f'epoch {inspector.step} of training (GMMs and threshold refitted on the training images)'}.
Threshold: {inspector.threshold:.4g} ({source}).

| metric | value |
|---|---|
{rows}

## Beside plain yardsticks
Fitted on the training OK images only, scored on the same test arrays:
PCA reconstruction residual with 10 and 50 components, distance to the 5th-nearest
training image (`dagmm_jax/core/yardsticks.py`). A model below them adds nothing.

{yard_md}

## Code health (training images)
{_health_lines(health)}

## Energies
![energy histogram](energy_hist.png)

## ROC and precision-recall
![curves](curves.png)

## Latent space (region `{region}`)
![latent scatter](latent_scatter.png)
![PCA of z](pca.png)
![t-SNE of z](tsne.png)

t-SNE (scikit-learn, perplexity 30 or (n - 1) / 3 when fewer points) of at most {TSNE_POINTS} images, a fixed sample.

## Highest energies
![worst](worst.png)

{head}
{table(worst)}

## False positives: the highest-energy OK images ({int(np.sum(above & ~labels))} flagged)
![false positives](false_positives.png)

{head}
{table(ok_high)}

## Missed: the lowest-energy NG images ({int(np.sum(~above & labels))} not flagged)
![missed](missed.png)

{head}
{table(ng_low)}
""")
  files.write_json(out / 'metrics.json', {**result, 'yardsticks': yard, 'health': health})
  return result
