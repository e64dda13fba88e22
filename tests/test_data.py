"""Tests of the data layer: files, parsing, TFDS loading, protocols, scaling.

Real-data tests need $DAGMM_DATA_DIR (they skip, saying why, otherwise). The
TFDS data sets are prepared once per session into a temporary directory, so
every run exercises both the prepare path and the read-back path.
"""

from __future__ import annotations

import gzip
import hashlib
import pathlib
import re

import numpy as np
import pytest
import scipy.io

from conftest import real_data_file
from dagmm_jax import grid, host
from dagmm_jax.scoring.evalset import EvalSet, seed_scaler, seed_split
from dagmm_jax.data import (
  DataError,
  Dataset,
  Scaler,
  Split,
  fit_scaler,
  load_dataset,
  load_mat,
  make_split,
  parse_kddcup,
  prepare_dataset,
  resolve_file,
  sha256_of,
)
from dagmm_jax.data import download, get_builder
from dagmm_jax.data.blocks import read_blocks

KDD_FILE = 'kddcup.data_10_percent.gz'
KDD_ROWS, KDD_DIMS, KDD_NORMAL_TRAFFIC = 494_021, 118, 97_278
DATASET_FILES = {
  'kddcup99': KDD_FILE,
  'kddcup99_rev': KDD_FILE,
  'thyroid': 'thyroid.mat',
  'arrhythmia': 'arrhythmia.mat',
}


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope='session')
def load(tmp_path_factory):
  """``load(name)``: load_dataset with a session-private TFDS dir; skips without data."""
  with pytest.MonkeyPatch.context() as mp:
    mp.setenv('DAGMM_TFDS_DIR', str(tmp_path_factory.mktemp('tfds')))
    load_dataset.cache_clear()

    def _load(name: str) -> Dataset:
      real_data_file(DATASET_FILES[name])
      return load_dataset(name)

    yield _load
    load_dataset.cache_clear()


def _kdd_row(label: str = 'normal.', service: str = 'http', src_bytes: str = '181') -> str:
  fields = ['0', 'tcp', service, 'SF', src_bytes, '5450'] + ['0'] * 35 + [label]
  return ','.join(fields)


def _write_gz(path: pathlib.Path, lines: list[str]) -> pathlib.Path:
  with gzip.open(path, 'wt') as f:
    f.write('\n'.join(lines) + '\n')
  return path


# --------------------------------------------------------------------------
# download.py: file resolution and checksums


def test_resolve_file_uses_data_dir_and_verifies(data_file):
  path = data_file('thyroid.mat')
  assert resolve_file('thyroid.mat') == path
  assert sha256_of(path) == download.FILES['thyroid.mat'].sha256


def test_missing_file_names_path_and_env(tmp_path, monkeypatch):
  monkeypatch.setenv('DAGMM_DATA_DIR', str(tmp_path))
  with pytest.raises(DataError, match='DAGMM_DATA_DIR') as e:
    resolve_file('thyroid.mat')
  assert str(tmp_path / 'thyroid.mat') in str(e.value)


def test_checksum_mismatch_names_file_and_digests(tmp_path, monkeypatch):
  monkeypatch.setenv('DAGMM_DATA_DIR', str(tmp_path))
  fake = tmp_path / 'arrhythmia.mat'
  fake.write_bytes(b'not the ODDS file')
  with pytest.raises(DataError) as e:
    resolve_file('arrhythmia.mat')
  message = str(e.value)
  assert str(fake) in message
  assert download.FILES['arrhythmia.mat'].sha256 in message
  assert hashlib.sha256(b'not the ODDS file').hexdigest() in message


def test_unknown_file_name_lists_known(monkeypatch, tmp_path):
  monkeypatch.setenv('DAGMM_DATA_DIR', str(tmp_path))
  with pytest.raises(DataError, match='thyroid.mat'):
    resolve_file('nope.csv')


def _fake_remote(monkeypatch, tmp_path, source: pathlib.Path, sha256: str) -> pathlib.Path:
  """Point the thyroid registry entry at a local file:// URL; return the cache dir."""
  cache = tmp_path / 'cache'
  monkeypatch.delenv('DAGMM_DATA_DIR', raising=False)
  monkeypatch.setenv('DAGMM_CACHE_DIR', str(cache))
  remote = download.RemoteFile(url=source.as_uri(), sha256=sha256)
  monkeypatch.setitem(download.FILES, 'thyroid.mat', remote)
  return cache


def test_download_into_cache(monkeypatch, tmp_path, data_file):
  source = data_file('thyroid.mat')
  cache = _fake_remote(monkeypatch, tmp_path, source, download.FILES['thyroid.mat'].sha256)
  path = resolve_file('thyroid.mat')
  assert path == cache / 'thyroid.mat'
  assert path.read_bytes() == source.read_bytes()
  assert sorted(p.name for p in cache.iterdir()) == ['thyroid.mat']  # no temp file left
  assert resolve_file('thyroid.mat') == path  # second call uses the cache


def test_download_with_wrong_checksum_leaves_nothing(monkeypatch, tmp_path):
  source = tmp_path / 'impostor.mat'
  source.write_bytes(b'impostor')
  cache = _fake_remote(monkeypatch, tmp_path, source, '0' * 64)
  with pytest.raises(DataError, match='SHA-256 mismatch') as e:
    resolve_file('thyroid.mat')
  assert source.as_uri() in str(e.value)
  assert list(cache.iterdir()) == []  # neither the final name nor a partial file


def test_download_failure_names_url(monkeypatch, tmp_path):
  missing = tmp_path / 'nowhere' / 'thyroid.mat'
  cache = _fake_remote(monkeypatch, tmp_path, missing, '0' * 64)
  with pytest.raises(DataError, match='could not download') as e:
    resolve_file('thyroid.mat')
  assert missing.as_uri() in str(e.value)
  assert list(cache.iterdir()) == []


# --------------------------------------------------------------------------
# kddcup99.py: parsing on small synthetic files


def test_parse_synthetic_one_hot_and_labels(tmp_path):
  path = _write_gz(tmp_path / 'mini.gz', [
    _kdd_row('normal.', 'http'),
    _kdd_row('smurf.', 'ecr_i', '1032'),
    _kdd_row('normal.', 'ftp'),
  ])
  x, is_normal = parse_kddcup(path)
  # 38 numeric columns + protocol_type {tcp} + service {ecr_i, ftp, http} + flag {SF}
  assert x.shape == (3, 38 + 1 + 3 + 1) and x.dtype == np.float32
  assert is_normal.dtype == np.int8 and is_normal.tolist() == [1, 0, 1]
  assert x[:, 0].tolist() == [0, 0, 0]  # duration
  assert x[:, 1].tolist() == [1, 1, 1]  # protocol_type=tcp
  np.testing.assert_array_equal(x[:, 2:5], [[0, 0, 1], [1, 0, 0], [0, 1, 0]])  # sorted services
  assert x[:, 5].tolist() == [1, 1, 1]  # flag=SF
  assert x[:, 6].tolist() == [181, 1032, 181]  # src_bytes


def test_parse_corrupt_gzip(tmp_path):
  path = tmp_path / 'corrupt.gz'
  path.write_bytes(b'this is not gzip data at all')
  with pytest.raises(DataError, match='gzip') as e:
    parse_kddcup(path)
  assert str(path) in str(e.value)


def test_parse_truncated_gzip(tmp_path):
  full = _write_gz(tmp_path / 'full.gz', [_kdd_row(service=f's{i}') for i in range(200)])
  path = tmp_path / 'truncated.gz'
  path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
  with pytest.raises(DataError, match='truncated') as e:
    parse_kddcup(path)
  assert str(path) in str(e.value)


def test_parse_wrong_field_count_names_row(tmp_path):
  short = ','.join(_kdd_row().split(',')[1:])  # 41 fields
  path = _write_gz(tmp_path / 'short.gz', [_kdd_row(), _kdd_row(), short, _kdd_row()])
  with pytest.raises(DataError, match=r'row 3: expected 42 comma-separated fields, got 41') as e:
    parse_kddcup(path)
  assert str(path) in str(e.value)


def test_parse_non_numeric_names_row_and_column(tmp_path):
  path = _write_gz(tmp_path / 'text.gz', [_kdd_row(), _kdd_row(src_bytes='lots')])
  expected = r"row 2, column 'src_bytes': expected a number, got 'lots'"
  with pytest.raises(DataError, match=expected) as e:
    parse_kddcup(path)
  assert str(path) in str(e.value)


def test_parse_label_without_dot(tmp_path):
  path = _write_gz(tmp_path / 'label.gz', [_kdd_row(), _kdd_row(label='normal')])
  with pytest.raises(DataError, match=r"row 2, column 'label'"):
    parse_kddcup(path)


# --------------------------------------------------------------------------
# odds.py: .mat validation


def test_load_mat_missing_key(tmp_path):
  path = tmp_path / 'nox.mat'
  scipy.io.savemat(path, {'y': np.zeros((3, 1))})
  with pytest.raises(DataError, match="key 'X' missing") as e:
    load_mat(path)
  assert str(path) in str(e.value)


def test_load_mat_shape_mismatch(tmp_path):
  path = tmp_path / 'short_y.mat'
  scipy.io.savemat(path, {'X': np.zeros((4, 2)), 'y': np.zeros((3, 1))})
  with pytest.raises(DataError, match="key 'y'") as e:
    load_mat(path)
  assert str(path) in str(e.value)
  with pytest.raises(DataError, match=r"key 'X': expected shape \[N, 6\]"):
    load_mat(path, n_dims=6)


def test_load_mat_not_a_mat_file(tmp_path):
  path = tmp_path / 'junk.mat'
  path.write_bytes(b'junk')
  with pytest.raises(DataError, match='junk.mat'):
    load_mat(path)


# --------------------------------------------------------------------------
# load_dataset on the real files


def test_unknown_dataset_lists_known():
  with pytest.raises(ValueError, match='kddcup99_rev'):
    load_dataset('mnist')


def test_a_corrupt_prepared_folder_is_named_with_the_advice_to_delete_it(tmp_path, monkeypatch, data_file):
  """TFDS's own errors (``example should have type bytes``, a Riegeli hash
  mismatch, a JSON parse error) do not say which folder is bad."""
  data_file('thyroid.mat')
  monkeypatch.setenv('DAGMM_TFDS_DIR', str(tmp_path))
  x, _ = read_blocks(get_builder('thyroid'))   # prepares it
  folder = pathlib.Path(get_builder('thyroid').data_dir)
  advice = rf'prepared data in {re.escape(str(folder))} cannot be read .*delete that folder'
  record = next(folder.glob('*.array_record-*'))
  good = record.read_bytes()
  record.write_bytes(bytes(len(good)))          # zeroed on disk
  with pytest.raises(DataError, match=advice):
    read_blocks(get_builder('thyroid'))
  record.write_bytes(good)
  info = folder / 'dataset_info.json'
  info.write_text(info.read_text()[:40])        # truncated
  with pytest.raises(DataError, match=advice):
    get_builder('thyroid')


def test_preparing_off_a_terminal_writes_plain_lines(tmp_path, monkeypatch, capfd, data_file):
  """TFDS's progress bars redraw with carriage returns and escape codes: in a log
  file (stderr not a terminal, as under pytest) there are none."""
  data_file('thyroid.mat')
  monkeypatch.setenv('DAGMM_TFDS_DIR', str(tmp_path))
  prepare_dataset('thyroid')
  out, err = capfd.readouterr()
  assert '\r' not in out + err and '\x1b' not in out + err
  assert pathlib.Path(get_builder('thyroid').data_dir).exists()


def test_kddcup99(load, data_file):
  data = load('kddcup99')
  assert data.name == 'kddcup99'
  assert data.x.shape == (KDD_ROWS, KDD_DIMS) and data.x.dtype == np.float32
  assert data.y.shape == (KDD_ROWS,) and data.y.dtype == np.int8
  assert int(data.y.sum()) == KDD_NORMAL_TRAFFIC  # 'normal.' rows are the anomalies
  # protocol_type (3), service (66), flag (11) one-hot blocks after column 0 / 1 / 2 originals
  for start, width in ((1, 3), (4, 66), (70, 11)):
    np.testing.assert_array_equal(data.x[:, start : start + width].sum(axis=1), 1.0)
  # the TFDS round trip is exact and keeps row order
  x, is_normal = parse_kddcup(data_file(KDD_FILE))
  np.testing.assert_array_equal(data.x, x)
  np.testing.assert_array_equal(data.y, is_normal)


def test_kdd_all_symbolic_columns_one_hot(load):
  """'all': land, logged_in, is_guest_login become [1 - v, v] blocks in place
  (is_host_login is always 0 in the 10% file and stays one column): 121 dims."""
  data, full = load('kddcup99'), load_dataset('kddcup99', 'all')
  assert full.x.shape == (KDD_ROWS, 121) and full.x.dtype == np.float32
  np.testing.assert_array_equal(full.y, data.y)
  np.testing.assert_array_equal(full.x[:, :83], data.x[:, :83])      # up to 'land'
  for j in (83, 89, 100):                            # land, logged_in, is_guest_login blocks
    np.testing.assert_array_equal(full.x[:, j:j + 2].sum(axis=1), 1.0)
  np.testing.assert_array_equal(full.x[:, 84], data.x[:, 83])
  np.testing.assert_array_equal(full.x[:, -20:], data.x[:, -20:])     # the columns after them
  assert load_dataset('kddcup99_rev', 'all').x.shape == (KDD_ROWS, 121)
  with pytest.raises(ValueError, match='KDDCUP'):
    load_dataset('thyroid', 'all')
  with pytest.raises(ValueError, match="'strings'"):
    load_dataset('kddcup99', 'some')


def test_kddcup99_rev_reverses_labels_and_shares_x(load):
  data, rev = load('kddcup99'), load('kddcup99_rev')
  assert rev.name == 'kddcup99_rev' and rev.y.dtype == np.int8
  assert rev.x is data.x
  np.testing.assert_array_equal(rev.y, 1 - data.y)
  assert int(rev.y.sum()) == KDD_ROWS - KDD_NORMAL_TRAFFIC


def test_load_is_cached_read_only_and_reloads_identically(load):
  first = load('thyroid')
  assert load('thyroid') is first
  with pytest.raises(ValueError):
    first.x[0, 0] = 1.0  # shared between callers, so read-only
  load_dataset.cache_clear()
  again = load('thyroid')  # warm read from the prepared data
  assert again is not first
  np.testing.assert_array_equal(again.x, first.x)
  np.testing.assert_array_equal(again.y, first.y)
  assert again.x.ctypes.data % host.ALIGN == 0   # the training program uses it in place


def test_thyroid(load):
  data = load('thyroid')
  assert data.x.shape == (3772, 6) and data.x.dtype == np.float32
  assert data.y.dtype == np.int8 and int(data.y.sum()) == 93


def test_arrhythmia(load):
  data = load('arrhythmia')
  assert data.x.shape == (452, 274) and data.x.dtype == np.float32
  assert data.y.dtype == np.int8 and int(data.y.sum()) == 66
  assert int((np.ptp(data.x, axis=0) == 0).sum()) == 17


def test_missing_source_file_fails_loading_clearly(tmp_path, monkeypatch):
  monkeypatch.setenv('DAGMM_DATA_DIR', str(tmp_path / 'empty'))
  monkeypatch.setenv('DAGMM_TFDS_DIR', str(tmp_path / 'tfds'))
  load_dataset.cache_clear()
  try:
    with pytest.raises(DataError, match='arrhythmia.mat: file not found'):
      load_dataset('arrhythmia')
  finally:
    load_dataset.cache_clear()


# --------------------------------------------------------------------------
# protocols.py: splits


def _check_split(split: Split, y: np.ndarray) -> None:
  for idx in split:
    assert idx.dtype == np.int64
    assert np.all(np.diff(idx) > 0)  # sorted, no duplicates
  assert np.intersect1d(split.train_idx, split.test_idx).size == 0
  assert not y[split.train_idx].any()  # training rows are normal only


def test_paper_split_kdd(load):
  y = load('kddcup99').y
  split = make_split(y, 'paper', seed=0)
  _check_split(split, y)
  assert split.test_idx.size == KDD_ROWS - KDD_ROWS // 2  # test half gets the odd row
  train_half = np.setdiff1d(np.arange(KDD_ROWS), split.test_idx)
  np.testing.assert_array_equal(split.train_idx, train_half[y[train_half] == 0])


def test_goad_split_kdd(load):
  y = load('kddcup99').y
  split = make_split(y, 'goad', seed=0)
  _check_split(split, y)
  n_normal = KDD_ROWS - KDD_NORMAL_TRAFFIC
  assert split.train_idx.size == n_normal // 2
  assert split.test_idx.size == n_normal - n_normal // 2 + KDD_NORMAL_TRAFFIC
  assert int(y[split.test_idx].sum()) == KDD_NORMAL_TRAFFIC  # all anomalies are tested
  assert split.train_idx.size + split.test_idx.size == KDD_ROWS


def test_kddcup99_rev_max_anomalies(load):
  y = load('kddcup99_rev').y
  n_normal, n_anom = KDD_NORMAL_TRAFFIC, 24_319
  goad = make_split(y, 'goad', seed=3, max_anomalies=n_anom)
  _check_split(goad, y)
  assert int(y[goad.test_idx].sum()) == n_anom
  assert goad.train_idx.size + goad.test_idx.size == n_normal + n_anom

  paper = make_split(y, 'paper', seed=3, max_anomalies=n_anom)
  _check_split(paper, y)
  pool = n_normal + n_anom
  assert paper.test_idx.size == pool - pool // 2
  anomalies_in_train_half = pool // 2 - paper.train_idx.size
  assert int(y[paper.test_idx].sum()) + anomalies_in_train_half == n_anom


@pytest.mark.parametrize('protocol', ['paper', 'goad'])
def test_split_deterministic_per_seed(protocol):
  y = (np.random.default_rng(123).random(1001) < 0.2).astype(np.int8)
  a, b = make_split(y, protocol, seed=7), make_split(y, protocol, seed=7)
  c = make_split(y, protocol, seed=8)
  np.testing.assert_array_equal(a.train_idx, b.train_idx)
  np.testing.assert_array_equal(a.test_idx, b.test_idx)
  assert not np.array_equal(a.train_idx, c.train_idx)
  _check_split(a, y)


def test_split_small_exact():
  y = np.array([0, 0, 0, 0, 0, 1, 1], dtype=np.int8)
  goad = make_split(y, 'goad', seed=0)
  assert goad.train_idx.size == 2 and goad.test_idx.size == 5
  assert set(goad.test_idx.tolist()) >= {5, 6}
  limited = make_split(y, 'goad', seed=0, max_anomalies=1)
  assert int(y[limited.test_idx].sum()) == 1 and limited.test_idx.size == 4
  paper = make_split(y, 'paper', seed=0)
  assert paper.test_idx.size == 4
  _check_split(paper, y)


def test_split_bad_arguments():
  y = np.array([0, 1, 0], dtype=np.int8)
  with pytest.raises(ValueError, match="'paper'.*'goad'"):
    make_split(y, 'random', seed=0)
  with pytest.raises(ValueError, match='0/1'):
    make_split(np.array([0, 2]), 'paper', seed=0)
  with pytest.raises(ValueError, match='max_anomalies'):
    make_split(y, 'paper', seed=0, max_anomalies=-1)


# --------------------------------------------------------------------------
# protocols.py: scaling


def test_minmax_maps_training_rows_into_the_unit_interval(load):
  data = load('kddcup99')
  split = make_split(data.y, 'paper', seed=0)
  scaler = fit_scaler(data.x[split.train_idx], 'minmax')
  assert isinstance(scaler, Scaler)
  assert scaler.shift.dtype == np.float32 and scaler.scale.dtype == np.float32
  assert np.all(scaler.scale > 0)
  train = scaler.apply(data.x[split.train_idx])
  assert train.min() >= 0.0 and train.max() <= 1.0 + 1e-6
  # test rows (anomalies included) may fall outside [0, 1]: no test statistics leaked
  test = scaler.apply(data.x[split.test_idx])
  assert test.max() > 1.0


@pytest.mark.parametrize('method', ['minmax', 'zscore', 'none'])
def test_constant_columns_scale_to_finite(load, method):
  data = load('arrhythmia')
  split = make_split(data.y, 'paper', seed=1)
  x_train = data.x[split.train_idx]
  constant = np.ptp(x_train, axis=0) == 0
  assert constant.sum() >= 17  # the 17 global constants, maybe more in a half
  scaler = fit_scaler(x_train, method)
  assert np.all(scaler.scale > 0) and np.all(np.isfinite(scaler.scale))
  np.testing.assert_array_equal(scaler.scale[constant], 1.0)
  scaled = scaler.apply(data.x)
  assert scaled.dtype == np.float32 and np.isfinite(scaled).all()


def test_constant_columns_zero_policy():
  """'zero': a column constant over the training rows is 0 in every row, test rows too."""
  x = np.array([[1.0, 5.0], [3.0, 5.0]], dtype=np.float32)
  for method in ('minmax', 'zscore'):
    scaler = fit_scaler(x, method, constant_columns='zero')
    out = scaler.apply(np.array([[2.0, 5.0], [2.0, 900.0], [2.0, -7.0]], np.float32))
    np.testing.assert_array_equal(np.abs(out[:, 1]), 0.0)
    assert fit_scaler(x, method).apply(np.array([[2.0, 900.0]], np.float32))[0, 1] == 895.0
  with pytest.raises(ValueError, match="'shift'"):
    fit_scaler(x, 'minmax', constant_columns='drop')


def test_zscore_and_none_values():
  x = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]], dtype=np.float32)
  z = fit_scaler(x, 'zscore')
  np.testing.assert_allclose(z.shift, [3.0, 5.0])
  np.testing.assert_allclose(z.scale, [np.sqrt(8 / 3), 1.0], rtol=1e-6)
  np.testing.assert_allclose(z.apply(x)[:, 0].std(), 1.0, rtol=1e-6)
  m = fit_scaler(x, 'minmax')
  np.testing.assert_array_equal(m.apply(x), [[0.0, 0.0], [0.5, 0.0], [1.0, 0.0]])
  n = fit_scaler(x, 'none')
  np.testing.assert_array_equal(n.apply(x), x)
  with pytest.raises(ValueError, match="'minmax'"):
    fit_scaler(x, 'robust')


def test_constant_column_detected_exactly_not_by_rounded_std():
  x = np.full((37, 1), 0.6369616873214543)  # float64 std of these equal values is 2.2e-16
  assert fit_scaler(x, 'zscore').scale[0] == 1.0


# --------------------------------------------------------------------------
# every Table 2 data set: splits per protocol and seed, scaling


# name: (max_anomalies, normal rows, anomaly rows in the pool)
TABLE2_DATA = {
  'kddcup99': (None, KDD_ROWS - KDD_NORMAL_TRAFFIC, KDD_NORMAL_TRAFFIC),
  'kddcup99_rev': (24_319, KDD_NORMAL_TRAFFIC, 24_319),
  'thyroid': (None, 3772 - 93, 93),
  'arrhythmia': (None, 452 - 66, 66),
}


@pytest.mark.parametrize('protocol', ['paper', 'goad'])
@pytest.mark.parametrize('name', sorted(TABLE2_DATA))
def test_table2_splits_on_real_files(load, name, protocol):
  data = load(name)
  max_anom, n_normal, n_anom = TABLE2_DATA[name]
  pool = n_normal + n_anom
  for seed in (0, 1):
    split = make_split(data.y, protocol, seed, max_anom)
    _check_split(split, data.y)
    if protocol == 'paper':
      assert split.test_idx.size == pool - pool // 2
      anomalies_in_train_half = pool // 2 - split.train_idx.size
      assert int(data.y[split.test_idx].sum()) + anomalies_in_train_half == n_anom
    else:
      assert split.train_idx.size == n_normal // 2
      assert split.test_idx.size == n_normal - n_normal // 2 + n_anom
      assert int(data.y[split.test_idx].sum()) == n_anom
    again = make_split(data.y, protocol, seed, max_anom)
    np.testing.assert_array_equal(split.train_idx, again.train_idx)
    np.testing.assert_array_equal(split.test_idx, again.test_idx)
  other = make_split(data.y, protocol, 2, max_anom)
  assert not np.array_equal(split.test_idx, other.test_idx)


@pytest.mark.parametrize('experiment', ['thyroid', 'arrhythmia', 'kdd', 'kdd_rev'])
def test_the_experiment_scales_with_training_rows_only(load, experiment):
  """Through the experiment's own path (``EvalSet``, each experiment's config):
  poisoned test rows leave every seed's scaler as it was; poisoned training rows
  change it (so the check can fail)."""
  config = grid.load_experiment(experiment)
  data = load(config.dataset)
  seeds = [0, 1]
  scalers = lambda d: (np.asarray(EvalSet.build(config, d, seeds).train.shift),
                       np.asarray(EvalSet.build(config, d, seeds).train.scale))
  shift, scale = scalers(data)
  splits = [seed_split(config, data.y, s) for s in seeds]
  test_only = np.setdiff1d(np.concatenate([sp.test_idx for sp in splits]),
                           np.concatenate([sp.train_idx for sp in splits]))   # test rows of every seed
  x = np.array(data.x)
  x[test_only] = x[test_only] * 7.0 + 3.0
  np.testing.assert_array_equal(scalers(data._replace(x=x)), (shift, scale))
  for i, sp in enumerate(splits):     # and it is the scaler of the training rows, as configured
    ref = seed_scaler(config, data.x[sp.train_idx])
    np.testing.assert_array_equal(shift[i], ref.shift)
    np.testing.assert_array_equal(scale[i], ref.scale)
  x = np.array(data.x)
  x[splits[0].train_idx] = x[splits[0].train_idx] * 7.0 + 3.0
  assert not np.array_equal(scalers(data._replace(x=x))[1][0], scale[0])
