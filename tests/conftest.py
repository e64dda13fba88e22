"""Shared test helpers: locating the real data files (skip clearly when absent)."""

from __future__ import annotations

import os
import pathlib
from typing import Callable

import pytest

DATA_DIR_ENV = 'DAGMM_DATA_DIR'


def pytest_configure(config):
  """The process-wide switch every command sets (``cli/common.setup``): the
  unrolled Threefry lowering on CPU (same random bits, faster)."""
  from dagmm_jax.training import cpu
  cpu.unroll_threefry_on_cpu()


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
