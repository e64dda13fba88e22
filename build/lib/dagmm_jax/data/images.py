"""Image folders for visual inspection: patterns of regions, cropping, resizing.

A *pattern* is a dict ``{region_name: region}``; a region is a dict with
``width`` and ``height`` (resize target), ``region`` ('all', a box
``(xmin, ymin, xmax, ymax)`` in source pixels with exclusive max, or a list of
boxes, each resized to ``(width, height // n)`` -- the last one takes the
remainder -- and stacked vertically) and ``filters`` (the region's encoder).

Images are read once with Pillow, turned upright by their EXIF orientation,
converted to grayscale ('L') or RGB, cropped and resized (bilinear) for every
region, and kept as integers at their bit depth: uint8 for 8-bit images,
uint16 for 16-bit grayscale PNG/TIFF (common from industrial cameras; Pillow's
``convert('L')`` would clip them at 255). A folder's arrays are four times
smaller than float32 ones; ``estimator.DAGMM`` divides each batch by
``pixel_scale(dtype)`` on the device, and ``to_unit`` gives the same [0, 1]
float32 values on the host (for display).

Channels: ``config.channels = 1`` takes grayscale files (modes 1, L, LA, I;16,
I, F, or P with a gray palette) and also colour-mode files whose three
channels are identical in every pixel (e.g. a gray JPEG saved as RGB: their
'L' conversion is exactly that gray); any other colour image raises
``DataError`` naming the file and its mode. ``config.channels = 3`` takes
colour-mode files (RGB, RGBA, CMYK, YCbCr, P with a colour palette, ...) and
raises on a grayscale file. A mismatch is a configuration error: it raises
even with ``skip_bad_images``.
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
GRAY_MODES = ('1', 'L', 'LA', 'La', 'F') + SIXTEEN_BIT_MODES     # grayscale by their mode
PALETTE_MODES = ('P', 'PA')                                      # grayscale when the palette is gray
PIXEL_SCALES = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
REGION_KEYS = ('width', 'height', 'region', 'filters')
OPTIONAL_REGION_KEYS = ('tiles',)   # tiles: n cuts the resized region into an n x n grid

Box = tuple[int, int, int, int]


class Region(NamedTuple):
  """A validated region of interest."""
  name: str
  width: int
  height: int
  boxes: tuple[Box, ...] | None   # None: the whole image
  filters: tuple[int, ...]
  tiles: int = 1                  # n: the resized region is cut into n x n tiles, one shared model


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
  unknown = sorted(set(spec) - set(REGION_KEYS) - set(OPTIONAL_REGION_KEYS))
  if unknown:
    raise DataError(f'{what} has unknown keys {unknown}; allowed: '
                    f'{list(REGION_KEYS + OPTIONAL_REGION_KEYS)}')
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
  tiles = _positive_int(spec.get('tiles', 1), f'{what}: tiles')
  if width % tiles or height % tiles:
    raise DataError(f'{what}: width {width} and height {height} must be multiples of tiles = {tiles}')
  return Region(name, width, height, boxes, filters, tiles)


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


class ChannelMismatch(DataError):
  """An image's colour (RGB vs grayscale) does not match ``config.channels``: a
  configuration error, raised even with ``skip_bad_images``."""


def pixel_scale(dtype: np.dtype | type) -> float:
  """What a pixel of ``dtype`` is divided by to lie in [0, 1]: 255 (uint8), 65535
  (uint16), 1.0 (floats, taken to be in [0, 1] already)."""
  dtype = np.dtype(dtype)
  if dtype in PIXEL_SCALES:
    return PIXEL_SCALES[dtype]
  if np.issubdtype(dtype, np.floating):
    return 1.0
  raise TypeError(f'images must be uint8, uint16 or float in [0, 1], got dtype {dtype}')


def to_unit(a: np.ndarray) -> np.ndarray:
  """``a`` as float32 in [0, 1]: uint8 / 255, uint16 / 65535; float arrays are
  returned unchanged (as float32). The values the device computes per batch."""
  a = np.asarray(a)
  if np.issubdtype(a.dtype, np.floating):
    return a.astype(np.float32, copy=False)
  return a.astype(np.float32) / np.float32(pixel_scale(a.dtype))


def _gray_content(im: Image.Image) -> Image.Image | None:
  """``im`` as mode 'L' when its three colour channels are identical in every
  pixel (then that is exactly the gray value), else None."""
  rgb = np.asarray(im.convert('RGB'))
  if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
    return Image.fromarray(np.ascontiguousarray(rgb[..., 0]))
  return None


def read_image(path: str | os.PathLike, channels: int) -> Image.Image:
  """The image at ``path``, upright (EXIF orientation applied): mode 'L' or
  'I;16' (16-bit grayscale sources) with 1 channel, 'RGB' with 3 channels.
  ``ChannelMismatch`` (a ``DataError``) when its colour does not fit ``channels``
  (see the module doc)."""
  if channels not in (1, 3):
    raise DataError(f'channels must be 1 (grayscale) or 3 (RGB), got {channels!r}')
  try:
    with Image.open(path) as im:
      im.load()
      im = ImageOps.exif_transpose(im)
      return _convert(im, channels, path)
  except DataError:
    raise
  except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
    raise DataError(f'cannot read image {path}: {type(e).__name__}: {e}') from None


def _convert(im: Image.Image, channels: int, path: str | os.PathLike) -> Image.Image:
  mode = im.mode
  if channels == 3:   # the pixels are read only for a palette image, to tell a gray palette
    if mode in GRAY_MODES or (mode in PALETTE_MODES and _gray_content(im) is not None):
      what = f'mode {mode} with a gray palette' if mode in PALETTE_MODES else f'mode {mode}'
      raise ChannelMismatch(f'image {path} is grayscale ({what}) but config.channels is 3; '
                            'set --config.channels=1 for grayscale images')
    return im.convert('RGB')
  if mode in SIXTEEN_BIT_MODES:
    return _sixteen_bit(im, path)
  if mode in GRAY_MODES:
    return im.convert('L')
  as_gray = _gray_content(im)   # None: colour content
  if as_gray is None:
    raise ChannelMismatch(f'image {path} is a colour image (mode {mode}) but config.channels is 1; '
                          'set --config.channels=3 for colour images')
  return as_gray   # a colour mode (or palette) whose pixels are all gray: exactly convert('L')


def _sixteen_bit(im: Image.Image, path: str | os.PathLike) -> Image.Image:
  """A 16-bit grayscale image as mode 'I;16' (values checked to be 0..65535)."""
  a = np.asarray(im)
  if a.min() < 0 or a.max() > 65535:
    raise DataError(f'image {path}: mode {im.mode} values {a.min()}..{a.max()} are not '
                    '16-bit (expected 0..65535)')
  return Image.fromarray(a.astype(np.uint16))   # mode 'I;16'


def _resize(im: Image.Image, box: Box | None, size: tuple[int, int]) -> np.ndarray:
  """``[h, w, C]`` uint8 ('L', 'RGB') or uint16 ('I;16'): ``im`` cropped to ``box``
  and resized (bilinear) to ``size = (w, h)``.

  16-bit images are resized in mode 'F' (float32 of the raw counts) and rounded
  back to uint16: against the former float path (resize in 'F' of counts / 65535)
  ``to_unit`` of the result deviates by the rounding, at most 0.508 / 65535
  (measured on 200 random images, up- and downscaled). Pillow's own 'I' / 'I;16'
  bilinear resize rounds after each of its two passes and deviates by up to
  1.004 / 65535.
  """
  if im.mode == 'I;16':
    f = Image.fromarray(np.asarray(im, np.float32))
    f = (f if box is None else f.crop(box)).resize(size, Image.BILINEAR)
    a = np.clip(np.rint(np.asarray(f, np.float32)), 0, 65535).astype(np.uint16)
  else:
    a = np.asarray((im if box is None else im.crop(box)).resize(size, Image.BILINEAR))
  return a[..., None] if a.ndim == 2 else a


def extract_region(im: Image.Image, region: Region, name: str = '') -> np.ndarray:
  """``[height, width, C]`` uint8 (8-bit image) or uint16 (16-bit): the region
  cropped, resized, stacked (``to_unit`` scales it to [0, 1])."""
  if region.boxes is None:
    return _resize(im, None, (region.width, region.height))
  n = len(region.boxes)
  heights = [region.height // n] * (n - 1) + [region.height - (region.height // n) * (n - 1)]
  parts = []
  for box, h in zip(region.boxes, heights):
    if box[2] > im.width or box[3] > im.height:
      raise DataError(f'image {name or "?"} is {im.width}x{im.height} (WxH), smaller than box '
                      f'{box} of region {region.name!r}')
    parts.append(_resize(im, box, (region.width, h)))
  return np.concatenate(parts, axis=0)


def to_tiles(images: np.ndarray, n: int) -> np.ndarray:
  """``[N * n * n, H / n, W / n, C]``: each image of ``[N, H, W, C]`` cut into an
  ``n x n`` grid, image-major, then row-major: tile ``t`` of image ``i`` is
  ``out[i * n * n + t]``, from grid row ``t // n`` and column ``t % n``."""
  N, H, W, C = images.shape
  if H % n or W % n:
    raise ValueError(f'images of {H} x {W} pixels do not split into {n} x {n} tiles')
  t = images.reshape(N, n, H // n, n, W // n, C).transpose(0, 1, 3, 2, 4, 5)
  return t.reshape(N * n * n, H // n, W // n, C)


def from_tiles(tiles: np.ndarray, n: int) -> np.ndarray:
  """The images ``to_tiles`` cut: ``[N, H, W, C]`` from ``[N * n * n, h, w, C]``."""
  M, h, w, C = tiles.shape
  return tiles.reshape(M // (n * n), n, n, h, w, C).transpose(0, 1, 3, 2, 4, 5).reshape(
      M // (n * n), n * h, n * w, C)


def tile_scores(scores: np.ndarray, n: int, top_k: int = 1) -> np.ndarray:
  """``[N]`` image scores from per-tile scores ``[N * n * n]`` (``to_tiles`` order):
  the mean of each image's ``top_k`` highest tiles (1: the highest)."""
  per_image = np.asarray(scores).reshape(-1, n * n)
  k = min(max(1, int(top_k)), n * n)
  return np.mean(-np.sort(-per_image, axis=1)[:, :k], axis=1)


class ImageSet(NamedTuple):
  """Images of one folder: ``arrays[region] [N, H, W, C]`` (uint8 or uint16), the
  file names, the unreadable files skipped, and the source sizes read:
  ``{(width, height): count}``, most common first."""
  arrays: dict[str, np.ndarray]
  names: list[str]
  n_skipped: int
  skipped: list[str]
  source_sizes: dict[tuple[int, int], int]


def describe_sizes(sizes: dict[tuple[int, int], int], examples: dict[tuple[int, int], str],
                   limit: int = 5) -> str:
  """``'640x480 (58 images, e.g. a.png), 320x240 (2, e.g. b.png)'``: the ``limit``
  most common sizes (width x height) with their counts and one file each."""
  ranked = sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0]))
  parts = [f'{w}x{h} ({n} image{"s" if n != 1 else ""}, e.g. {examples[(w, h)]})' for (w, h), n in ranked[:limit]]
  return ', '.join(parts) + (f' and {len(ranked) - limit} more size(s)' if len(ranked) > limit else '')


BIT_DEPTHS = {np.dtype(np.uint8): '8-bit', np.dtype(np.uint16): '16-bit grayscale'}


def load_folder(folder: str | os.PathLike, regions: Sequence[Region], channels: int,
                skip_bad_images: bool = False) -> ImageSet:
  """Reads every image of ``folder`` once and extracts every region.

  ``arrays[region]`` is uint8 ``[N, H, W, C]`` for 8-bit images and uint16 for
  16-bit grayscale ones (``to_unit`` gives [0, 1] floats). Unreadable files
  raise ``DataError`` naming every one of them (the whole folder is read
  first), or, with ``skip_bad_images``, are skipped with one warning listing
  them all (``ImageSet.skipped``). Every image is resized to its region's size;
  when the folder's images come in more than one source size (the same part
  photographed at another resolution is resized without a word otherwise), a
  warning lists the sizes with their counts and one file each
  (``ImageSet.source_sizes``). Configuration and pattern
  mismatches always raise, ``skip_bad_images`` or not: an image smaller than a
  crop box, an image whose colour does not fit ``channels`` (a colour image
  with ``channels=1``, a grayscale one with ``channels=3``; the message names
  the file, its mode and the setting to use), and a folder mixing 8-bit and
  16-bit images (the message names one file of each).
  """
  per_region: dict[str, list[np.ndarray]] = {r.name: [] for r in regions}
  names, bad, errors = [], [], []
  first_of: dict[np.dtype, str] = {}   # bit depth -> first file of that depth
  sizes: dict[tuple[int, int], int] = {}
  example: dict[tuple[int, int], str] = {}   # size -> first file of that size
  for path in list_images(folder):
    try:
      im = read_image(path, channels)
    except ChannelMismatch:
      raise
    except DataError as e:
      bad.append(path.name)
      errors.append(str(e))
      continue
    sizes[im.size] = sizes.get(im.size, 0) + 1
    example.setdefault(im.size, path.name)
    arrays = [extract_region(im, r, str(path)) for r in regions]
    first_of.setdefault(arrays[0].dtype, path.name)
    if len(first_of) > 1:
      (d8, f8), (d16, f16) = sorted(first_of.items(), key=lambda kv: kv[0].itemsize)
      raise DataError(f'image folder {folder} mixes bit depths: {f8} is {BIT_DEPTHS[d8]}, {f16} is '
                      f'{BIT_DEPTHS[d16]}; convert its images to one bit depth')
    for r, a in zip(regions, arrays):
      per_region[r.name].append(a)
    names.append(path.name)
  if bad and not skip_bad_images:
    raise DataError(f'image folder {folder}: {len(bad)} unreadable image(s): {bad}\n' + '\n'.join(errors)
                    + '\n(skip_bad_images / --skip_bad_images skips them)')
  if bad:
    warnings.warn(f'skipped {len(bad)} unreadable image(s) in {folder}: {bad}', stacklevel=2)
  if not names:
    raise DataError(f'image folder {folder}: none of its {len(bad)} image files could be read')
  if len(sizes) > 1:
    warnings.warn(f'image folder {folder} holds images of {len(sizes)} source sizes, each resized to its '
                  f'region size: {describe_sizes(sizes, example)}', stacklevel=2)
  arrays = {k: np.stack(v) for k, v in per_region.items()}
  ranked = dict(sorted(sizes.items(), key=lambda kv: (-kv[1], kv[0])))
  return ImageSet(arrays, names, len(bad), bad, ranked)
