"""Inspection report: energies of OK and NG test folders -> PNG figures + report.md.

Figures: energy histogram (OK vs NG, with the stored threshold), latent scatter
(first code dimension vs relative reconstruction distance, as in the paper's
Fig. 1), a 2-D PCA embedding of the full ``z`` of the first region, and the
worst-scored images as thumbnails. ``report.md`` embeds them and lists
precision/recall/F1 at the stored threshold, AUROC and AUPRC.
"""
from __future__ import annotations

import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from dagmm_jax import checkpoint, evaluate, figures, inference
from dagmm_jax.inspection import Inspector
from dagmm_jax.model import build_net

N_WORST = 8


def embed_z(inspector: Inspector, region: str, x: np.ndarray) -> np.ndarray:
  """``[N, latent + 2]`` embeddings ``z`` of ``x`` under the region's model."""
  m = inspector.models[region]
  z, _ = inference.embed(build_net(m.config), m.params_, jnp.asarray(x), jnp.arange(x.shape[0]),
                         jnp.asarray(m.shift_), jnp.asarray(m.scale_))
  return np.asarray(jax.device_get(z))


def pca_2d(z: np.ndarray) -> np.ndarray:
  """``[N, 2]`` projection on the two leading principal components (zero-padded if D < 2)."""
  zc = z - z.mean(axis=0)
  _, _, vt = np.linalg.svd(zc, full_matrices=False)
  p = zc @ vt[:2].T
  return np.pad(p, ((0, 0), (0, 2 - p.shape[1])))


def make_report(inspector: Inspector, test_ok: str | os.PathLike, test_ng: str | os.PathLike,
                out_dir: str | os.PathLike, target_recall: float | None = None,
                max_fpr: float | None = None) -> dict[str, float]:
  """Scores both folders, writes the figures and ``report.md`` to ``out_dir``; returns metrics.

  With ``target_recall`` or ``max_fpr`` the inspector's threshold is replaced by the
  one that reaches it on these folders (``evaluate.threshold_for``) before the
  metrics are taken; the caller may then save it with the model."""
  out = pathlib.Path(out_dir)
  out.mkdir(parents=True, exist_ok=True)
  ok_set, ng_set = inspector.load_images(test_ok), inspector.load_images(test_ng)
  arrays = {k: np.concatenate([ok_set.arrays[k], ng_set.arrays[k]]) for k in ok_set.arrays}
  names = ok_set.names + ng_set.names
  scores = inspector.score_arrays(arrays, names)
  labels = np.r_[np.zeros(len(ok_set.names)), np.ones(len(ng_set.names))].astype(bool)
  e = scores.energies
  source = (f"percentile {inspector.config.get('threshold_percentile', 99.0)} of the "
            f"{'validation' if inspector.config.get('threshold_source', 'train') == 'val' else 'training'} energies")
  if target_recall is not None or max_fpr is not None:
    inspector.threshold = evaluate.threshold_for(labels, e, target_recall, max_fpr)
    source = (f'chosen on these test folders for recall >= {target_recall}' if target_recall is not None
              else f'chosen on these test folders for false-positive rate <= {max_fpr}')
  p, r, f1 = evaluate.precision_recall_f1(labels, e > inspector.threshold)
  fpr = float(np.mean(e[~labels] > inspector.threshold))
  metrics = {'precision': p, 'recall': r, 'f1': f1, 'auroc': evaluate.auroc(labels, e),
             'auprc': evaluate.auprc(labels, e), 'false_positive_rate': fpr,
             'threshold': inspector.threshold,
             'n_ok': int((~labels).sum()), 'n_ng': int(labels.sum())}

  fig, ax = figures.subplots(figsize=(6, 4))
  bins = np.histogram_bin_edges(e, bins=30)
  ax.hist(e[~labels], bins=bins, alpha=0.6, label='OK')
  ax.hist(e[labels], bins=bins, alpha=0.6, label='NG')
  ax.axvline(inspector.threshold, color='k', ls='--', label='threshold')
  ax.set_xlabel('energy'), ax.set_ylabel('images'), ax.legend()
  figures.save(fig, out / 'energy_hist.png')

  region = inspector.regions[0].name
  z = embed_z(inspector, region, arrays[region])
  latent = inspector.models[region].config.model.latent_dims
  for fname, pts, xl, yl in [('latent_scatter.png', z[:, [0, latent]], 'z_c[0]', 'relative distance'),
                             ('pca.png', pca_2d(z), 'PC 1', 'PC 2')]:
    fig, ax = figures.subplots(figsize=(5, 4))
    ax.scatter(pts[~labels, 0], pts[~labels, 1], s=12, label='OK')
    ax.scatter(pts[labels, 0], pts[labels, 1], s=12, marker='x', label='NG')
    ax.set_xlabel(xl), ax.set_ylabel(yl), ax.set_title(f'region {region!r}'), ax.legend()
    figures.save(fig, out / fname)

  worst = np.argsort(-e, kind='stable')[:N_WORST]
  fig, axes = figures.subplots(1, len(worst), figsize=(2 * len(worst), 2.4), squeeze=False)
  for ax, i in zip(axes[0], worst):
    img = arrays[region][i]
    ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap='gray', vmin=0, vmax=1)
    ax.set_title(f'{"NG" if labels[i] else "OK"} {e[i]:.3g}\n{names[i][:18]}', fontsize=7)
    ax.axis('off')
  figures.save(fig, out / 'worst.png')

  rows = '\n'.join(f'| {k} | {v:.4g} |' if isinstance(v, float) else f'| {k} | {v} |'
                   for k, v in metrics.items())
  worst_rows = '\n'.join(f'| {names[i]} | {"NG" if labels[i] else "OK"} | {e[i]:.4g} |' for i in worst)
  checkpoint.write_text(out / 'report.md', f"""# Inspection report

Pattern `{inspector.config.pattern}`, regions {[r.name for r in inspector.regions]}
(image energy = sum of region energies). OK: `{test_ok}`, NG: `{test_ng}`.
Threshold: {inspector.threshold:.4g} ({source}).

| metric | value |
|---|---|
{rows}

## Energies
![energy histogram](energy_hist.png)

## Latent space (region `{region}`)
![latent scatter](latent_scatter.png)
![PCA of z](pca.png)

## Worst-scored images
![worst](worst.png)

| file | label | energy |
|---|---|---|
{worst_rows}
""")
  checkpoint.write_json(out / 'metrics.json', metrics)
  return metrics
