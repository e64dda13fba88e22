"""train_and_evaluate end to end: results files on a real (small) data set, resume on the mock one."""
import json
import time

import numpy as np
import pytest

from dagmm_jax import experiment, run_report, rundir
from dagmm_jax.core import metrics
from dagmm_jax.data import make_split
from dagmm_jax.estimator import DAGMM
from dagmm_jax.inspector import score_to_csv
from dagmm_jax.training import checkpoint, train
from helpers import load_config


def _config(**kw):
  return load_config('thyroid', **{**dict(num_epochs=4, num_seeds=2, checkpoint_every=1), **kw})


@pytest.fixture
def _needs_thyroid(data_file):
  data_file('thyroid.mat')


def test_results_files_are_complete(tmp_path, _needs_thyroid):
  results = experiment.train_and_evaluate(_config(), str(tmp_path))
  on_disk = json.loads((tmp_path / 'results.json').read_text())
  assert on_disk['dataset'] == 'thyroid' and on_disk['protocol'] == 'paper'
  assert {'config', 'wall_time_s', 'peak_host_memory_gib', 'runs', 'summary'} <= set(on_disk)
  assert 0.05 < on_disk['peak_host_memory_gib'] < 64
  assert [r['seed'] for r in on_disk['runs']] == [0, 1]
  for run in on_disk['runs']:
    assert not run['failed']
    for m in metrics.NAMES:
      assert 0.0 <= run[m] <= 1.0 and 0.0 <= run['untrained'][m] <= 1.0
  s = results['summary']['trained']
  assert s['n'] == 2 and s['f1']['mean'] == pytest.approx(np.mean([r['f1'] for r in results['runs']]))
  md = (tmp_path / 'results.md').read_text()
  assert 'untrained baseline' in md and '0.4782' in md      # the paper's Thyroid F1
  lines = (tmp_path / 'metrics.jsonl').read_text().splitlines()
  assert len(lines) == 4 and json.loads(lines[-1])['epoch'] == 4
  # The pictures beside results.md (issue 16), linked from it, non-empty PNGs.
  for name in ('metrics.png', 'training_curves.png', 'latent_space.png', 'energy_hist.png'):
    data = (tmp_path / name).read_bytes()
    assert data[:8] == b'\x89PNG\r\n\x1a\n' and len(data) > 5000
    assert f']({name})' in md
  assert 'the trained seed with the median F1' in md
  # Figure 3's view of a seed (its saved model, ``models/seed_<s>``) scores its
  # test rows as the run did: the same top-k threshold and metrics.
  config = _config()
  data = rundir.load_data(config)
  for run in results['runs']:
    z, energies, labels = run_report.seed_test_view(config, data, tmp_path, run['seed'])
    assert z.shape == (run['n_test'], config.model.latent_dims + 2) and energies.shape == labels.shape
    k = int(round(config.rho * labels.size))
    again = metrics.evaluate_scores(labels, energies, k)
    assert again['threshold'] == pytest.approx(run['threshold'], rel=1e-5, abs=1e-5)
    assert again['f1'] == pytest.approx(run['f1'], abs=1e-9)
  # The saved model is the estimator's format: dagmm-score scores raw rows with it
  # (its own scaler and the run's threshold), as the run scored them.
  run = results['runs'][0]
  split = make_split(data.y, config.protocol, run['seed'])
  np.savetxt(tmp_path / 'rows.csv', data.x[split.test_idx], delimiter=',')
  flagged = score_to_csv(experiment.model_dir(tmp_path, run['seed']), tmp_path / 'rows.csv',
                         tmp_path / 'scores.csv')
  scored = np.loadtxt(tmp_path / 'scores.csv', delimiter=',', skiprows=1)
  _, energies, _ = run_report.seed_test_view(config, data, tmp_path, run['seed'])
  np.testing.assert_allclose(scored[:, 1], energies, rtol=1e-5, atol=1e-5)
  # The run flagged its top k rows (energy >= threshold); the model flags energy > threshold,
  # and the rows outside the seed's training range (issue 31).
  k = int(round(config.rho * len(energies)))
  model = DAGMM.load(experiment.model_dir(tmp_path, run['seed']))
  above = model.decision_function(data.x[split.test_idx]) > model.threshold_   # unrounded energies
  np.testing.assert_array_equal(scored[:, 3], model.out_of_range(data.x[split.test_idx]))
  np.testing.assert_array_equal(scored[:, 2], above | (scored[:, 3] == 1))
  assert flagged.anomalies == int(np.sum(scored[:, 2])) and int(np.sum(above)) in (k - 1, k)


def test_interrupted_run_resumes_to_the_same_results(tmp_path, monkeypatch):
  mock = lambda: _config(dataset='mock')   # generated rows: runs with no data file
  uninterrupted = experiment.train_and_evaluate(mock(), str(tmp_path / 'a'))

  real_save = checkpoint.save

  def save_or_crash(mngr, step, tree):
    if step == 3:                   # epoch 3 logged, its checkpoint not written
      raise KeyboardInterrupt
    real_save(mngr, step, tree)

  monkeypatch.setattr(checkpoint, 'save', save_or_crash)
  t0 = time.time()
  with pytest.raises(KeyboardInterrupt):
    experiment.train_and_evaluate(mock(), str(tmp_path / 'b'))
  crashed = time.time() - t0
  assert not (tmp_path / 'b' / 'results.json').exists()
  monkeypatch.setattr(checkpoint, 'save', real_save)
  t0 = time.time()
  resumed = experiment.train_and_evaluate(mock(), str(tmp_path / 'b'))
  resumed_call = time.time() - t0
  assert resumed['runs'] == uninterrupted['runs']
  # The run's wall time is both sessions' (it once was the resumed session's alone).
  assert resumed['sessions'] == 2
  assert 0.9 * crashed + 0.2 * resumed_call < resumed['wall_time_s'] <= crashed + resumed_call
  assert 'summed over 2 sessions' in (tmp_path / 'b' / 'results.md').read_text()
  epochs = [json.loads(l)['epoch'] for l in (tmp_path / 'b' / 'metrics.jsonl').read_text().splitlines()]
  assert epochs == [1, 2, 3, 3, 4]    # resumed from the epoch-2 checkpoint, not from scratch

  # A finished workdir is reused, not retrained.
  monkeypatch.setattr(train, 'fit', lambda *a, **k: pytest.fail('retrained a finished chunk'))
  again = experiment.train_and_evaluate(mock(), str(tmp_path / 'b'))
  assert again['runs'] == resumed['runs']
