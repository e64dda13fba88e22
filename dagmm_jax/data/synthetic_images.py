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
was measured with benchmarks/bench_images.py (results/bench_images): in
the test suite's small run (32 x 32, 60 training parts, 200 epochs,
experiments/images.py) scratches and spots 0.1 brighter or darker than the plate
give AUROC 0.67-0.81 over seeds 0-2 (untrained network 0.62-0.73), 0.2 gives
0.97-0.99 (untrained 0.68-0.82), and the default 0.4 gives 1.000 on seeds 0-5
(untrained 0.78-0.87). Missing pieces score 1.000 at every contrast.

The surface set (``write_surface_dataset``, section below) is the harder one, made
to look like a real inspection job: random textures, uneven light, sizes and
aspects that vary, mixed PNG / JPEG, small defects (1-3% of the image).
"""
from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Iterator

import numpy as np
from PIL import Image
from scipy import ndimage

DEFECTS = ('scratch', 'spot', 'missing')
FORMATS = ('png', 'bmp', 'jpg')
BACKGROUND = 0.1
CONTRAST = 0.4        # scratch/spot: brightness step against the plate under them
DEFECT_SCALE = 1.0    # multiplies the defects' sizes

Box = tuple[int, int, int, int]   # (x0, y0, x1, y1), exclusive max


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


# -- surfaces: a harder set -------------------------------------------------------
#
# A surface image shows one flat part (a rectangle, each margin 3-9% of the side,
# on a dark background) whose surface is a random texture: band-limited noise
# mixed with brushed grain (noise smoothed along one random direction), under an
# uneven illumination (overall brightness, a linear gradient, a low-frequency
# blob, vignetting) that also lights the background, plus sensor noise. Images
# vary in size and aspect (sides 96-256 px, width / height 0.6-1.6), so a
# pattern's resize distorts them differently. NG parts carry one small defect
# covering 1-3% of the image: a 'pit' (a dark blob or cluster of dots), a
# 'crack' (a darker 1-2 px random-walk hairline), a 'frayed_edge' (a torn-away
# region with a ragged outline along one side of the part, showing the
# background) or a 'patch' (a low-contrast region of another texture and
# brightness with soft edges). Files are PNG and JPEG (quality 90), mixed.

SURFACE_DEFECTS = ('pit', 'crack', 'frayed_edge', 'patch')
SURFACE_FORMATS = ('png', 'jpg')


@dataclasses.dataclass(frozen=True)
class SurfaceParams:
  """Difficulty of the surface set; each range is drawn uniformly per image (the
  aspect log-uniformly)."""
  sides: tuple[int, int] = (96, 256)                 # height and width, pixels
  aspect: tuple[float, float] = (0.6, 1.6)           # width / height (log-uniform)
  margin: tuple[float, float] = (0.03, 0.09)         # background margin per side, fraction of the side
  brightness: tuple[float, float] = (0.3, 0.65)      # mean level of the part
  background: tuple[float, float] = (0.03, 0.1)      # level of the background
  illumination: float = 0.3                          # max gradient, blob and vignetting strength
  texture: tuple[float, float] = (0.05, 0.15)        # texture std relative to the local level
  noise: tuple[float, float] = (0.005, 0.015)        # sensor noise std
  area: tuple[float, float] = (0.01, 0.03)           # defect area, fraction of the image
  darkening: tuple[float, float] = (0.35, 0.6)       # pit / crack: relative darkening
  patch_shift: tuple[float, float] = (0.12, 0.2)     # patch: relative brightness step (+ or -)
  patch_texture: tuple[float, float] = (0.01, 0.04)  # patch: std of its own (finer) texture


SURFACE = SurfaceParams()


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
  return float(rng.uniform(*bounds))


def surface_size(rng: np.random.Generator, params: SurfaceParams = SURFACE) -> tuple[int, int]:
  """``(height, width)``: sides in ``params.sides``, width / height in ``params.aspect``."""
  lo, hi = params.sides
  aspect = float(np.exp(rng.uniform(*np.log(params.aspect))))
  height = rng.uniform(max(lo, lo / aspect), min(hi, hi / aspect))
  return int(round(height)), int(np.clip(round(aspect * height), lo, hi))


def _filtered_noise(rng: np.random.Generator, shape: tuple[int, int], gain) -> np.ndarray:
  """White noise filtered in the Fourier domain by ``gain(fy, fx)`` (cycles per pixel),
  scaled to unit std (periodic, so it tiles)."""
  fy, fx = np.fft.fftfreq(shape[0])[:, None], np.fft.rfftfreq(shape[1])[None, :]
  out = np.fft.irfft2(np.fft.rfft2(rng.standard_normal(shape)) * gain(fy, fx), s=shape)
  return out / (out.std() + 1e-12)


def band_noise(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
  """Unit-std band-limited noise: a random band of spatial frequencies (a difference
  of Gaussians, grain 0.7-2.5 px)."""
  s = rng.uniform(0.7, 2.5)

  def g(fy, fx):
    f2 = fy ** 2 + fx ** 2
    return np.exp(-2 * (np.pi * s) ** 2 * f2) - np.exp(-2 * (np.pi * 4 * s) ** 2 * f2)
  return _filtered_noise(rng, shape, g)


def brushed_noise(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
  """Unit-std brushed grain: noise smoothed 8-30 px along a random direction and
  0.5-1.2 px across it."""
  theta, along, across = rng.uniform(0, np.pi), rng.uniform(8, 30), rng.uniform(0.5, 1.2)
  c, s = np.cos(theta), np.sin(theta)

  def g(fy, fx):
    u, v = fx * c + fy * s, -fx * s + fy * c
    return np.exp(-2 * np.pi ** 2 * ((along * u) ** 2 + (across * v) ** 2))
  return _filtered_noise(rng, shape, g)


def illumination(rng: np.random.Generator, shape: tuple[int, int], strength: float) -> np.ndarray:
  """``[H, W]`` relative gain around 1: a linear gradient, a low-frequency blob
  (brighter or darker) and vignetting, each up to ``strength``."""
  h, w = shape
  yy, xx = np.mgrid[-1:1:h * 1j, -1:1:w * 1j]
  phi = rng.uniform(0, 2 * np.pi)
  gradient = rng.uniform(0, strength) * (xx * np.cos(phi) + yy * np.sin(phi))
  cy, cx, width = rng.uniform(-0.7, 0.7), rng.uniform(-0.7, 0.7), rng.uniform(0.3, 0.8)
  blob = rng.uniform(-strength, strength) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * width ** 2))
  vignette = rng.uniform(0, strength) * (xx ** 2 + yy ** 2) / 2
  return np.maximum(1 + gradient + blob - vignette, 0.2)


def _part_box(rng: np.random.Generator, shape: tuple[int, int], params: SurfaceParams) -> Box:
  """``(x0, y0, x1, y1)`` of the part: each margin a random fraction of its side."""
  h, w = shape
  m = [int(round(rng.uniform(*params.margin) * side)) for side in (w, h, w, h)]
  return max(m[0], 2), max(m[1], 2), w - max(m[2], 2), h - max(m[3], 2)


def surface_part(rng: np.random.Generator, height: int, width: int,
                 params: SurfaceParams = SURFACE) -> np.ndarray:
  """``[height, width, 1]`` float32 in [0, 1]: a textured part under uneven light
  on a dark background (see the section comment above)."""
  return surface_part_with_box(rng, height, width, params)[0]


def surface_part_with_box(rng: np.random.Generator, height: int, width: int,
                          params: SurfaceParams = SURFACE) -> tuple[np.ndarray, Box]:
  """``surface_part`` and the part's box ``(x0, y0, x1, y1)`` (exclusive max)."""
  shape = (height, width)
  mix = rng.uniform()
  texture = mix * band_noise(rng, shape) + (1 - mix) * brushed_noise(rng, shape)
  texture /= texture.std() + 1e-12
  light = illumination(rng, shape, params.illumination)
  part = _uniform(rng, params.brightness) * light * (1 + _uniform(rng, params.texture) * texture)
  background = _uniform(rng, params.background) * light
  x0, y0, x1, y1 = _part_box(rng, shape, params)
  inside = np.zeros(shape)
  inside[y0:y1, x0:x1] = 1
  inside = ndimage.gaussian_filter(inside, 0.6)   # a slightly soft edge
  img = inside * part + (1 - inside) * background
  img += rng.normal(0, _uniform(rng, params.noise), shape)
  return np.clip(img, 0, 1).astype(np.float32)[..., None], (x0, y0, x1, y1)


def find_part_box(img: np.ndarray) -> Box:
  """``(x0, y0, x1, y1)`` (exclusive max) of the bright part of a surface image:
  the rows and columns whose median is above the midpoint of the background
  (corners) and part (centre) levels."""
  a = img[..., 0] if img.ndim == 3 else img
  h, w = a.shape
  c = max(2, min(h, w) // 50)
  corners = np.concatenate([a[:c, :c], a[:c, -c:], a[-c:, :c], a[-c:, -c:]], axis=None)
  centre = a[h // 4:3 * h // 4, w // 4:3 * w // 4]
  threshold = (np.median(corners) + np.median(centre)) / 2
  cols = np.flatnonzero(np.median(a, axis=0) > threshold)
  rows = np.flatnonzero(np.median(a, axis=1) > threshold)
  if not len(cols) or not len(rows):
    raise ValueError('no part found: the image has no region brighter than its corners')
  return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _top_k(score: np.ndarray, allowed: np.ndarray, k: int) -> np.ndarray:
  """Bool mask of the ``k`` allowed pixels with the highest ``score``."""
  flat = np.where(allowed, score, -np.inf).ravel()
  if k > allowed.sum():
    raise ValueError(f'a defect of {k} pixels does not fit in {allowed.sum()} allowed pixels')
  mask = np.zeros(flat.shape, bool)
  mask[np.argpartition(-flat, k - 1)[:k]] = True
  return mask.reshape(score.shape)


def _smooth(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
  """Unit-std smooth 2-D noise."""
  n = ndimage.gaussian_filter(rng.standard_normal(shape), sigma, mode='wrap')
  return n / (n.std() + 1e-12)


def _interior(shape: tuple[int, int], box: Box, inset: int) -> np.ndarray:
  """Bool mask of the part box shrunk by ``inset`` pixels."""
  x0, y0, x1, y1 = box
  m = np.zeros(shape, bool)
  m[y0 + inset:y1 - inset, x0 + inset:x1 - inset] = True
  return m


def _pit(rng: np.random.Generator, shape: tuple[int, int], box: Box, k: int) -> np.ndarray:
  """One irregular blob or a cluster of 3-7 dots, ``k`` pixels in all."""
  yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
  r = np.sqrt(k / np.pi)
  inset = int(3 * r) + 2
  cy, cx = rng.integers(box[1] + inset, box[3] - inset), rng.integers(box[0] + inset, box[2] - inset)
  n = 1 if rng.random() < 0.5 else int(rng.integers(3, 8))
  if n == 1:
    score = -np.hypot(yy - cy, xx - cx) / r + 0.25 * _smooth(rng, shape, max(1.0, r / 3))
  else:   # dot centres within 2 r of the centre
    dy, dx = np.clip(rng.normal(0, 1.1 * r, (2, n)), -2 * r, 2 * r)
    scale = rng.uniform(0.6, 1.4, n)
    score = np.max([-np.hypot(yy - cy - a, xx - cx - b) / s for a, b, s in zip(dy, dx, scale)], axis=0)
  return _top_k(score, _interior(shape, box, 2), k)


def _crack(rng: np.random.Generator, shape: tuple[int, int], box: Box, k: int) -> np.ndarray:
  """A 1-2 px wide random walk with momentum (and up to two branches) of at least
  ``k`` pixels (at most 4 more)."""
  x0, y0, x1, y1 = box
  lo, hi = np.array([y0 + 3, x0 + 3], float), np.array([y1 - 4, x1 - 4], float)
  mask = np.zeros(shape, bool)
  width = int(rng.integers(1, 3))
  p = rng.uniform(lo + 0.2 * (hi - lo), hi - 0.2 * (hi - lo))
  angle = rng.uniform(0, 2 * np.pi)
  shares = np.cumsum(rng.dirichlet(np.full(int(rng.integers(1, 4)), 3.0))) * k
  segment, count = 0, 0
  while count < k:
    if count >= shares[segment] and segment + 1 < len(shares):   # branch from a crack pixel
      segment += 1
      ys, xs = np.nonzero(mask)
      j = rng.integers(len(ys))
      p, angle = np.array([ys[j], xs[j]], float), rng.uniform(0, 2 * np.pi)
    angle += rng.normal(0, 0.2)
    step = np.array([np.sin(angle), np.cos(angle)])
    out = (p + step < lo) | (p + step > hi)
    if out.any():   # bounce off the part's side
      angle = -angle if out[0] else angle
      angle = np.pi - angle if out[1] else angle
      continue
    p = p + step
    for d in range(width):   # widened across the walk
      q = np.round(p + d * np.array([step[1], -step[0]])).astype(int)
      if not mask[q[0], q[1]]:
        mask[q[0], q[1]] = True
        count += 1
  return mask


def _frayed_edge(rng: np.random.Generator, shape: tuple[int, int], box: Box, k: int) -> np.ndarray:
  """``k`` pixels torn from one side of the part: depth from the side below a
  ragged profile over 35-80% of the side."""
  x0, y0, x1, y1 = box
  yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
  side = int(rng.integers(4))   # 0 top, 1 bottom, 2 left, 3 right
  depth = [yy - y0, y1 - 1 - yy, xx - x0, x1 - 1 - xx][side]
  along, (a0, a1) = (xx, (x0, x1)) if side < 2 else (yy, (y0, y1))
  length = int(rng.uniform(0.35, 0.8) * (a1 - a0))
  start = int(rng.integers(a0, a1 - length + 1))
  u = np.clip((along - start + 0.5) / length, 0, 1)
  rough = ndimage.gaussian_filter1d(rng.standard_normal(a1 - a0 + 8), rng.uniform(0.8, 2.5), mode='wrap')
  rough = rough / rough.std()
  profile = np.sin(np.pi * u) ** 0.6 * np.exp(0.35 * rough[np.clip(along - a0, 0, a1 - a0 - 1)]) + 1e-6
  score = -(depth + 0.5) / profile + 0.1 * (k / length) * _smooth(rng, shape, 1.0)
  allowed = (u > 0) & (u < 1) & _interior(shape, box, 0) & (depth < min(y1 - y0, x1 - x0) // 2)
  return _top_k(score, allowed, k)


def _patch(rng: np.random.Generator, shape: tuple[int, int], box: Box, k: int) -> np.ndarray:
  """An irregular elliptic region of ``k`` pixels."""
  yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
  r = np.sqrt(k / np.pi)
  ratio, theta = rng.uniform(1.0, 2.5), rng.uniform(0, np.pi)
  inset = int(np.sqrt(ratio) * r) + 4
  cy, cx = rng.integers(box[1] + inset, box[3] - inset), rng.integers(box[0] + inset, box[2] - inset)
  u = (xx - cx) * np.cos(theta) + (yy - cy) * np.sin(theta)
  v = -(xx - cx) * np.sin(theta) + (yy - cy) * np.cos(theta)
  score = -np.hypot(u / np.sqrt(ratio), v * np.sqrt(ratio)) / r + 0.3 * _smooth(rng, shape, max(1.5, r / 2))
  return _top_k(score, _interior(shape, box, 2), k)


_MASKS = {'pit': _pit, 'crack': _crack, 'frayed_edge': _frayed_edge, 'patch': _patch}


def surface_defect_mask(kind: str, shape: tuple[int, int], box: Box, rng: np.random.Generator,
                        area: tuple[float, float] = SURFACE.area) -> np.ndarray:
  """``[H, W]`` bool: where a defect of ``kind`` lies on the part ``box``; it covers
  a random fraction in ``area`` of the whole image."""
  if kind not in SURFACE_DEFECTS:
    raise ValueError(f'unknown surface defect {kind!r}; known: {SURFACE_DEFECTS}')
  n = shape[0] * shape[1]
  lo, hi = int(np.ceil(area[0] * n)), int(np.floor(area[1] * n)) - 4   # a crack may add 4 pixels
  if hi < lo:
    raise ValueError(f'area {area} of a {shape} image leaves no room for a defect')
  return _MASKS[kind](rng, shape, box, int(rng.integers(lo, hi + 1)))


def add_surface_defect(img: np.ndarray, kind: str, rng: np.random.Generator,
                       params: SurfaceParams = SURFACE, box: Box | None = None) -> np.ndarray:
  """A copy of the surface image ``img`` (``[H, W, 1]``) with one defect of
  ``kind`` (see ``SURFACE_DEFECTS``) on its part ``box`` (default: found by
  ``find_part_box``)."""
  a = img[..., 0].astype(np.float64)
  shape = a.shape
  box = find_part_box(img) if box is None else box
  mask = surface_defect_mask(kind, shape, box, rng, params.area)
  if kind in ('pit', 'crack'):
    soft = np.maximum(mask, ndimage.gaussian_filter(mask.astype(float), 0.5))
    out = a * (1 - _uniform(rng, params.darkening) * soft)
  elif kind == 'frayed_edge':
    c = max(2, min(shape) // 50)
    level = np.median(np.concatenate([a[:c, :c], a[:c, -c:], a[-c:, :c], a[-c:, -c:]], axis=None))
    soft = np.maximum(mask, ndimage.gaussian_filter(mask.astype(float), 0.5))
    torn = level + rng.normal(0, 0.01, shape)
    out = (1 - soft) * a + soft * torn
  else:
    soft = np.minimum(ndimage.gaussian_filter(mask.astype(float), rng.uniform(2, 4)) * 1.6, 1)
    shift = _uniform(rng, params.patch_shift) * rng.choice((-1.0, 1.0))
    texture = band_noise(rng, shape) * _uniform(rng, params.patch_texture)
    worn = ndimage.gaussian_filter(a, 3.0) * (1 + shift + texture)   # own texture smoothed away
    out = (1 - soft) * a + soft * worn
  return np.clip(out, 0, 1).astype(np.float32)[..., None]


def save_surface_image(img: np.ndarray, path: str | os.PathLike, jpeg_quality: int = 90) -> None:
  """Writes ``[H, W, 1]`` in [0, 1] as 8-bit grayscale PNG or JPEG (by the suffix)."""
  a = np.round(np.clip(img[..., 0], 0, 1) * 255).astype(np.uint8)
  options = {'quality': jpeg_quality} if pathlib.Path(path).suffix.lower() in ('.jpg', '.jpeg') else {}
  Image.fromarray(a).save(path, **options)


def surface_images(seed: int, n_ok: int, n_ng: int,
                   params: SurfaceParams = SURFACE) -> Iterator[tuple[np.ndarray, str]]:
  """Yields ``n_ok`` OK then ``n_ng`` NG surface images with their defect kind
  ('' for OK), NG kinds cycling through ``SURFACE_DEFECTS``; all from ``seed``."""
  rng = np.random.default_rng(seed)
  for i in range(n_ok + n_ng):
    img, box = surface_part_with_box(rng, *surface_size(rng, params), params)
    kind = '' if i < n_ok else SURFACE_DEFECTS[(i - n_ok) % len(SURFACE_DEFECTS)]
    yield (add_surface_defect(img, kind, rng, params, box) if kind else img), kind


def write_surface_dataset(root: str | os.PathLike, seed: int = 0, n_train: int = 300,
                          n_test_ok: int = 200, n_test_ng: int = 200,
                          formats: tuple[str, ...] = SURFACE_FORMATS, jpeg_quality: int = 90,
                          params: SurfaceParams = SURFACE) -> dict[str, pathlib.Path]:
  """Writes ``train/`` (OK), ``test/ok/`` and ``test/ng/`` surface images under
  ``root``; each file's format is drawn from ``formats``; NG kinds cycle through
  ``SURFACE_DEFECTS`` and end the file name. Returns the three folders."""
  root = pathlib.Path(root)
  folders = {'train': root / 'train', 'test_ok': root / 'test' / 'ok', 'test_ng': root / 'test' / 'ng'}
  counts = {'train': n_train, 'test_ok': n_test_ok, 'test_ng': n_test_ng}
  rng = np.random.default_rng(seed)
  for split, folder in folders.items():   # each split its own stream: n_train does not change the tests
    folder.mkdir(parents=True, exist_ok=True)
    split_seed = int(rng.integers(2 ** 63))
    ng = counts[split] if split == 'test_ng' else 0
    fmt_rng = np.random.default_rng(split_seed + 1)
    for i, (img, kind) in enumerate(surface_images(split_seed, counts[split] - ng, ng, params)):
      name = f'{split}_{i:04d}' + (f'_{kind}' if kind else '')
      fmt = formats[int(fmt_rng.integers(len(formats)))]
      save_surface_image(img, folder / f'{name}.{fmt}', jpeg_quality)
  return folders
