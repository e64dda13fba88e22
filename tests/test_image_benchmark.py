"""The offline image benchmark: cells, resuming, the table."""
import json

import pytest

from dagmm_jax import image_benchmark
from dagmm_jax.experiments import image_benchmark as bench_config


def _tiny(tasks=('mnist', 'surface')):
  c = bench_config.get_config()
  c.tasks, c.digits, c.split_seeds, c.members = tasks, (1, 7), (0, 1), 2
  for task in ('mnist', 'surface'):
    c[task].num_epochs, c[task].batch_size = 2, 32
  c.surface.patterns.whole.all.width = c.surface.patterns.whole.all.height = 32
  c.surface_images.n_train, c.surface_images.n_test_ok, c.surface_images.n_test_ng = 24, 8, 8
  return c


def test_cells_cover_every_task_digit_and_split():
  names = [c.name for c in image_benchmark.cells(_tiny())]
  assert names == ['mnist-1-s0', 'mnist-1-s1', 'mnist-7-s0', 'mnist-7-s1', 'surface-s0', 'surface-s1']
  c = _tiny()
  c.tasks = ('mnist', 'cifar')
  with pytest.raises(ValueError, match="unknown \\['cifar'\\]"):
    image_benchmark.cells(c)


@pytest.mark.slow   # about 1.5 min here; the failed-cell test below covers the table in the default suite
def test_benchmark_runs_resumes_and_tabulates(tmp_path, data_file, monkeypatch):
  data_file('t10k-images-idx3-ubyte.gz'), data_file('t10k-labels-idx1-ubyte.gz')
  config = _tiny()
  config.digits = (1,)
  records = image_benchmark.run(config, tmp_path)
  assert [r['cell'] for r in records] == ['mnist-1-s0', 'mnist-1-s1', 'surface-s0', 'surface-s1']
  r = records[0]
  assert r['n_ok'] + r['n_train'] == 1135 and r['n_ng'] == 10000 - 1135   # every other digit
  assert set(r['scores']) == {'member_0', 'member_1', 'ensemble', 'pca10', 'pca50', 'knn5'}
  assert all(0.0 <= s['auroc'] <= 1.0 for s in r['scores'].values())
  assert not (tmp_path / 'images' / 'mnist-1-s0').exists()   # the images are gone once scored
  md = (tmp_path / 'benchmark.md').read_text()
  assert '| MNIST digit 1 |' in md and '| surfaces |' in md
  # A second run reuses every finished cell and trains nothing.
  monkeypatch.setattr(image_benchmark, 'run_cell', lambda *a, **k: pytest.fail('a finished cell ran again'))
  again = image_benchmark.run(config, tmp_path)
  assert again == json.loads((tmp_path / 'benchmark.json').read_text())['cells']
  summary = image_benchmark.summary(again)['MNIST digit 1']
  member_0 = [c['scores']['member_0']['auroc'] for c in records[:2]]
  assert summary['auroc']['DAGMM (one model)'][0] == pytest.approx(sum(member_0) / 2)


def test_a_failed_cell_is_counted_not_dropped(tmp_path, monkeypatch):
  config = _tiny(tasks=('surface',))

  def fail(*args, **kwargs):
    raise FloatingPointError('training failed: non-finite loss or gradients at epoch 3 of seed 0')
  monkeypatch.setattr(image_benchmark.Inspector, 'fit', fail)
  records = image_benchmark.run(config, tmp_path)
  assert [r['failed'][:15] for r in records] == ['training failed'] * 2
  md = (tmp_path / 'benchmark.md').read_text()
  assert '| surfaces | failed |' in md and '`surface-s0` failed: training failed' in md
  assert image_benchmark.summary(records)['surfaces']['failed'] == ['surface-s0', 'surface-s1']


def test_cells_claimed_by_another_process_are_left_to_it_and_stale_claims_cleared(tmp_path, monkeypatch):
  config = _tiny()
  ran = []

  def fake_cell(cell, config, workdir, mnist_data=None):
    ran.append(cell.name)
    return {'cell': cell.name, 'task': cell.task, 'digit': cell.digit, 'split_seed': cell.split_seed,
            'failed': 'not trained (test)', 'seconds': 0.0}
  monkeypatch.setattr(image_benchmark, 'run_cell', fake_cell)
  monkeypatch.setattr(image_benchmark.mnist, 'load_mnist_test', lambda: None)
  (tmp_path / 'cells').mkdir()
  (tmp_path / 'cells' / 'mnist-7-s0.claim').write_text('12345')    # another worker has it
  image_benchmark.run_cells(config, tmp_path)
  assert ran == ['surface-s0', 'surface-s1', 'mnist-1-s0', 'mnist-1-s1', 'mnist-7-s1']   # longest first
  assert sorted(p.name for p in (tmp_path / 'cells').glob('*.claim')) == ['mnist-7-s0.claim']
  # A new run holds the workdir's lock, so a claim it finds is an interrupted run's: cleared and run.
  ran.clear()
  records = image_benchmark.run(config, tmp_path)
  assert ran == ['mnist-7-s0'] and len(records) == 6 and not list((tmp_path / 'cells').glob('*.claim'))


def test_two_worker_processes_share_the_cells(tmp_path, data_file):
  data_file('t10k-images-idx3-ubyte.gz'), data_file('t10k-labels-idx1-ubyte.gz')
  config = _tiny()
  config.digits, config.split_seeds, config.members = (1,), (0,), 1
  records = image_benchmark.run(config, tmp_path, processes=2)
  assert [r['cell'] for r in records] == ['mnist-1-s0', 'surface-s0']
  assert all('failed' not in r and 0.0 <= r['scores']['member_0']['auroc'] <= 1.0 for r in records)
  assert not list((tmp_path / 'cells').glob('*.claim'))
  assert '| MNIST digit 1 |' in (tmp_path / 'benchmark.md').read_text()


def test_disjoint_ensembles_and_their_spread_over_seeds():
  import numpy as np
  rng = np.random.default_rng(0)
  energies = [rng.normal(size=50) for _ in range(6)]
  standardise = [(float(rng.normal()), float(rng.uniform(0.5, 2))) for _ in range(6)]
  got = image_benchmark.ensembles(energies, standardise, 3)
  assert list(got) == ['ensemble', 'ensemble_1']
  want = np.mean([(energies[i] - standardise[i][0]) / standardise[i][1] for i in (3, 4, 5)], axis=0)
  np.testing.assert_array_equal(got['ensemble_1'], want)
  # All members in one ensemble: the Inspector's own score, to the bit.
  from dagmm_jax.inspector import Inspector
  inspector = Inspector.__new__(Inspector)
  inspector.standardise = standardise
  np.testing.assert_array_equal(image_benchmark.ensembles(energies, standardise, 6)['ensemble'],
                                inspector._combine(energies))

  def record(split, aurocs):
    scores = {k: {'auroc': a, 'auprc': a} for k, a in zip(['ensemble', 'ensemble_1', 'ensemble_2'], aurocs)}
    scores.update({k: {'auroc': 0.9, 'auprc': 0.9} for k in ['member_0', 'pca10', 'pca50', 'knn5']})
    return {'cell': f'mnist-3-s{split}', 'task': 'mnist', 'digit': 3, 'split_seed': split, 'scores': scores,
            'health': [{}], 'seconds': 60.0}
  records = [record(0, [0.90, 0.92, 0.94]), record(1, [0.95, 0.95, 0.95])]
  row = image_benchmark.summary(records)['MNIST digit 3']
  assert row['seed_spread'][:2] == pytest.approx((0.01, 0.02))       # std 0.02 and 0, mean 0.01
  config = _tiny()
  config.members, config.ensemble_size = 9, 3
  md = image_benchmark.table(records, config)
  assert "ensembles' std over seeds" in md and '| 0.0100, 0.0200 |' in md
  # A run without disjoint ensembles keeps the table as it was.
  plain = [{**r, 'scores': {k: v for k, v in r['scores'].items() if k not in ('ensemble_1', 'ensemble_2')}}
           for r in records]
  assert 'std over seeds' not in image_benchmark.table(plain, _tiny())


def test_spread_of_the_digit_mean_over_ensembles_and_report_only(tmp_path):
  def record(digit, split, aurocs):
    scores = {k: {'auroc': a, 'auprc': a} for k, a in zip(['ensemble', 'ensemble_1'], aurocs)}
    scores.update({k: {'auroc': 0.9, 'auprc': 0.9} for k in ['member_0', 'pca10', 'pca50', 'knn5']})
    return {'cell': f'mnist-{digit}-s{split}', 'task': 'mnist', 'digit': digit, 'split_seed': split,
            'scores': scores, 'health': [{}], 'seconds': 60.0}
  # Split 0: digit means 0.90 and 0.94 (std 0.0283); split 1: 0.95 both (std 0).
  records = [record(1, 0, [0.88, 0.96]), record(2, 0, [0.92, 0.92]),
             record(1, 1, [0.95, 0.95]), record(2, 1, [0.95, 0.95])]
  mean, top = image_benchmark.digit_mean_spread(records)
  assert top == pytest.approx(0.04 / 2 ** 0.5) and mean == pytest.approx(top / 2)
  config = _tiny()
  config.members, config.ensemble_size = 4, 2
  from dagmm_jax import files
  files.write_json(tmp_path / 'benchmark.json', {'config': config.to_dict(), 'cells': records})
  md = image_benchmark.report(tmp_path)
  assert md == (tmp_path / 'benchmark.md').read_text() == image_benchmark.table(records, config)
  assert '**MNIST, mean of 2 digits** | **0.9000** | **0.9000** | **0.9250** | ' in md
  assert f'| {mean:.4f}, {top:.4f} | | | |' in md
