"""Issue 31, nothing silently wrong in scoring: CSV rows, the training range, model
folders that do not match, saving over a file, too few rows, DataFrames, image
folders of several sizes or with unreadable files."""
import json
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from helpers import ROOT, load_config, tiny_config
from PIL import Image

from dagmm_jax.data import DataError, load_rows, read_rows
from dagmm_jax.data import images as img
from dagmm_jax.data import synthetic_images as synth
from dagmm_jax.estimator import DAGMM, ModelError, min_rows
from dagmm_jax.inspector import Inspector, score_to_csv

COLUMNS = ['a', 'b', 'c', 'd']


def _config(**overrides):
  base = dict(num_epochs=1, batch_size=64, model__hidden=(6,), model__n_mixtures=2)
  base.update(overrides)
  return load_config('kdd', **base)


def _rows(n=120, seed=0):
  """Rows in [0, 1], as Thyroid's features are."""
  return np.random.default_rng(seed).random((n, len(COLUMNS))).astype(np.float32)


@pytest.fixture(scope='module')
def saved(tmp_path_factory):
  """A small tabular model fitted on a DataFrame, and its saved folder."""
  path = tmp_path_factory.mktemp('model') / 'm'
  model = DAGMM(_config()).fit(pd.DataFrame(_rows(), columns=COLUMNS))
  model.save(path)
  return model, path


def _write_csv(path, lines):
  path.write_text('\n'.join(lines) + '\n')
  return path


# -- 1. every CSV row is one output row, or the run stops naming it ------------------

def test_a_bad_first_row_is_an_error_not_a_header(tmp_path):
  good = [','.join(f'{v:.4f}' for v in row) for row in _rows(6)]
  bad_first = ['0.1,oops,0.3,0.4'] + good[1:]
  with pytest.raises(DataError, match=r"bad\.csv, line 1, column 2: 'oops' is not a number"):
    load_rows(_write_csv(tmp_path / 'bad.csv', bad_first))
  x = load_rows(_write_csv(tmp_path / 'plain.csv', good))
  assert x.shape == (6, 4)
  rows = read_rows(_write_csv(tmp_path / 'named.csv', ['a,b,c,d'] + good))
  assert rows.header == COLUMNS and rows.x.shape == (6, 4)
  np.testing.assert_array_equal(rows.x, x)
  # With a header, a bad row is named by its line in the file (header = line 1).
  lines = ['a,b,c,d'] + good[:2] + ['0.1,0.2,,0.4'] + good[3:]
  with pytest.raises(DataError, match=r"line 4, column 3: '' is not a number"):
    load_rows(_write_csv(tmp_path / 'gap.csv', lines))
  with pytest.raises(DataError, match=r'line 3: expected 4 comma-separated fields \(as line 1\), got an empty'):
    load_rows(_write_csv(tmp_path / 'blank.csv', good[:2] + [''] + good[2:]))


def test_score_writes_one_row_per_input_row(saved, tmp_path):
  _, path = saved
  x = _rows(6, seed=1)
  np.savetxt(tmp_path / 'rows.csv', x, delimiter=',')
  summary = score_to_csv(path, tmp_path / 'rows.csv', tmp_path / 'out.csv')
  lines = (tmp_path / 'out.csv').read_text().splitlines()
  assert lines[0] == 'id,energy,is_anomaly,out_of_range'
  assert [line.split(',')[0] for line in lines[1:]] == [str(i) for i in range(6)] and summary.rows == 6


def test_score_command_stops_at_a_bad_row(saved, tmp_path):
  _, path = saved
  _write_csv(tmp_path / 'rows.csv', ['0.1,0.2,0.3,0.4', '0.1,0.2,x7,0.4', '0.5,0.5,0.5,0.5'])
  run = subprocess.run([sys.executable, str(ROOT / 'scripts' / 'score.py'), f'--workdir={path}',
                        f'--input={tmp_path / "rows.csv"}', f'--out={tmp_path / "out.csv"}'],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert run.returncode != 0 and "line 2, column 3: 'x7' is not a number" in run.stderr
  assert not (tmp_path / 'out.csv').exists()


# -- 2. the training range ---------------------------------------------------------

def test_rows_outside_the_training_range_are_flagged(saved, tmp_path):
  model, path = saved
  x = _rows(5, seed=2)
  far = x.copy()
  far[1, 2] = 1e6
  far[3, 0] = -0.5
  expected = np.array([False, True, False, True, False])
  np.testing.assert_array_equal(model.out_of_range(far), expected)
  labels = model.predict(far)
  np.testing.assert_array_equal(model.out_of_range_, expected)
  assert labels[1] == labels[3] == 1
  np.testing.assert_array_equal(model.feature_min_, _rows().min(axis=0))
  loaded = DAGMM.load(path)
  np.testing.assert_array_equal(loaded.out_of_range(far), expected)
  assert loaded.flag_out_of_range
  np.savetxt(tmp_path / 'far.csv', far, delimiter=',')
  summary = score_to_csv(path, tmp_path / 'far.csv', tmp_path / 'out.csv')
  rows = [line.split(',') for line in (tmp_path / 'out.csv').read_text().splitlines()[1:]]
  assert [int(r[3]) for r in rows] == [0, 1, 0, 1, 0] and summary.out_of_range == 2
  assert int(rows[1][2]) == 1
  energy_only = DAGMM(_config(), flag_out_of_range=False).fit(_rows())
  np.testing.assert_array_equal(energy_only.predict(far),
                                (energy_only.decision_function(far) > energy_only.threshold_).astype(int))


# -- 3. a model folder that does not match is refused at load -----------------------

def _copy(path, tmp_path, name):
  import shutil
  shutil.copytree(path, tmp_path / name)
  return tmp_path / name


def _edit_json(path, edit):
  data = json.loads(path.read_text())
  edit(data)
  path.write_text(json.dumps(data))


def test_load_refuses_edited_or_mismatched_folders(saved, tmp_path):
  _, path = saved
  edited = _copy(path, tmp_path, 'activation')
  _edit_json(edited / 'config.json', lambda c: c['model'].update(activation='relu'))
  with pytest.raises(ModelError, match=r'config\.json was changed after the model was saved'):
    DAGMM.load(edited)
  params = _copy(path, tmp_path, 'params')
  data = bytearray((params / 'params.msgpack').read_bytes())
  data[-1] ^= 1
  (params / 'params.msgpack').write_bytes(bytes(data))
  with pytest.raises(ModelError, match=r'params\.msgpack was changed'):
    DAGMM.load(params)
  # Without digests (format 1), the parameter tree is checked against config.json.
  old = _copy(path, tmp_path, 'old')
  _edit_json(old / 'model.json', lambda m: [m.pop(k) for k in ('sha256', 'feature_min', 'feature_max')])
  _edit_json(old / 'model.json', lambda m: m.update(format_version=1))
  assert DAGMM.load(old).feature_min_ is None                       # older folders still load
  _edit_json(old / 'config.json', lambda c: c['model'].update(hidden=[9]))
  with pytest.raises(ModelError, match=r'does not match its config\.json: .*config\.json gives \(9,\), params\.msgpack holds \(6,\)'):
    DAGMM.load(old)
  (old / 'config.json').write_text('{}')
  with pytest.raises(ModelError, match=r'corrupt DAGMM model at .*: config\.json: AttributeError'):
    DAGMM.load(old)
  nan = _copy(path, tmp_path, 'nan')
  _edit_json(nan / 'model.json', lambda m: m.update(threshold=float('nan')))
  with pytest.raises(ModelError, match=r'model\.json has threshold nan, not a finite number'):
    DAGMM.load(nan)
  loose = DAGMM.load(nan, require_threshold=False)
  with pytest.raises(ModelError, match='no finite threshold'):
    loose.predict(_rows(3))


# -- 4. saving onto a file -----------------------------------------------------------

def test_save_refuses_a_file_and_touches_nothing(saved, tmp_path):
  model, _ = saved
  (tmp_path / 'notes.txt').write_text('mine')
  with pytest.raises(FileExistsError, match=r'notes\.txt: it is a file'):
    model.save(tmp_path / 'notes.txt')
  assert (tmp_path / 'notes.txt').read_text() == 'mine'
  assert sorted(p.name for p in tmp_path.iterdir()) == ['notes.txt']
  (tmp_path / 'data').mkdir()
  (tmp_path / 'data' / 'x.csv').write_text('1\n')
  with pytest.raises(FileExistsError, match='holds no DAGMM model'):
    model.save(tmp_path / 'data')
  assert [p.name for p in (tmp_path / 'data').iterdir()] == ['x.csv']


# -- 5. too few rows -------------------------------------------------------------------

def test_fit_refuses_fewer_rows_than_a_covariance_needs():
  config = _config()
  assert min_rows(config) == config.model.latent_dims + 3
  for n in (1, 2):
    with pytest.raises(ValueError, match=rf'X has {n} row\(s\); DAGMM needs at least {min_rows(config)}'):
      DAGMM(config).fit(_rows(n))


# -- 6, 7. DataFrames, NaN -------------------------------------------------------------

def test_dataframe_columns_are_checked_by_name(saved, tmp_path):
  model, path = saved
  df = pd.DataFrame(_rows(5, seed=3), columns=COLUMNS)
  assert model.feature_names_in_ == COLUMNS and DAGMM.load(path).feature_names_in_ == COLUMNS
  np.testing.assert_array_equal(model.decision_function(df), model.decision_function(df.to_numpy()))
  with pytest.raises(ValueError, match=r'in another order: got \[.d., .c., .b., .a.\]'):
    model.decision_function(df[COLUMNS[::-1]])
  with pytest.raises(ValueError, match=r"missing \['d'\], unexpected \['e'\]"):
    model.predict(df.rename(columns={'d': 'e'}))
  (tmp_path / 'swapped.csv').write_text('b,a,c,d\n0.1,0.2,0.3,0.4\n')
  with pytest.raises(ValueError, match=r'swapped\.csv \(header line\) has the columns .* in another order'):
    score_to_csv(path, tmp_path / 'swapped.csv', tmp_path / 'out.csv')


def test_missing_values_name_the_row_and_column(saved, tmp_path):
  model, _ = saved
  df = pd.DataFrame(_rows(5, seed=4), columns=COLUMNS).astype(object)
  df.iloc[2, 1] = pd.NA
  with pytest.raises(ValueError, match=r"X row 2 \(index 2\), column 1 \('b'\) \(0-based\) is <NA>, not a number"):
    model.decision_function(df)
  x = _rows(5, seed=4)
  x[3, 2] = np.inf
  with pytest.raises(ValueError, match=r'X contains NaN or inf: first at row 3, column 2 \(0-based\), value inf'):
    model.decision_function(x)
  _write_csv(tmp_path / 'nan.csv', ['0.1,0.2,0.3,0.4', '0.1,0.2,0.3,0.4', '0.1,nan,0.3,0.4'])
  with pytest.raises(DataError, match=r'nan\.csv, line 3, column 2: nan is not a finite number'):
    load_rows(tmp_path / 'nan.csv')


# -- 8, 9. image folders -------------------------------------------------------------

def _gray(path, size):
  Image.fromarray(np.full(size[::-1], 120, np.uint8)).save(path)


def test_a_folder_of_several_source_sizes_warns(tmp_path):
  for name, size in (('a.png', (20, 20)), ('b.png', (20, 20)), ('c.png', (24, 20))):
    _gray(tmp_path / name, size)
  with pytest.warns(UserWarning, match=r'2 source sizes, .*20x20 \(2 images, e\.g\. a\.png\), '
                                       r'24x20 \(1 image, e\.g\. c\.png\)'):
    s = img.load_folder(tmp_path, img.validate_pattern({'r': {'width': 8, 'height': 8, 'region': 'all',
                                                              'filters': (4,)}}), 1)
  assert s.source_sizes == {(20, 20): 2, (24, 20): 1}


@pytest.fixture(scope='module')
def inspector(tmp_path_factory):
  """An untrained inspector (scoring only: fast) on a few synthetic parts."""
  root = tmp_path_factory.mktemp('parts')
  folders = synth.write_dataset(root, seed=0, size=32, n_train=16, n_val=2, n_test_ok=4, n_test_ng=4)
  workdir = root / 'model'
  Inspector.from_config(tiny_config(num_epochs=0)).fit(folders['train']).save(workdir)
  return folders, workdir


def test_every_unreadable_image_is_listed_and_skip_scores_the_others(inspector, tmp_path):
  folders, workdir = inspector
  import shutil
  folder = shutil.copytree(folders['test_ok'], tmp_path / 'mixed')
  for name in ('broken1.png', 'broken2.png'):
    (folder / name).write_bytes(b'\x89PNG garbage')
  with pytest.raises(DataError, match=r"2 unreadable image\(s\): \['broken1\.png', 'broken2\.png'\]"):
    score_to_csv(workdir, folder, tmp_path / 'out.csv')
  with pytest.warns(UserWarning, match=r"skipped 2 unreadable image\(s\) .*\['broken1\.png', 'broken2\.png'\]"):
    summary = score_to_csv(workdir, folder, tmp_path / 'out.csv', skip_bad_images=True)
  ids = [line.split(',')[0] for line in (tmp_path / 'out.csv').read_text().splitlines()[1:]]
  assert ids == sorted(p.name for p in folders['test_ok'].iterdir()) and summary.rows == 4
  run = subprocess.run([sys.executable, str(ROOT / 'scripts' / 'score.py'), f'--workdir={workdir}',
                        f'--input={folder}', f'--out={tmp_path / "cli.csv"}', '--skip_bad_images'],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert run.returncode == 0, run.stderr[-2000:]
  assert (tmp_path / 'cli.csv').read_text() == (tmp_path / 'out.csv').read_text()
  assert 'broken1.png' in run.stderr and 'broken2.png' in run.stderr


def test_region_models_are_checked_at_load(inspector, tmp_path):
  import shutil
  _, workdir = inspector
  copy = shutil.copytree(workdir, tmp_path / 'model')
  _edit_json(copy / 'regions' / 'all' / 'config.json', lambda c: c['model'].update(filters=[4, 4]))
  with pytest.raises(ModelError, match=r'regions/all: config\.json was changed'):
    Inspector.load(copy)
  with warnings.catch_warnings():
    warnings.simplefilter('error')   # one source size: no warning
    Inspector.load(workdir).score_folder(inspector[0]['test_ng'])
