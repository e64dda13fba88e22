"""Shared test set-up: the real data files (skip clearly when absent), one compilation cache per session."""

from __future__ import annotations

import os
import pathlib
import shutil
import tempfile
from typing import Callable

import pytest

DATA_DIR_ENV = 'DAGMM_DATA_DIR'
_CACHE_KEY = pytest.StashKey[str]()


def pytest_configure(config):
  """The process-wide switch every command sets (``cli/common.setup``): the
  unrolled Threefry lowering on CPU (same random bits, faster). And one
  persistent compilation cache for the session, shared with the processes the
  tests start (environment): many tests compile the same small programs, and
  compiling was most of their time. A cache hit is the same executable, so no
  result changes; the folder is new each session and removed after it."""
  from dagmm_jax.training import cpu
  cpu.unroll_threefry_on_cpu()
  cache = tempfile.mkdtemp(prefix='dagmm-jax-test-xla-cache-')
  config.stash[_CACHE_KEY] = cache
  import jax
  for name, value in {'jax_compilation_cache_dir': cache,
                      'jax_persistent_cache_min_compile_time_secs': 0.2}.items():
    jax.config.update(name, value)
    os.environ[name.upper()] = str(value)   # read by the processes the tests start


def pytest_unconfigure(config):
  shutil.rmtree(config.stash.get(_CACHE_KEY, ''), ignore_errors=True)


def real_data_file(name: str) -> pathlib.Path:
  """Path of a real data file under $DAGMM_DATA_DIR, or skip the test saying why."""
  data_dir = os.environ.get(DATA_DIR_ENV)
  if not data_dir:
    pytest.skip(f'{DATA_DIR_ENV} is not set: point it at the directory holding {name}')
  path = (pathlib.Path(data_dir).expanduser() / name).absolute()
  if not path.is_file():
    pytest.skip(f'{path} not found ({DATA_DIR_ENV}={data_dir!r}); this test needs the real file')
  return path


@pytest.fixture
def data_file() -> Callable[[str], pathlib.Path]:
  """``data_file(name)``: path of a real data file, or skip the test."""
  return real_data_file
