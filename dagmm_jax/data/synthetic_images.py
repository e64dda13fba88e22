"""Synthetic visual-inspection data: textured good parts and defective (NG) parts.

A good part is a grey plate with a regular stripe/grid texture (random phase and
a little brightness jitter) plus small pixel noise, on a dark background border.
NG parts add one defect: a 'scratch' (a line at least size/4 long), a 'spot' (a round blob) or a
'missing' piece (a rectangle cut out to the background level). Scratches and
spots are drawn ``contrast`` brighter or darker (half each) than the plate under
them, so the texture stays visible through them; ``defect_scale`` multiplies the
spot radius, the scratch width and the missing piece's sides.
Everything derives from the seed: the same seed gives the same files.

How large and contrasted a defect must be for the convolutional DAGMM to see it
was measured with benchmarks/bench_images.py (issue 18; results/bench_images): in
the test suite's small run (32 x 32, 60 training parts, 200 epochs,
experiments/images.py) scratches and spots 0.1 brighter or darker than the plate
give AUROC 0.67-0.81 over seeds 0-2 (untrained network 0.62-0.73), 0.2 gives
0.97-0.99 (untrained 0.68-0.82), and the default 0.4 gives 1.000 on seeds 0-5
(untrained 0.78-0.87). Missing pieces score 1.000 at every contrast.
"""
from __future__ import annotations

import os
import pathlib

import numpy as np
from PIL import Image

DEFECTS = ('scratch', 'spot', 'missing')
FORMATS = ('png', 'bmp', 'jpg')
BACKGROUND = 0.1
CONTRAST = 0.4        # scratch/spot: brightness step against the plate under them
DEFECT_SCALE = 1.0    # multiplies the defects' sizes


def good_part(rng: np.random.Generator, size: int = 64, channels: int = 1) -> np.ndarray:
  """``[size, size, channels]`` float32 in [0, 1]: a textured part."""
  yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
  period = size / 8
  phase = rng.uniform(0, 2 * np.pi, 2)
  texture = 0.08 * np.sin(2 * np.pi * xx / period + phase[0]) + 0.05 * np.sin(2 * np.pi * yy / period + phase[1])
  img = 0.55 + rng.uniform(-0.03, 0.03) + texture
  margin = size // 16
  border = (yy < margin) | (yy >= size - margin) | (xx < margin) | (xx >= size - margin)
  img = np.where(border, BACKGROUND, img)
  img = img[..., None] + rng.normal(0, 0.02, (size, size, 1))
  if channels == 3:
    tint = np.array([1.0, 0.9, 0.75], np.float32) + rng.uniform(-0.02, 0.02, 3)
    img = img * tint + rng.normal(0, 0.01, (size, size, 3))
  return np.clip(img, 0, 1).astype(np.float32)


def defect_mask(kind: str, size: int, rng: np.random.Generator,
                defect_scale: float = DEFECT_SCALE) -> np.ndarray:
  """``[size, size]`` bool: where a defect of ``kind`` lies (inside the plate)."""
  if kind not in DEFECTS:
    raise ValueError(f'unknown defect {kind!r}; known: {DEFECTS}')
  if defect_scale <= 0:
    raise ValueError(f'defect_scale must be positive, got {defect_scale}')
  lo, hi = size // 8, size - size // 8
  yy, xx = np.mgrid[0:size, 0:size]
  mask = np.zeros((size, size), bool)
  if kind == 'scratch':
    x0, y0, x1, y1 = rng.integers(lo, hi, 4)
    while np.hypot(x1 - x0, y1 - y0) < size / 4:   # at least a quarter of the side long
      x0, y0, x1, y1 = rng.integers(lo, hi, 4)
    t = np.linspace(0, 1, 4 * size)
    xs, ys = np.round(x0 + t * (x1 - x0)).astype(int), np.round(y0 + t * (y1 - y0)).astype(int)
    width = max(1, int(round(defect_scale * size / 16)))
    for d in range(width):   # widened across the line's main direction
      dy, dx = (d, 0) if abs(x1 - x0) >= abs(y1 - y0) else (0, d)
      mask[np.clip(ys + dy, 0, size - 1), np.clip(xs + dx, 0, size - 1)] = True
  elif kind == 'spot':
    cy, cx = rng.integers(lo, hi, 2)
    r = rng.uniform(size / 16, size / 8) * defect_scale
    mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
  else:
    h, w = np.minimum(rng.integers(size // 6, size // 3, 2) * defect_scale, hi - lo - 1).astype(int)
    h, w = max(h, 1), max(w, 1)
    y0, x0 = rng.integers(lo, hi - h), rng.integers(lo, hi - w)
    mask[y0:y0 + h, x0:x0 + w] = True
  return mask


def add_defect(img: np.ndarray, kind: str, rng: np.random.Generator,
               contrast: float = CONTRAST, defect_scale: float = DEFECT_SCALE) -> np.ndarray:
  """A copy of ``img`` with one defect of ``kind`` (see ``DEFECTS`` and the module doc)."""
  mask = defect_mask(kind, img.shape[0], rng, defect_scale)
  out = img.copy()
  if kind == 'missing':
    out[mask] = BACKGROUND
  else:
    sign = 1.0 if rng.random() < 0.5 else -1.0
    out[mask] = np.clip(out[mask] + sign * contrast, 0, 1)
  return out


def save_image(img: np.ndarray, path: str | os.PathLike) -> None:
  """Writes ``[H, W, C]`` in [0, 1] as an 8-bit image; the suffix picks the format."""
  a = np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
  Image.fromarray(a[..., 0] if a.shape[-1] == 1 else a).save(path)


def write_dataset(root: str | os.PathLike, seed: int = 0, size: int = 64, channels: int = 1,
                  n_train: int = 100, n_val: int = 20, n_test_ok: int = 20, n_test_ng: int = 20,
                  formats: tuple[str, ...] = FORMATS, contrast: float = CONTRAST,
                  defect_scale: float = DEFECT_SCALE) -> dict[str, pathlib.Path]:
  """Writes ``train/`` (OK only), ``val/`` (OK), ``test/ok/`` and ``test/ng/`` under
  ``root``; files cycle through ``formats``. NG parts cycle through ``DEFECTS``.
  Returns the four folders."""
  rng = np.random.default_rng(seed)
  root = pathlib.Path(root)
  folders = {'train': root / 'train', 'val': root / 'val',
             'test_ok': root / 'test' / 'ok', 'test_ng': root / 'test' / 'ng'}
  counts = {'train': n_train, 'val': n_val, 'test_ok': n_test_ok, 'test_ng': n_test_ng}
  for split, folder in folders.items():
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(counts[split]):
      img = good_part(rng, size, channels)
      name = f'{split}_{i:04d}'
      if split == 'test_ng':
        kind = DEFECTS[i % len(DEFECTS)]
        img = add_defect(img, kind, rng, contrast, defect_scale)
        name += f'_{kind}'
      save_image(img, folder / f'{name}.{formats[i % len(formats)]}')
  return folders
