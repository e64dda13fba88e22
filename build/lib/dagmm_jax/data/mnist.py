"""MNIST test set (IDX files) and the one-class image protocol as PNG folders.

The MNIST database of handwritten digits is distributed by Yann LeCun, Corinna
Cortes and Christopher Burges at http://yann.lecun.com/exdb/mnist/ (the original
distributor). That site has been unreliable, so ``download.FILES`` fetches
byte-identical copies of the same files from the cvdf-datasets mirror
(https://storage.googleapis.com/cvdf-datasets/mnist/); the SHA-256 digests in
``download.FILES`` are those of the official files.

Only the test set is used: ``t10k-images-idx3-ubyte.gz`` (10,000 images 28 x 28,
uint8) and ``t10k-labels-idx1-ubyte.gz`` (their digits 0-9). An IDX file is
gzip-compressed: a big-endian header (magic number 0x00000803 for images,
0x00000801 for labels; the item count; for images the rows and columns) followed
by the uint8 items.

One-class protocol: one digit is the normal (OK) class; half of its images
(chosen by a seeded permutation) train, the other half are the OK test images,
and all images of the other nine digits are the NG test images.
``write_one_class`` writes these as folders of 8-bit PNGs (``train/``,
``test/ok/``, ``test/ng/``) for ``dagmm-train-images`` and ``dagmm-report``.
"""
from __future__ import annotations

import gzip
import os
import pathlib
import zlib
from typing import NamedTuple

import numpy as np
from PIL import Image

from dagmm_jax.data.download import DataError, resolve_file

IMAGES_FILE = 't10k-images-idx3-ubyte.gz'
LABELS_FILE = 't10k-labels-idx1-ubyte.gz'
IMAGES_MAGIC = 0x00000803   # unsigned byte items, 3 dimensions
LABELS_MAGIC = 0x00000801   # unsigned byte items, 1 dimension
SIDE = 28
FOLDERS = {'train': pathlib.Path('train'), 'test_ok': pathlib.Path('test/ok'),
           'test_ng': pathlib.Path('test/ng')}


class Subset(NamedTuple):
  """Images of one split and their indices in the MNIST test set (ascending)."""
  images: np.ndarray   # [n, 28, 28] uint8
  index: np.ndarray    # [n] int64


def _read_gzip(path: str | os.PathLike) -> bytes:
  """The decompressed bytes of a gzip file, or DataError naming it."""
  try:
    with gzip.open(path, 'rb') as f:
      return f.read()
  except FileNotFoundError:
    raise DataError(f'{path}: file not found') from None
  except (OSError, EOFError, zlib.error) as e:   # BadGzipFile is an OSError; EOFError: cut short
    raise DataError(f'{path}: not a complete gzip file: {type(e).__name__}: {e}') from None


def _header(data: bytes, path: str | os.PathLike, magic: int, n_dims: int) -> tuple[int, ...]:
  """The ``n_dims`` big-endian uint32 sizes after the magic number."""
  what = 'images' if magic == IMAGES_MAGIC else 'labels'
  n_bytes = 4 * (1 + n_dims)
  if len(data) < n_bytes:
    raise DataError(f'{path}: truncated: an IDX {what} header needs {n_bytes} bytes, '
                    f'the file holds {len(data)}')
  found, *sizes = np.frombuffer(data, '>u4', 1 + n_dims).tolist()
  if found != magic:
    raise DataError(f'{path}: bad magic number 0x{found:08x}: expected 0x{magic:08x} (IDX {what})')
  return tuple(sizes)


def _payload(data: bytes, path: str | os.PathLike, offset: int, shape: tuple[int, ...]) -> np.ndarray:
  """The uint8 items after the header, exactly ``prod(shape)`` of them."""
  expected = int(np.prod(shape))
  found = len(data) - offset
  if found < expected:
    raise DataError(f'{path}: truncated: the header announces {" x ".join(map(str, shape))} = '
                    f'{expected} bytes of data, the file holds {found}')
  if found > expected:
    raise DataError(f'{path}: {found - expected} bytes after the {expected} the header announces')
  return np.frombuffer(data, np.uint8, expected, offset).reshape(shape).copy()


def read_images(path: str | os.PathLike) -> np.ndarray:
  """``[N, 28, 28]`` uint8 from a gzip IDX images file (magic 0x00000803)."""
  data = _read_gzip(path)
  n, rows, cols = _header(data, path, IMAGES_MAGIC, 3)
  if (rows, cols) != (SIDE, SIDE):
    raise DataError(f'{path}: images are {rows} x {cols}, expected {SIDE} x {SIDE} (MNIST)')
  return _payload(data, path, 16, (n, rows, cols))


def read_labels(path: str | os.PathLike) -> np.ndarray:
  """``[N]`` uint8 digits 0-9 from a gzip IDX labels file (magic 0x00000801)."""
  data = _read_gzip(path)
  (n,) = _header(data, path, LABELS_MAGIC, 1)
  labels = _payload(data, path, 8, (n,))
  if labels.size and labels.max() > 9:
    bad = np.unique(labels[labels > 9])
    raise DataError(f'{path}: labels must be digits 0-9, found {bad[:10].tolist()}')
  return labels


def load_idx_pair(images_path: str | os.PathLike,
                  labels_path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
  """``(images [N, 28, 28] uint8, labels [N] uint8)`` from two IDX files with
  the same count (DataError naming both files otherwise)."""
  images, labels = read_images(images_path), read_labels(labels_path)
  if len(images) != len(labels):
    raise DataError(f'{images_path} holds {len(images)} images but {labels_path} holds '
                    f'{len(labels)} labels: expected one label per image')
  return images, labels


def load_mnist_test() -> tuple[np.ndarray, np.ndarray]:
  """The MNIST test set: ``(images [10000, 28, 28] uint8, labels [10000] uint8)``,
  files resolved (and checksummed) by ``download.resolve_file``."""
  return load_idx_pair(resolve_file(IMAGES_FILE), resolve_file(LABELS_FILE))


def one_class_split(images: np.ndarray, labels: np.ndarray, digit: int,
                    seed: int) -> dict[str, Subset]:
  """Splits for the one-class protocol with ``digit`` as the OK class.

  'train': half (rounded down) of the digit's images, chosen by a permutation
  from ``np.random.default_rng(seed)``; 'test_ok': the rest of them; 'test_ng':
  all images of the other digits. Each subset keeps test-set order (ascending
  index).
  """
  if isinstance(digit, bool) or not isinstance(digit, (int, np.integer)) or not 0 <= digit <= 9:
    raise ValueError(f'digit must be an integer 0-9, got {digit!r}')
  labels = np.asarray(labels)
  if len(images) != len(labels):
    raise ValueError(f'{len(images)} images but {len(labels)} labels')
  ok = np.flatnonzero(labels == digit)
  if len(ok) < 2:
    raise ValueError(f'digit {digit} has {len(ok)} images; the split needs at least 2')
  ok = ok[np.random.default_rng(seed).permutation(len(ok))]
  half = len(ok) // 2
  index = {'train': np.sort(ok[:half]), 'test_ok': np.sort(ok[half:]),
           'test_ng': np.flatnonzero(labels != digit)}
  return {k: Subset(images[i], i.astype(np.int64)) for k, i in index.items()}


def write_one_class(root: str | os.PathLike, digit: int, seed: int,
                    data: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, pathlib.Path]:
  """Writes ``one_class_split`` as 8-bit grayscale PNG folders ``root/train``,
  ``root/test/ok`` and ``root/test/ng``; each file is named by its index in the
  test set (``03141.png``). ``data``: (images, labels), default
  ``load_mnist_test()``. Returns the folders by split name. Refuses (FileExistsError)
  folders that already hold files: another digit's images would mix in."""
  root = pathlib.Path(root)
  for folder in FOLDERS.values():
    if (root / folder).is_dir() and any((root / folder).iterdir()):
      raise FileExistsError(f'{root / folder} is not empty; write_one_class needs new folders')
  images, labels = load_mnist_test() if data is None else data
  folders = {}
  for name, subset in one_class_split(images, labels, digit, seed).items():
    folder = root / FOLDERS[name]
    folder.mkdir(parents=True, exist_ok=True)
    for i, a in zip(subset.index, subset.images):
      Image.fromarray(np.ascontiguousarray(a, np.uint8)).save(folder / f'{i:05d}.png')
    folders[name] = folder
  return folders
