"""Image folders for visual inspection: patterns of regions, cropping, resizing.

A *pattern* is a dict ``{region_name: region}``; a region is a dict with
``width`` and ``height`` (resize target), ``region`` ('all', a box
``(xmin, ymin, xmax, ymax)`` in source pixels with exclusive max, or a list of
boxes, each resized to ``(width, height // n)`` -- the last one takes the
remainder -- and stacked vertically) and ``filters`` (the region's encoder).

Images are read once with Pillow, turned upright by their EXIF orientation,
converted to grayscale ('L') or RGB, cropped and resized (bilinear) for every
region and scaled to [0, 1] float32 by their bit depth: 8-bit images by 255,
16-bit grayscale PNG/TIFF (common from industrial cameras) by 65535, kept at
full precision (Pillow's ``convert('L')`` would clip them at 255).
"""
from __future__ import annotations

import os
import pathlib
import warnings
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from dagmm_jax.data.download import DataError

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')
SIXTEEN_BIT_MODES = ('I;16', 'I;16L', 'I;16B', 'I;16N', 'I')   # Pillow's modes of 16-bit grayscale
REGION_KEYS = ('width', 'height', 'region', 'filters')

Box = tuple[int, int, int, int]


class Region(NamedTuple):
  """A validated region of interest."""
  name: str
  width: int
  height: int
  boxes: tuple[Box, ...] | None   # None: the whole image
  filters: tuple[int, ...]


def _as_dict(obj: Any) -> dict:
  return obj.to_dict() if hasattr(obj, 'to_dict') else dict(obj)


def _positive_int(value: Any, what: str) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
    raise DataError(f'{what} must be a positive integer, got {value!r}')
  return int(value)


def _box(value: Any, what: str) -> Box:
  if (not isinstance(value, (tuple, list)) or len(value) != 4
      or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)):
    raise DataError(f'{what} must be a box (xmin, ymin, xmax, ymax) of 4 integers, got {value!r}')
  x0, y0, x1, y1 = (int(v) for v in value)
  if x0 < 0 or y0 < 0 or x1 <= x0 or y1 <= y0:
    raise DataError(f'{what} = {tuple(value)} is empty or negative: need 0 <= xmin < xmax '
                    'and 0 <= ymin < ymax')
  return x0, y0, x1, y1


def validate_region(name: str, spec: Mapping[str, Any]) -> Region:
  """Checks one region dict; returns a ``Region`` or raises ``DataError``."""
  what = f'region {name!r}'
  try:
    spec = _as_dict(spec)
  except (TypeError, ValueError):
    raise DataError(f'{what} must be a dict with keys {REGION_KEYS}, got {spec!r}') from None
  missing = [k for k in REGION_KEYS if k not in spec]
  if missing:
    raise DataError(f'{what} misses {missing}; a region needs {list(REGION_KEYS)}')
  unknown = sorted(set(spec) - set(REGION_KEYS))
  if unknown:
    raise DataError(f'{what} has unknown keys {unknown}; allowed: {list(REGION_KEYS)}')
  width = _positive_int(spec['width'], f'{what}: width')
  height = _positive_int(spec['height'], f'{what}: height')
  filters = spec['filters']
  if isinstance(filters, (int, np.integer)) or not isinstance(filters, (tuple, list)) or not filters:
    raise DataError(f'{what}: filters must be a non-empty list of positive integers, got {filters!r}')
  filters = tuple(_positive_int(f, f'{what}: filters entry') for f in filters)
  r = spec['region']
  if isinstance(r, str):
    if r != 'all':
      raise DataError(f"{what}: region must be 'all', a box or a list of boxes, got {r!r}")
    boxes = None
  elif isinstance(r, (tuple, list)) and r and all(isinstance(b, (tuple, list)) for b in r):
    boxes = tuple(_box(b, f'{what}: box {i}') for i, b in enumerate(r))
    if len(boxes) > height:
      raise DataError(f'{what}: {len(boxes)} stacked boxes need height >= {len(boxes)}, got {height}')
  else:
    boxes = (_box(r, f'{what}: region'),)
  return Region(name, width, height, boxes, filters)


def validate_pattern(pattern: Mapping[str, Any]) -> list[Region]:
  """Checks a pattern ``{name: region}``; returns its regions in order."""
  try:
    pattern = _as_dict(pattern)
  except (TypeError, ValueError):
    raise DataError(f'a pattern must be a dict of regions, got {pattern!r}') from None
  if not pattern:
    raise DataError('a pattern needs at least one region')
  return [validate_region(str(name), spec) for name, spec in pattern.items()]


def get_pattern(patterns: Mapping[str, Any], name: str) -> list[Region]:
  """The validated regions of the pattern called ``name``."""
  patterns = _as_dict(patterns)
  if name not in patterns:
    raise DataError(f'unknown pattern {name!r}; known patterns: {sorted(patterns)}')
  try:
    return validate_pattern(patterns[name])
  except DataError as e:
    raise DataError(f'pattern {name!r}: {e}') from None


def list_images(folder: str | os.PathLike) -> list[pathlib.Path]:
  """Sorted image files (PNG, JPEG, BMP, TIFF) directly in ``folder``."""
  folder = pathlib.Path(folder)
  if not folder.exists():
    raise DataError(f'image folder {folder} does not exist')
  if not folder.is_dir():
    raise DataError(f'{folder} is not a folder (expected a folder of images)')
  files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
  if not files:
    raise DataError(f'image folder {folder} holds no images (expected files ending in '
                    f'{", ".join(IMAGE_SUFFIXES)})')
  return files


def read_image(path: str | os.PathLike, channels: int) -> Image.Image:
  """The image at ``path``, upright (EXIF orientation applied), as grayscale
  (1 channel: mode 'L', or 'F' in [0, 1] for 16-bit images) or RGB (3 channels)."""
  if channels not in (1, 3):
    raise DataError(f'channels must be 1 (grayscale) or 3 (RGB), got {channels!r}')
  try:
    with Image.open(path) as im:
      im.load()
      im = ImageOps.exif_transpose(im)
      if im.mode in SIXTEEN_BIT_MODES:
        return _sixteen_bit(im, channels, path)
      return im.convert('L' if channels == 1 else 'RGB')
  except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
    raise DataError(f'cannot read image {path}: {type(e).__name__}: {e}') from None


def _sixteen_bit(im: Image.Image, channels: int, path: str | os.PathLike) -> Image.Image:
  """A 16-bit grayscale image as mode 'F' scaled by 65535 to [0, 1]."""
  if channels != 1:
    raise DataError(f'image {path} is 16-bit grayscale (mode {im.mode}) but config.channels is '
                    f'{channels}; set --config.channels=1 for these images')
  a = np.asarray(im, np.float32)
  if a.min() < 0 or a.max() > 65535:
    raise DataError(f'image {path}: mode {im.mode} values {a.min():.0f}..{a.max():.0f} are not '
                    '16-bit (expected 0..65535)')
  return Image.fromarray(a / 65535.0)   # float32 -> mode 'F'


def _to_array(im: Image.Image) -> np.ndarray:
  a = np.asarray(im, np.float32)
  if im.mode != 'F':   # 'F' (16-bit sources) is already in [0, 1]
    a = a / 255.0
  return a[..., None] if a.ndim == 2 else a


def extract_region(im: Image.Image, region: Region, name: str = '') -> np.ndarray:
  """``[height, width, C]`` float32 in [0, 1]: the region cropped, resized, stacked."""
  if region.boxes is None:
    return _to_array(im.resize((region.width, region.height), Image.BILINEAR))
  n = len(region.boxes)
  heights = [region.height // n] * (n - 1) + [region.height - (region.height // n) * (n - 1)]
  parts = []
  for box, h in zip(region.boxes, heights):
    if box[2] > im.width or box[3] > im.height:
      raise DataError(f'image {name or "?"} is {im.width}x{im.height} (WxH), smaller than box '
                      f'{box} of region {region.name!r}')
    parts.append(_to_array(im.crop(box).resize((region.width, h), Image.BILINEAR)))
  return np.concatenate(parts, axis=0)


class ImageSet(NamedTuple):
  """Images of one folder: ``arrays[region] [N, H, W, C]`` and the file names."""
  arrays: dict[str, np.ndarray]
  names: list[str]
  n_skipped: int


def load_folder(folder: str | os.PathLike, regions: Sequence[Region], channels: int,
                skip_bad_images: bool = False) -> ImageSet:
  """Reads every image of ``folder`` once and extracts every region.

  Unreadable files raise ``DataError`` naming the file, or, with
  ``skip_bad_images``, are skipped with one warning giving their count. An image
  smaller than a crop box always raises (it is a pattern/data mismatch).
  """
  per_region: dict[str, list[np.ndarray]] = {r.name: [] for r in regions}
  names, bad = [], []
  for path in list_images(folder):
    try:
      im = read_image(path, channels)
    except DataError:
      if not skip_bad_images:
        raise
      bad.append(path.name)
      continue
    for r in regions:
      per_region[r.name].append(extract_region(im, r, str(path)))
    names.append(path.name)
  if bad:
    warnings.warn(f'skipped {len(bad)} unreadable image(s) in {folder}: {bad[:5]}'
                  f'{" ..." if len(bad) > 5 else ""}', stacklevel=2)
  if not names:
    raise DataError(f'image folder {folder}: none of its {len(bad)} image files could be read')
  arrays = {k: np.stack(v).astype(np.float32) for k, v in per_region.items()}
  return ImageSet(arrays, names, len(bad))
