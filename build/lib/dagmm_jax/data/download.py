"""Locating the raw data files: a local directory or a checksummed download.

Every known file has an official URL and a SHA-256 digest (``FILES``).
``resolve_file(name)`` returns a verified local path:

* If the environment variable ``DAGMM_DATA_DIR`` is set, the file must be
  ``$DAGMM_DATA_DIR/<name>``; nothing is downloaded.
* Otherwise the file is downloaded once into ``$DAGMM_CACHE_DIR`` (default
  ``~/.cache/dagmm_jax``). The download goes to a temporary file in the same
  directory, is verified, then renamed, so a partial or corrupt download never
  appears under the final name.

In both cases the SHA-256 digest is checked (streaming) before the path is
returned.

Download sources. KDDCUP 99 comes from the UCI KDD archive. The ODDS site
(odds.cs.stonybrook.edu) serves ``thyroid.mat`` and ``arrhythmia.mat`` only
through Dropbox links that have changed over time, so we download byte-identical
copies of the ODDS files from the pyod repository (yzhao062/pyod) pinned at a
commit, which keeps the URL stable and the digest meaningful:

* thyroid.mat: pyod commit ef6d5e8d, ``notebooks/data/thyroid.mat``
* arrhythmia.mat: pyod commit 1938f1c5, ``data/arrhythmia.mat``

The MNIST test set files come from the cvdf-datasets mirror, byte-identical
copies of the files distributed at http://yann.lecun.com/exdb/mnist/ (see
``mnist.py``).
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import urllib.error
import urllib.request
from typing import Mapping, NamedTuple

from dagmm_jax import files
from dagmm_jax.errors import UserError

DATA_DIR_ENV = 'DAGMM_DATA_DIR'
CACHE_DIR_ENV = 'DAGMM_CACHE_DIR'
DEFAULT_CACHE_DIR = pathlib.Path('~/.cache/dagmm_jax')

_CHUNK = 1 << 20
_TIMEOUT_S = 60.0


class DataError(UserError, ValueError):
  """A data file is missing, corrupt or malformed (the message says which)."""


class RemoteFile(NamedTuple):
  """Where a data file is officially published and its expected digest."""

  url: str
  sha256: str


FILES: Mapping[str, RemoteFile] = {
  'kddcup.data_10_percent.gz': RemoteFile(
    url='http://kdd.ics.uci.edu/databases/kddcup99/kddcup.data_10_percent.gz',
    sha256='8045aca0d84e70e622d1148d7df782496f6333bf6eb979a1b0837c42a9fd9561',
  ),
  'thyroid.mat': RemoteFile(
    url='https://raw.githubusercontent.com/yzhao062/pyod/'
    'ef6d5e8dc828615f498286c1d6a22cbd02fd4cd2/notebooks/data/thyroid.mat',
    sha256='49155d7861b977e90808faf68343ff67a67f63090c2744d514dbb67ac68e7e33',
  ),
  'arrhythmia.mat': RemoteFile(
    url='https://raw.githubusercontent.com/yzhao062/pyod/'
    '1938f1c58ba7948359b098ab358b7ee920825282/data/arrhythmia.mat',
    sha256='e4d47e499591ae31e5d7f0cd983367092353eac240f48e14c9b36457edb3460d',
  ),
  't10k-images-idx3-ubyte.gz': RemoteFile(
    url='https://storage.googleapis.com/cvdf-datasets/mnist/t10k-images-idx3-ubyte.gz',
    sha256='8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6',
  ),
  't10k-labels-idx1-ubyte.gz': RemoteFile(
    url='https://storage.googleapis.com/cvdf-datasets/mnist/t10k-labels-idx1-ubyte.gz',
    sha256='f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6',
  ),
}


def sha256_of(path: str | os.PathLike) -> str:
  """Hex SHA-256 digest of a file, read in chunks."""
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for chunk in iter(lambda: f.read(_CHUNK), b''):
      digest.update(chunk)
  return digest.hexdigest()


def verify_sha256(path: pathlib.Path, expected: str, what: str | None = None) -> None:
  """Raise DataError unless the file's SHA-256 digest is ``expected``.

  ``what`` names the file in the message (default: its path).
  """
  actual = sha256_of(path)
  if actual != expected:
    raise DataError(
      f'{what or path}: SHA-256 mismatch: expected {expected}, got {actual}. '
      'The file is corrupt or not the official one; replace or delete it.'
    )


def cache_dir() -> pathlib.Path:
  """Download cache directory: $DAGMM_CACHE_DIR or ~/.cache/dagmm_jax."""
  return pathlib.Path(os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR).expanduser()


def _remote(name: str) -> RemoteFile:
  try:
    return FILES[name]
  except KeyError:
    raise DataError(
      f'unknown data file {name!r}; known files: {sorted(FILES)}'
    ) from None


def _download(remote: RemoteFile, dest: pathlib.Path) -> None:
  """Download ``remote`` to ``dest`` atomically, verifying its digest."""
  dest.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp_name = files.temp_file(dest.parent, prefix=f'.{dest.name}.', suffix='.part')
  tmp = pathlib.Path(tmp_name)
  try:
    with os.fdopen(fd, 'wb') as out:
      try:
        with urllib.request.urlopen(remote.url, timeout=_TIMEOUT_S) as response:
          for chunk in iter(lambda: response.read(_CHUNK), b''):
            out.write(chunk)
      except (urllib.error.URLError, OSError, ValueError) as e:
        raise DataError(
          f'could not download {dest.name} from {remote.url}: {e}. '
          f'Download it by hand and set {DATA_DIR_ENV} to its directory.'
        ) from e
    verify_sha256(tmp, remote.sha256, what=f'{dest.name} downloaded from {remote.url}')
    os.replace(tmp, dest)
  finally:
    tmp.unlink(missing_ok=True)


def resolve_file(name: str) -> pathlib.Path:
  """Verified local path of the known data file ``name`` (see module doc)."""
  remote = _remote(name)
  data_dir = os.environ.get(DATA_DIR_ENV)
  if data_dir:
    path = (pathlib.Path(data_dir).expanduser() / name).absolute()
    if not path.is_file():
      raise DataError(
        f'{path}: file not found ({DATA_DIR_ENV} is set to {data_dir!r}, '
        f'so no download is attempted; official source: {remote.url})'
      )
  else:
    path = cache_dir() / name
    if not path.is_file():
      _download(remote, path)
  verify_sha256(path, remote.sha256)
  return path
