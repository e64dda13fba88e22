"""The prepared-data layout every tabular data set shares: TFDS row blocks.

A TFDS example holds a BLOCK of up to ``BLOCK_ROWS`` consecutive rows, not one
row: ``{'x': float32 [rows, D], 'y': int8 [rows], 'offset': int64}``, with x and
y stored as raw bytes (one example per row is tens of times slower to prepare
and to read back: ``benchmarks/bench_load.py``).
``offset`` is the index of the block's first row: the reader sorts by it and
checks that the blocks tile ``0..N`` exactly, so row order does not depend on
the storage order.

Prepared data lives in ``$DAGMM_TFDS_DIR`` (default ``~/tensorflow_datasets``).
A builder (``odds.OddsMat``, ``kddcup99.Kddcup99Blocks``) reads its source file
with ``resolve_file`` (checksummed) only when preparing; bump
``ArrayBlockBuilder.VERSION`` when the layout or the encoding changes, so stale
prepared data is not reused.
"""

from __future__ import annotations

import abc
import contextlib
import inspect
import os
import pathlib
import sys
from typing import Iterator

import numpy as np
import tensorflow_datasets as tfds
from absl import logging
from etils import epath

from dagmm_jax import host
from dagmm_jax.data.download import DataError

TFDS_DIR_ENV = 'DAGMM_TFDS_DIR'
DEFAULT_TFDS_DIR = pathlib.Path('~/tensorflow_datasets')
BLOCK_ROWS = 8192
SPLIT = 'train'  # the whole file; protocols.make_split does the real splitting


def tfds_dir() -> pathlib.Path:
  """Prepared-data directory: $DAGMM_TFDS_DIR or ~/tensorflow_datasets."""
  return pathlib.Path(os.environ.get(TFDS_DIR_ENV) or DEFAULT_TFDS_DIR).expanduser()


class ArrayBlockBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """TFDS builder for an (x [N, D] float32, y [N] int8) pair stored in row blocks.

  Subclasses set ``N_DIMS`` (or override ``n_dims``) and implement
  ``load_arrays`` (read and validate the source file).
  """

  VERSION = tfds.core.Version('1.0.0')
  RELEASE_NOTES = {'1.0.0': 'Row blocks of raw float32/int8 bytes.'}
  N_DIMS: int = 0
  Y_DOC = '1 = anomaly (outlier), 0 = inlier'

  def __init__(self, **kwargs):
    """Keyword arguments as for TFDS builders; the file format is array_record."""
    kwargs.setdefault('file_format', 'array_record')  # TFRecord would need TensorFlow
    config = kwargs.get('config')
    folder = pathlib.Path(kwargs.get('data_dir') or tfds_dir(), self.name,
                          *([getattr(config, 'name', config)] if config else []), str(self.VERSION))
    with prepared_data_errors(folder, only_if_prepared=True):   # TFDS reads dataset_info.json here
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
      description=(self.__doc__ or '').strip(),
      features=tfds.features.FeaturesDict({
        'x': tfds.features.Tensor(shape=(None, self.n_dims), dtype=np.float32, encoding='bytes'),
        'y': tfds.features.Tensor(shape=(None,), dtype=np.int8, encoding='bytes', doc=self.Y_DOC),
        'offset': tfds.features.Tensor(shape=(), dtype=np.int64),
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
      yield start, {'x': x[start:stop], 'y': y[start:stop], 'offset': start}


@contextlib.contextmanager
def prepared_data_errors(folder: str | os.PathLike, only_if_prepared: bool = False) -> Iterator[None]:
  """Turns a failure to read the prepared data in ``folder`` into a ``DataError``
  naming the folder and saying to delete it (TFDS's own errors, such as
  ``example should have type bytes`` or a Riegeli hash mismatch, do not say where
  the bad file is). With ``only_if_prepared``, failures while ``folder`` does not
  exist (nothing prepared yet) pass as they are. ``DataError`` and
  ``MemoryError`` pass unchanged."""
  try:
    yield
  except (DataError, MemoryError):
    raise
  except Exception as e:   # noqa: BLE001 -- any failure reading prepared files means they are bad
    if only_if_prepared and not pathlib.Path(folder).exists():
      raise
    raise DataError(f'the prepared data in {folder} cannot be read ({type(e).__name__}: {e}); it is '
                    f'corrupt or incomplete: delete that folder (rm -r {folder}) and run again to '
                    'prepare it anew') from e


def prepare(builder: tfds.core.DatasetBuilder) -> None:
  """``builder.download_and_prepare()``, with TFDS's progress bars on a terminal
  only: in a log file their escape codes garble the lines, so a plain line says
  what is being prepared instead."""
  tty = sys.stderr.isatty()
  tfds.display_progress_bar(tty)
  if not tty and not pathlib.Path(builder.data_dir).exists():
    logging.info('preparing %s in %s (once per machine)', builder.name, builder.data_dir)
  builder.download_and_prepare()


def read_blocks(builder: ArrayBlockBuilder) -> tuple[np.ndarray, np.ndarray]:
  """Prepare ``builder`` if needed, then read all its rows back as (x, y). A
  prepared folder that cannot be read is a ``DataError`` saying to delete it."""
  if not pathlib.Path(builder.data_dir).exists():
    prepare(builder)   # a failure to prepare is reported as it is
  with prepared_data_errors(builder.data_dir):
    prepare(builder)
    source = builder.as_data_source(split=SPLIT)
    blocks = sorted(source.__getitems__(list(range(len(source)))), key=lambda b: int(b['offset']))
  starts = np.cumsum([0] + [b['y'].shape[0] for b in blocks])
  offsets = [int(b['offset']) for b in blocks]
  if offsets != starts[:-1].tolist():
    raise DataError(
      f'{builder.data_dir}: prepared blocks do not tile the rows (offsets {offsets}); '
      'delete this directory to prepare it again'
    )
  # Aligned, so that the training program uses x in place (host.on_device).
  x = host.aligned_empty((int(starts[-1]), blocks[0]['x'].shape[1]), np.float32)
  np.concatenate([b['x'] for b in blocks], out=x)
  y = np.concatenate([b['y'] for b in blocks]).astype(np.int8, copy=False)
  del blocks, source
  host.release_free_memory()
  return x, y
