"""ODDS ``.mat`` data sets (thyroid, arrhythmia) and the TFDS block layout.

Storage layout (shared with the KDD builder). A TFDS example holds a BLOCK of
up to ``BLOCK_ROWS`` consecutive rows, not one row:
``{'x': float32 [rows, D], 'y': int8 [rows], 'offset': int64}``, with x and y
stored as raw bytes. Measured on this project's 2-core CPU for the 494,021
KDD rows, one example per row took 37 s to prepare (after parsing) and 12-20 s
to read back even with ``__getitems__`` (25-40 us per example); 61 blocks of
8192 rows prepare in about 1.5 s and read back in about 0.65 s.
``offset`` is the index of the block's first row: the reader
sorts by it and checks that the blocks tile ``0..N`` exactly, so row order
does not depend on the storage order.

Prepared data lives in ``$DAGMM_TFDS_DIR`` (default ``~/tensorflow_datasets``).
The builders read their source file with ``resolve_file`` (checksummed) only
when preparing; bump ``ArrayBlockBuilder.VERSION`` when the layout or the
encoding changes, so stale prepared data is not reused.
"""

from __future__ import annotations

import abc
import dataclasses
import inspect
import os
import pathlib
from typing import Iterator

import numpy as np
import scipy.io
import tensorflow_datasets as tfds
from etils import epath

from dagmm_jax import cpu
from dagmm_jax.data.download import DataError, resolve_file

TFDS_DIR_ENV = "DAGMM_TFDS_DIR"
DEFAULT_TFDS_DIR = pathlib.Path("~/tensorflow_datasets")
BLOCK_ROWS = 8192
SPLIT = "train"  # the whole file; protocols.make_split does the real splitting


def tfds_dir() -> pathlib.Path:
  """Prepared-data directory: $DAGMM_TFDS_DIR or ~/tensorflow_datasets."""
  return pathlib.Path(os.environ.get(TFDS_DIR_ENV) or DEFAULT_TFDS_DIR).expanduser()


class ArrayBlockBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """TFDS builder for an (x [N, D] float32, y [N] int8) pair stored in row blocks.

  Subclasses set ``N_DIMS`` (or override ``n_dims``) and implement
  ``load_arrays`` (read and validate the source file).
  """

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Row blocks of raw float32/int8 bytes."}
  N_DIMS: int = 0
  Y_DOC = "1 = anomaly (outlier), 0 = inlier"

  def __init__(self, **kwargs):
    """Keyword arguments as for TFDS builders; the file format is array_record."""
    kwargs.setdefault("file_format", "array_record")  # TFRecord would need TensorFlow
    super().__init__(**kwargs)

  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls) -> epath.Path:
    # TFDS's default probes `importlib_resources` (a backport not installed
    # here) for builders defined inside a package; the file path suffices.
    return epath.Path(inspect.getfile(cls))

  @property
  def n_dims(self) -> int:
    """Number of feature columns D."""
    return self.N_DIMS

  @abc.abstractmethod
  def load_arrays(self) -> tuple[np.ndarray, np.ndarray]:
    """(x float32 [N, D], y int8 [N]) parsed from the verified source file (no TFDS)."""

  def _info(self) -> tfds.core.DatasetInfo:
    return tfds.core.DatasetInfo(
      builder=self,
      description=(self.__doc__ or "").strip(),
      features=tfds.features.FeaturesDict({
        "x": tfds.features.Tensor(shape=(None, self.n_dims), dtype=np.float32, encoding="bytes"),
        "y": tfds.features.Tensor(shape=(None,), dtype=np.int8, encoding="bytes", doc=self.Y_DOC),
        "offset": tfds.features.Tensor(shape=(), dtype=np.int64),
      }),
      disable_shuffling=True,
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # files come from resolve_file (local dir or checksummed cache)
    x, y = self.load_arrays()
    return {SPLIT: self._generate_examples(x, y)}

  def _generate_examples(self, x: np.ndarray, y: np.ndarray) -> Iterator[tuple[int, dict]]:
    for start in range(0, x.shape[0], BLOCK_ROWS):
      stop = start + BLOCK_ROWS
      yield start, {"x": x[start:stop], "y": y[start:stop], "offset": start}


def read_blocks(builder: ArrayBlockBuilder) -> tuple[np.ndarray, np.ndarray]:
  """Prepare ``builder`` if needed, then read all its rows back as (x, y)."""
  builder.download_and_prepare()
  source = builder.as_data_source(split=SPLIT)
  blocks = sorted(source.__getitems__(list(range(len(source)))), key=lambda b: int(b["offset"]))
  starts = np.cumsum([0] + [b["y"].shape[0] for b in blocks])
  offsets = [int(b["offset"]) for b in blocks]
  if offsets != starts[:-1].tolist():
    raise DataError(
      f"{builder.data_dir}: prepared blocks do not tile the rows (offsets {offsets}); "
      "delete this directory to prepare it again"
    )
  # Aligned, so that the training program uses x in place (cpu.on_device).
  x = cpu.aligned_empty((int(starts[-1]), blocks[0]["x"].shape[1]), np.float32)
  np.concatenate([b["x"] for b in blocks], out=x)
  y = np.concatenate([b["y"] for b in blocks]).astype(np.int8, copy=False)
  del blocks, source
  cpu.release_free_memory()
  return x, y


def load_mat(path: str | os.PathLike, n_dims: int | None = None) -> tuple[np.ndarray, np.ndarray]:
  """Read an ODDS .mat file: (X float32 [N, D], y int8 [N] with 1 = outlier).

  Raises DataError naming the file and key when the file is unreadable, a key
  is missing, shapes disagree, or values are not finite / not 0-1 labels.
  """
  try:
    mat = scipy.io.loadmat(path)
  except Exception as e:  # scipy raises ValueError, OSError, MatReadError, TypeError...
    raise DataError(f"{path}: not a readable MATLAB .mat file: {e}") from e
  for key in ("X", "y"):
    if key not in mat:
      found = sorted(k for k in mat if not k.startswith("__"))
      raise DataError(f"{path}: key {key!r} missing (found keys {found})")
  x, y = np.asarray(mat["X"]), np.asarray(mat["y"])
  if x.ndim != 2 or (n_dims is not None and x.shape[1] != n_dims):
    expected = f"[N, {n_dims}]" if n_dims is not None else "[N, D]"
    raise DataError(f"{path}: key 'X': expected shape {expected}, got {x.shape}")
  if y.size != x.shape[0] or y.ndim > 2:
    raise DataError(
      f"{path}: key 'y': expected {x.shape[0]} labels (one per row of 'X'), got shape {y.shape}"
    )
  try:
    x = x.astype(np.float64)
    y = y.reshape(-1).astype(np.float64)
  except (TypeError, ValueError) as e:
    raise DataError(f"{path}: keys 'X'/'y' must be numeric: {e}") from e
  if not np.isfinite(x).all():
    raise DataError(f"{path}: key 'X': expected finite values, found NaN or inf")
  if not np.isin(y, (0, 1)).all():
    raise DataError(f"{path}: key 'y': expected labels 0 or 1, got values {np.unique(y)[:10]}")
  return x.astype(np.float32), y.astype(np.int8)


@dataclasses.dataclass(eq=False)
class OddsConfig(tfds.core.BuilderConfig):
  """One ODDS file: its name in the download registry and its width."""

  file_name: str = ""
  n_dims: int = 0


class OddsMat(ArrayBlockBuilder, skip_registration=True):
  """TFDS builder for ODDS .mat files (keys X, y; y = 1 marks outliers)."""

  BUILDER_CONFIGS = [
    OddsConfig(name="thyroid", file_name="thyroid.mat", n_dims=6,
               description="ODDS Thyroid: 3772 x 6, 93 outliers (hyperfunction)."),
    OddsConfig(name="arrhythmia", file_name="arrhythmia.mat", n_dims=274,
               description="ODDS Arrhythmia: 452 x 274, 66 outliers; 17 constant columns."),
  ]

  @property
  def n_dims(self) -> int:
    return self.builder_config.n_dims

  def load_arrays(self) -> tuple[np.ndarray, np.ndarray]:
    config = self.builder_config
    return load_mat(resolve_file(config.file_name), config.n_dims)
