"""The estimator (``DAGMM``): the scikit-learn / PyOD interface, saving and loading,
resuming, thresholds."""
import numpy as np
import pytest
from helpers import load_config

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
  assert score_to_csv(tmp_path / 'm', tmp_path / 'rows.csv', tmp_path / 'out.csv') >= 0
  rows = (tmp_path / 'out.csv').read_text().splitlines()
  assert rows[0] == 'id,energy,is_anomaly' and len(rows) == 6
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
    DAGMM(config, contamination=1.0)
