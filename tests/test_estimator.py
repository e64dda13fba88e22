"""The estimator (``DAGMM``): the scikit-learn / PyOD interface, saving and loading,
resuming, thresholds."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import load_config

from dagmm_jax.core import inference
from dagmm_jax.data import images as img
from dagmm_jax.estimator import DAGMM, ModelError
from dagmm_jax.inspector import score_to_csv
from dagmm_jax.training import checkpoint


def test_tabular_api_roundtrip(tmp_path):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(300, 5)).astype(np.float32) * 10 + 50
  config = load_config('kdd', num_epochs=20, batch_size=100, learning_rate=1e-3,
                       model__hidden=(8,), model__n_mixtures=2)
  model = DAGMM(config).fit(x)
  e = model.decision_function(x[:7])
  assert e.shape == (7,) and np.all(np.isfinite(e))
  assert set(np.unique(model.predict(x))) <= {0, 1}
  assert np.mean(model.predict(x)) <= 0.05            # contamination 0.01 of the training rows
  model.save(tmp_path / 'm')
  model.save(tmp_path / 'm')                           # overwriting is fine
  loaded = DAGMM.load(tmp_path / 'm')
  np.testing.assert_array_equal(loaded.decision_function(x), model.decision_function(x))
  assert loaded.threshold_ == model.threshold_
  with pytest.raises(ValueError, match=r'sample shape \(4,\)'):
    loaded.decision_function(x[:, :4])
  np.savetxt(tmp_path / 'rows.csv', x[:5], delimiter=',', header='a,b,c,d,e', comments='')
  assert score_to_csv(tmp_path / 'm', tmp_path / 'rows.csv', tmp_path / 'out.csv').anomalies >= 0
  rows = (tmp_path / 'out.csv').read_text().splitlines()
  assert rows[0] == 'id,energy,is_anomaly,out_of_range' and len(rows) == 6
  np.testing.assert_allclose([float(r.split(',')[1]) for r in rows[1:]], model.decision_function(x[:5]),
                             rtol=1e-6)


def _small_tabular(**extra):
  """KDD's config shrunk, plus ``extra`` estimator fields the tabular configs leave to
  their defaults (threshold_source, contamination)."""
  rng = np.random.default_rng(1)
  x = (rng.normal(size=(200, 5)) * 10 + 50).astype(np.float32)
  config = load_config('kdd', num_epochs=6, checkpoint_every=2, batch_size=50, learning_rate=1e-3,
                       model__hidden=(8,), model__n_mixtures=2)
  config.update(extra)
  return x[:160], x[160:], config


def test_fit_resumes_after_interruption(tmp_path, monkeypatch):
  x, x_val, config = _small_tabular()
  full = DAGMM(config).fit(x, x_val=x_val, workdir=tmp_path / 'full')
  real_save = checkpoint.save

  def save_then_crash(mngr, step, tree):
    real_save(mngr, step, tree)
    if step == 4:
      raise KeyboardInterrupt('simulated interruption after the epoch-4 checkpoint')
  monkeypatch.setattr(checkpoint, 'save', save_then_crash)
  with pytest.raises(KeyboardInterrupt):
    DAGMM(config).fit(x, x_val=x_val, workdir=tmp_path / 'cut')
  monkeypatch.undo()
  resumed = DAGMM(config).fit(x, x_val=x_val, workdir=tmp_path / 'cut')
  np.testing.assert_allclose(resumed.decision_function(x_val), full.decision_function(x_val), rtol=1e-5)
  assert [r['epoch'] for r in resumed.history_] == list(range(1, 7))      # validation every epoch
  assert all('val_energy' in r for r in resumed.history_)
  config.learning_rate = 1e-2
  with pytest.raises(ValueError, match='differs in: learning_rate'):
    DAGMM(config).fit(x, x_val=x_val, workdir=tmp_path / 'cut')
  with pytest.raises(ValueError, match=r'another data \(differs in: train.sha256\)'):
    DAGMM(_small_tabular()[2]).fit(x + 1, x_val=x_val, workdir=tmp_path / 'cut')


def test_threshold_from_validation_energies():
  x, x_val, config = _small_tabular(threshold_source='val', contamination=0.1)
  model = DAGMM(config).fit(x, x_val=x_val)
  assert model.threshold_ == pytest.approx(np.percentile(model.decision_function(x_val), 90.0))
  with pytest.raises(ValueError, match='needs validation data'):
    DAGMM(config).fit(x)


def test_load_errors(tmp_path):
  with pytest.raises(ModelError, match='folder does not exist'):
    DAGMM.load(tmp_path / 'missing')
  (tmp_path / 'partial').mkdir()
  (tmp_path / 'partial' / 'config.json').write_text('{}')
  with pytest.raises(ModelError, match=r"missing \['model.json', 'params.msgpack'\]"):
    DAGMM.load(tmp_path / 'partial')
  for f in ('model.json', 'params.msgpack'):
    (tmp_path / 'partial' / f).write_bytes(b'\x00garbage')
  with pytest.raises(ModelError, match='corrupt DAGMM model'):
    DAGMM.load(tmp_path / 'partial')
  with pytest.raises(ModelError, match='not fitted'):
    DAGMM(load_config('kdd')).decision_function(np.zeros((2, 3)))


def test_the_pyod_and_scikit_learn_conventions():
  """decision_function: energies (higher = more anomalous); score_samples: minus
  them (scikit-learn's sign); labels_/fit_predict: 0/1 of the training rows with a
  share ``contamination`` above the threshold; y is ignored, as unsupervised
  estimators do, but validation rows passed where y goes are refused."""
  x, x_val, config = _small_tabular()
  model = DAGMM(config, contamination=0.1)
  labels = model.fit_predict(x, y=np.zeros(len(x)))
  assert labels is model.labels_
  np.testing.assert_array_equal(model.score_samples(x_val), -model.decision_function(x_val))
  np.testing.assert_allclose(model.decision_scores_, model.decision_function(x), rtol=1e-5, atol=1e-5)
  assert model.threshold_ == np.percentile(model.decision_scores_, 90.0)
  np.testing.assert_array_equal(model.labels_, (model.decision_scores_ > model.threshold_).astype(int))
  assert 0.05 <= model.labels_.mean() <= 0.1
  with pytest.raises(ValueError, match='x_val='):
    DAGMM(config).fit(x, x_val)
  with pytest.raises(ValueError, match=r'contamination must be in \[0, 1\)'):
    DAGMM(config, contamination=1.0).fit(x)    # checked by fit: __init__ only stores (scikit-learn)


# -- integer images in the API (issue 16 item 6) -----------------------------------

def _uint8_parts(n=24, side=8):
  rng = np.random.default_rng(0)
  base = np.sin(np.arange(side) / 2.0)[None, :] * 60 + 120
  return np.clip(base[None, ..., None] + rng.normal(0, 10, (n, side, side, 1)), 0, 255).astype(np.uint8)


def test_uint8_images_train_and_score_like_float_images(tmp_path):
  """uint8 images stay uint8 on the device and are divided by 255 per batch: the
  model is the one trained on the same images as float32 u / 255, bit for bit
  (max relative energy difference measured: 0.0; a plain on-device division,
  which XLA turns into a multiplication by 1/255, gave 2.8e-5 after 4 epochs)."""
  u8 = _uint8_parts()
  config = load_config('images', model__filters=(4,), num_epochs=1, batch_size=8)
  m8 = DAGMM(config).fit(u8)
  mf = DAGMM(config).fit(img.to_unit(u8))
  assert m8.input_dtype_ == 'uint8' and mf.input_dtype_ == 'float32'
  np.testing.assert_array_equal(m8.scale_, np.float32([255]))
  assert m8.scale_.dtype == np.float32 and m8.shift_.dtype == np.float32
  np.testing.assert_array_equal(mf.scale_, np.float32([1]))
  e8 = m8.decision_function(u8)
  np.testing.assert_array_equal(e8, mf.decision_function(img.to_unit(u8)))
  np.testing.assert_array_equal(m8.decision_scores_, mf.decision_scores_)
  assert m8.threshold_ == mf.threshold_
  # A model takes the dtype it was trained on only, also after save/load.
  m8.save(tmp_path / 'm8')
  loaded = DAGMM.load(tmp_path / 'm8')
  assert json.loads((tmp_path / 'm8' / 'model.json').read_text())['input_dtype'] == 'uint8'
  np.testing.assert_array_equal(loaded.decision_function(u8), e8)
  for model in (m8, loaded):
    with pytest.raises(ValueError, match='X has dtype uint16 but the model was trained on uint8 images'):
      model.decision_function(u8.astype(np.uint16))
    with pytest.raises(ValueError, match='X has dtype float32 but .* expects dtype uint8'):
      model.decision_function(img.to_unit(u8))
  with pytest.raises(ValueError, match=r'X has dtype uint8 but .*trained on float32 images'):
    mf.decision_function(u8)
  with pytest.raises(ValueError, match=r'X_val has dtype float64 \(taken as float32\) but .* uint8'):
    DAGMM(config).fit(u8, x_val=img.to_unit(u8).astype(np.float64))
  # Model folders from before input_dtype was stored load as float32 models.
  mf.save(tmp_path / 'mf')
  meta = json.loads((tmp_path / 'mf' / 'model.json').read_text())
  del meta['input_dtype']
  (tmp_path / 'mf' / 'model.json').write_text(json.dumps(meta))
  old = DAGMM.load(tmp_path / 'mf')
  assert old.input_dtype_ == 'float32'
  np.testing.assert_array_equal(old.decision_function(img.to_unit(u8)), mf.decision_function(img.to_unit(u8)))


def test_uint16_images_are_divided_by_65535():
  for dtype in (np.uint8, np.uint16):   # the on-device division is exactly to_unit's
    u = np.arange(np.iinfo(dtype).max + 1, dtype=dtype).reshape(-1, 16, 16, 1)
    x = jax.jit(inference.scaled)(jnp.asarray(u), jnp.zeros(1, jnp.float32),
                                  jnp.full(1, img.pixel_scale(dtype), jnp.float32))
    assert x.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(x), img.to_unit(u))
  u16 = _uint8_parts(n=16).astype(np.uint16) * 257   # 255 * 257 = 65535: the same [0, 1] values
  config = load_config('images', model__filters=(4,), num_epochs=0)   # scoring only: fast
  m = DAGMM(config).fit(u16)
  np.testing.assert_array_equal(m.scale_, np.float32([65535]))
  assert m.input_dtype_ == 'uint16'
  np.testing.assert_array_equal(m.decision_scores_, DAGMM(config).fit(img.to_unit(u16)).decision_scores_)
  with pytest.raises(ValueError, match='X has dtype uint8 but the model was trained on uint16 images'):
    m.decision_function(_uint8_parts(n=2))


def test_validation_row_matches_the_fitted_model_and_constant_columns_follow_the_config():
  """The last epoch's validation energy is the fitted model's mean energy on x_val
  (same GMM over x, same networks); ``config.constant_columns='zero'`` (Arrhythmia's
  setting) reaches the estimator's scaler as it reaches the experiments'."""
  x, x_val, config = _small_tabular(constant_columns='zero')
  x[:, 2] = 7.0                                     # constant over the training rows only
  model = DAGMM(config).fit(x, x_val=x_val)
  assert np.isinf(model.scale_[2]) and np.all(np.isfinite(np.delete(model.scale_, 2)))
  last = model.history_[-1]
  np.testing.assert_allclose(last['val_energy'], np.mean(model.decision_function(x_val)), rtol=1e-5)
  moved = x_val.copy()
  moved[:, 2] += 1e3                                # the column carries nothing: energies unchanged
  np.testing.assert_array_equal(model.decision_function(moved), model.decision_function(x_val))
