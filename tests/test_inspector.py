"""The image inspector end to end: training, thresholds, saving, the report, the commands."""
import copy
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from helpers import PNG_MAGIC, ROOT, tiny_config

from dagmm_jax.core import metrics, yardsticks
from dagmm_jax.reports import inspection
from dagmm_jax.estimator import ModelError
from dagmm_jax.data import synthetic_images as synth
from dagmm_jax.inspector import Inspector, health_line


# -- end to end -----------------------------------------------------------------

@pytest.fixture(scope='module')
def trained(tmp_path_factory):
  root = tmp_path_factory.mktemp('parts')
  folders = synth.write_dataset(root, seed=0, size=32, n_train=60, n_val=10, n_test_ok=30,
                                n_test_ng=30)
  workdir = root / 'model'
  inspector = Inspector.from_config(tiny_config()).fit(folders['train'], folders['val'],
                                                       workdir=workdir)
  inspector.save(workdir)
  return folders, inspector, workdir


def _auroc(inspector, folders):
  ok, ng = inspector.score_folder(folders['test_ok']), inspector.score_folder(folders['test_ng'])
  labels = np.r_[np.zeros(len(ok.names)), np.ones(len(ng.names))]
  return metrics.auroc(labels, np.r_[ok.energies, ng.energies])


def test_training_lowers_loss_and_logs_validation(trained):
  _, inspector, workdir = trained
  h = inspector.models['all'].history_
  assert h[-1]['epoch'] == 200
  assert h[-1]['loss'] < 0.5 * h[0]['loss']
  assert h[-1]['reconstruction'] < 0.5 * h[0]['reconstruction']
  val = [r for r in h if 'val_energy' in r]
  assert [r['epoch'] for r in val] == [50, 100, 150, 200]                # val_every=50
  assert all(np.isfinite(r['val_energy']) and np.isfinite(r['val_reconstruction']) for r in val)
  assert val[-1]['val_reconstruction'] < val[0]['val_reconstruction']
  log = json.loads((workdir / 'metrics.json').read_text())
  assert log['all'][-1]['epoch'] == 200
  per_epoch = [json.loads(l) for l in (workdir / 'training' / 'all' / 'metrics.jsonl').open()]
  assert [r['epoch'] for r in per_epoch] == [r['epoch'] for r in h]
  assert (workdir / 'training' / 'all' / 'checkpoints' / '200').is_dir()   # orbax, final epoch


# Model quality. With the old defaults (tanh, a 2-dimensional code) the trained run
# scored 1.000 on data and training seeds 0-5 and the untrained network 0.78-0.87
# (issue 18, results/bench_images). With the gelu / 8-dimensional code defaults
# (issue 29) the untrained network also scores 1.000 on these parts (seed 0,
# measured), so only the trained model's detection is checked here; the harder
# image benchmark (results/image_benchmark) sets the model beside the yardsticks.
def test_trained_model_detects_the_defects(trained):
  folders, inspector, _ = trained
  assert _auroc(inspector, folders) >= 0.95


@pytest.mark.slow
def test_trained_model_detects_the_defects_over_seeds(tmp_path):
  """The bound above on three more data and training seeds."""
  results = []
  for seed in (1, 2, 3):
    folders = synth.write_dataset(tmp_path / str(seed), seed=seed, size=32, n_train=60, n_val=10,
                                  n_test_ok=30, n_test_ng=30)
    trained = Inspector.from_config(tiny_config(seed=seed)).fit(folders['train'], folders['val'])
    results.append(_auroc(trained, folders))
  assert all(a >= 0.95 for a in results), results


def test_threshold_is_training_percentile(trained):
  folders, inspector, _ = trained
  train_scores = inspector.score_folder(folders['train'])
  assert np.mean(train_scores.energies > inspector.threshold) <= 0.05
  ng = inspector.score_folder(folders['test_ng'])
  np.testing.assert_array_equal(ng.is_anomaly, ng.energies > inspector.threshold)
  assert ng.is_anomaly.mean() >= 0.8


def test_save_load_identical(trained):
  folders, inspector, workdir = trained
  loaded = Inspector.load(workdir)
  assert loaded.threshold == inspector.threshold
  a, b = inspector.score_folder(folders['test_ng']), loaded.score_folder(folders['test_ng'])
  np.testing.assert_array_equal(a.energies, b.energies)
  with pytest.raises(ModelError, match='no image inspector'):
    Inspector.load(workdir.parent / 'nowhere')


def test_report(trained, tmp_path):
  folders, inspector, _ = trained
  metrics = inspection.make_report(inspector, folders['test_ok'], folders['test_ng'], tmp_path)
  for name in ('energy_hist.png', 'curves.png', 'latent_scatter.png', 'pca.png', 'tsne.png', 'worst.png',
               'false_positives.png', 'missed.png'):
    data = (tmp_path / name).read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 1000
    assert f']({name})' in (tmp_path / 'report.md').read_text()
  md = (tmp_path / 'report.md').read_text()
  assert '| auroc |' in md and 'Networks: final.' in md
  # The galleries: the highest-energy OK images and the lowest-energy NG images.
  ok, ng = inspector.score_folder(folders['test_ok']), inspector.score_folder(folders['test_ng'])
  fp_section = md.split('## False positives')[1].split('## Missed')[0]
  assert ok.names[int(np.argmax(ok.energies))] in fp_section
  assert ng.names[int(np.argmin(ng.energies))] in md.split('## Missed')[1]
  assert 0.0 <= metrics['precision'] <= 1.0
  assert metrics['auroc'] == pytest.approx(_auroc(inspector, folders))   # the report's figure is the scorer's


def test_report_threshold_for_a_target_recall_is_stored_with_the_model(trained, tmp_path):
  import shutil
  folders, _, workdir = trained
  shutil.copytree(workdir, tmp_path / 'model')
  inspector = Inspector.load(tmp_path / 'model')
  metrics = inspection.make_report(inspector, folders['test_ok'], folders['test_ng'],
                                      tmp_path / 'report', target_recall=0.9)
  assert metrics['recall'] >= 0.9 and metrics['threshold'] == inspector.threshold
  assert 'for recall >= 0.9' in (tmp_path / 'report' / 'report.md').read_text()
  inspector.save_threshold(tmp_path / 'model')
  assert Inspector.load(tmp_path / 'model').threshold == inspector.threshold
  metrics = inspection.make_report(inspector, folders['test_ok'], folders['test_ng'],
                                      tmp_path / 'report', max_fpr=0.0)
  assert metrics['false_positive_rate'] == 0.0


def test_report_on_a_chosen_epoch(trained, tmp_path):
  """``Inspector.load(step=N)`` / ``report.py --step N`` score with the networks of
  epoch N (GMM and threshold refitted on the training images): other energies than
  the final model's; the last epoch gives the final model back."""
  folders, inspector, workdir = trained
  final = inspector.score_folder(folders['test_ng']).energies
  at_50 = Inspector.load(workdir, step=50)
  assert at_50.step == 50 and at_50.folders['train'] == str(pathlib.Path(folders['train']).resolve())
  early = at_50.score_folder(folders['test_ng']).energies
  assert np.max(np.abs(early - final)) > 1e-3 * np.max(np.abs(final))
  last = Inspector.load(workdir, step=200)
  np.testing.assert_allclose(last.score_folder(folders['test_ng']).energies, final, rtol=1e-5, atol=1e-5)
  assert last.threshold == pytest.approx(inspector.threshold, rel=1e-5)
  with pytest.raises(ModelError, match=r'no checkpoint of epoch 55 .*kept epochs: \[10, 20'):
    Inspector.load(workdir, step=55)
  out = tmp_path / 'report50'
  subprocess.run([sys.executable, str(ROOT / 'scripts' / 'report.py'), f'--workdir={workdir}',
                  f'--test_ok={folders["test_ok"]}', f'--test_ng={folders["test_ng"]}', f'--out={out}',
                  '--step=50'], check=True, cwd=ROOT, capture_output=True, timeout=600)
  assert 'Networks: epoch 50 of training' in (out / 'report.md').read_text()


def test_score_script(trained, tmp_path):
  folders, inspector, workdir = trained
  out = tmp_path / 'scores.csv'
  subprocess.run([sys.executable, str(ROOT / 'scripts' / 'score.py'), f'--workdir={workdir}',
                  f'--input={folders["test_ng"]}', f'--out={out}'], check=True, cwd=ROOT,
                 capture_output=True, timeout=300)
  lines = out.read_text().splitlines()
  assert lines[0] == 'id,energy,is_anomaly,out_of_range'
  rows = [l.split(',') for l in lines[1:]]
  expected = inspector.score_folder(folders['test_ng'])
  assert [r[0] for r in rows] == expected.names
  np.testing.assert_allclose([float(r[1]) for r in rows], expected.energies, rtol=1e-6)
  assert [int(r[2]) for r in rows] == list(expected.is_anomaly)


def test_train_script_resumes_and_refuses_another_config(trained, tmp_path):
  folders, _, _ = trained
  cmd = [sys.executable, str(ROOT / 'scripts' / 'train_images.py'), '--config',
         str(ROOT / 'experiments' / 'images.py'), f'--train={folders["train"]}',
         f'--val={folders["val"]}', f'--workdir={tmp_path}', '--config.num_epochs=2',
         '--config.checkpoint_every=1']
  run = lambda *extra: subprocess.run(cmd + list(extra), cwd=ROOT, capture_output=True, text=True,
                                      timeout=600)
  first = run()
  assert first.returncode == 0, first.stderr[-2000:]
  assert (tmp_path / 'inspector.json').is_file()
  assert (tmp_path / 'training' / 'all' / 'checkpoints' / '2').is_dir()
  again = run()
  assert again.returncode == 0 and 'resuming from the checkpoint at epoch 2' in again.stdout
  other = run('--config.learning_rate=0.1')
  assert other.returncode != 0 and 'differs in: learning_rate' in other.stderr


def test_report_sets_yardsticks_beside_dagmm(trained, tmp_path):
  folders, inspector, _ = trained
  inspection.make_report(inspector, folders['test_ok'], folders['test_ng'], tmp_path)
  saved = json.loads((tmp_path / 'metrics.json').read_text())
  ok, ng = (inspector.load_images(folders[k]) for k in ('test_ok', 'test_ng'))
  x_train = inspection.flat_pixels(inspector.load_images(folders['train']).arrays)
  x_test = np.r_[inspection.flat_pixels(ok.arrays), inspection.flat_pixels(ng.arrays)]
  labels = np.r_[np.zeros(len(ok.names)), np.ones(len(ng.names))]
  for name, score in yardsticks.scores(x_train, x_test).items():
    assert saved['yardsticks'][name]['auroc'] == pytest.approx(metrics.auroc(labels, score))
    assert f"| {name} | {saved['yardsticks'][name]['auroc']:.4f} |" in (tmp_path / 'report.md').read_text()
  latent = int(inspector.models['all'].config.model.latent_dims)
  assert len(saved['health']['all']['collapsed_dims']) < latent   # the trained demo model's code lives


def test_a_collapsed_code_is_reported(trained, tmp_path):
  """The code layer zeroed (a constant code): the model's health, the training
  line and the report all say so."""
  folders, inspector, _ = trained
  dead = copy.deepcopy(inspector)
  model = dead.models['all']
  code = model.params_['params']['compression']['code']
  code['kernel'] = np.zeros_like(code['kernel'])
  train = dead.load_images(folders['train']).arrays['all']
  model._finish(model.params_, train, None)
  latent = int(model.config.model.latent_dims)
  assert model.health_['collapsed_dims'] == list(range(latent))
  assert f'WARNING: collapsed code: {latent} of {latent}' in health_line('all', model.health_)
  assert len(inspector.models['all'].health_['collapsed_dims']) < latent
  inspection.make_report(dead, folders['test_ok'], folders['test_ng'], tmp_path)
  assert f'**WARNING: collapsed code: {latent} of {latent}' in (tmp_path / 'report.md').read_text()


def test_seeds_train_the_models_of_single_trainings(trained, tmp_path):
  """``num_seeds = 2`` (``--seeds 2``) gives each member the model a single
  training with that seed gives; the ensemble standardises and averages them."""
  folders = trained[0]
  short = dict(num_epochs=4, val_every=0)
  both = Inspector.from_config(tiny_config(num_seeds=2, **short)).fit(folders['train'])
  ok = both.load_images(folders['test_ok'])
  # Equal up to rounding: the members' matrix products are batched over seeds, a single
  # training's are not, and the rounding grows over the steps (measured 2.6e-4 relative
  # after 4 epochs). The two seeds' models differ by far more (checked below).
  energies = [m['all'].decision_function(ok.arrays['all']) for m in both.members]
  for member, seed, e in zip(both.members, [0, 1], energies):
    alone = Inspector.from_config(tiny_config(seed=seed, **short)).fit(folders['train'])
    assert member['all'].config.seed == seed
    np.testing.assert_allclose(e, alone.models['all'].decision_function(ok.arrays['all']), rtol=1e-3, atol=1e-3)
  assert np.max(np.abs(energies[0] - energies[1])) > 30 * 1e-3 * np.max(np.abs(energies[1]))
  scored = both.score_arrays(ok.arrays, ok.names)
  expected = np.mean([(x - med) / iqr for x, (med, iqr) in zip(scored.member_energies, both.standardise)],
                     axis=0)
  np.testing.assert_allclose(scored.energies, expected)
  both.save(tmp_path / 'w')
  again = Inspector.load(tmp_path / 'w')
  np.testing.assert_allclose(again.score_arrays(ok.arrays, ok.names).energies, expected, rtol=1e-6)
  metrics = inspection.make_report(again, folders['test_ok'], folders['test_ng'], tmp_path / 'r')
  assert metrics['members'] == 2 and '2 members (seeds [0, 1])' in (tmp_path / 'r' / 'report.md').read_text()


def test_a_tiled_region_scores_an_image_by_its_worst_tile(trained):
  folders = trained[0]
  tiled = {'all': {'width': 32, 'height': 32, 'region': 'all', 'filters': (8,), 'tiles': 2}}
  inspector = Inspector.from_config(tiny_config(patterns={'tiled': tiled}, pattern='tiled', num_epochs=3,
                                                val_every=0)).fit(folders['train'])
  model = inspector.models['all']
  assert model.input_shape_ == (16, 16, 1)
  ng = inspector.load_images(folders['test_ng'])
  got = inspector.score_arrays(ng.arrays, ng.names).energies
  tiles = np.stack([model.decision_function(np.asarray(ng.arrays['all'][:, r:r + 16, c:c + 16]))
                    for r in (0, 16) for c in (0, 16)], axis=1)
  np.testing.assert_allclose(got, tiles.max(axis=1), rtol=1e-4, atol=1e-3)   # other batch shapes
  assert len(np.unique(np.argmax(tiles, axis=1))) > 1   # the worst tile is not always the same one
  train_set = inspector.load_images(folders['train'])
  assert inspector.embed('all', train_set.arrays['all']).shape == (len(train_set.names),
                                                                  model.config.model.latent_dims + 2)
