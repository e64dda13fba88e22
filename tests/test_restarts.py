"""Restarts and ensembles: R = 1 is the plain run, selection reads no test row or label."""
import json

import numpy as np
import pytest
import scipy.stats

from dagmm_jax import experiment, run_report, rundir
from dagmm_jax.scoring import evalset
from dagmm_jax.core import metrics
from dagmm_jax.reports import tables
from dagmm_jax.training import restarts
from dagmm_jax.data import Dataset, load_dataset, make_split
from helpers import load_config


def _config(**kw):
  return load_config('thyroid', **{**dict(dataset='mock', num_epochs=4, num_seeds=1, checkpoint_every=2), **kw})


@pytest.fixture
def data():
  return load_dataset('mock')   # Thyroid's network (6 features); generated, no file needed


def test_one_restart_with_a_selection_epoch_is_the_plain_run(tmp_path, data):
  plain = experiment.train_and_evaluate(_config(), str(tmp_path / 'plain'))
  split = experiment.train_and_evaluate(_config(restarts=1, select_epoch=2), str(tmp_path / 'split'))
  assert split['runs'] == plain['runs']                      # every metric, bit for bit
  read = lambda d: [json.loads(l) for l in (tmp_path / d / 'metrics.jsonl').read_text().splitlines()]
  assert [(r['epoch'], r['loss']) for r in read('split')] == [(r['epoch'], r['loss']) for r in read('plain')]


def test_selection_keeps_the_lowest_training_energy_and_reads_no_test_row(tmp_path, data):
  config = _config(restarts=3, select_epoch=2, num_seeds=1)
  runs = experiment.run_chunk(config, data, [0], tmp_path / 'a', 0)
  selection = json.loads((tmp_path / 'a' / 'chunks' / 'chunk_0_selection.json').read_text())
  energies = selection['train_energy'][0]
  assert len(energies) == 3 and len(set(energies)) == 3      # three different members
  assert runs[0]['restart'] == selection['restart'][0] == int(np.argmin(energies))
  # Test rows scaled 1000x and their labels flipped: the same selection.
  test = make_split(data.y, 'paper', 0).test_idx
  x, y = np.array(data.x), np.array(data.y)
  x[test] *= 1000.0
  y[test] = 1 - y[test]
  poisoned = Dataset('mock', x, y)
  experiment.run_chunk(config, poisoned, [0], tmp_path / 'b', 0)
  again = json.loads((tmp_path / 'b' / 'chunks' / 'chunk_0_selection.json').read_text())
  assert again == selection


def test_members_to_the_end_score_an_ensemble_and_an_em_refit_best_of_r(tmp_path, data):
  config = _config(restarts=2)
  results = experiment.train_and_evaluate(config, str(tmp_path / 'a'))
  for run in results['runs']:
    assert len(run['members']) == 2 and run['ensemble']['n_members'] == 2
    assert run['restart'] == int(np.argmin(run['member_train_energy']))
    assert run['f1'] == run['members'][run['restart']]['f1']
    assert not run['ensemble']['failed'] and run['ensemble']['n_members'] == 2
    em = run['em']
    assert len(em['member_train_energy']) == 2 and len(set(em['member_train_energy'])) == 2
    assert em['restart'] == int(np.argmin(em['member_train_energy']))
    assert em['f1'] == em['member_f1'][em['restart']]
  assert {'ensemble', 'restart0', 'em'} <= set(results['summary'])
  # The ensemble row recomputed by hand: the members restored from the final
  # checkpoint, their test energies ranked (SciPy, ties averaged), the ranks
  # averaged, the top rho * n flagged.
  with experiment.precision(config):
    (_, record, restore), = rundir.restorable_chunks(tmp_path / 'a', config)
    members, state = restore()
    energies = np.asarray(evalset.make_score_fn(config)(state.params, members.train,
                                                           members.test_idx).energies)
  for s, run in enumerate(results['runs']):
    n, labels = members.n_test[2 * s], members.test_labels[2 * s]
    e = energies[2 * s:2 * s + 2, :n]
    for j in range(2):
      assert run['members'][j]['f1'] == metrics.evaluate_scores(labels, e[j], round(config.rho * n))['f1']
    score = np.mean([scipy.stats.rankdata(m) for m in e], axis=0)
    assert run['ensemble']['f1'] == pytest.approx(
        metrics.evaluate_scores(labels, score, round(config.rho * n))['f1'], abs=1e-12)
  md = (tmp_path / 'a' / 'results.md').read_text()
  assert 'best of 2' in md and '2-member ensemble' in md and 'restart 0 alone' in md and 'EM-refit GMM' in md
  # A cell made before the EM row existed: the row added from its checkpoint is the same.
  chunk = tmp_path / 'a' / 'chunks' / 'chunk_0.json'
  record = json.loads(chunk.read_text())
  for run in record['runs']:
    del run['em']
  chunk.write_text(json.dumps(record))
  added = run_report.add_em_scores(tmp_path / 'a')
  assert [r['em'] for r in added['runs']] == [r['em'] for r in results['runs']]
  assert added['summary'] == results['summary']
  # Test rows scaled 1000x and their labels flipped: the same EM training energies and pick.
  test = make_split(data.y, 'paper', 0).test_idx
  x, y = np.array(data.x), np.array(data.y)
  x[test] *= 1000.0
  y[test] = 1 - y[test]
  poisoned = experiment.run_chunk(config, Dataset('mock', x, y), [0], tmp_path / 'b', 0)[0]['em']
  assert poisoned['member_train_energy'] == results['runs'][0]['em']['member_train_energy']
  assert poisoned['restart'] == results['runs'][0]['em']['restart']


def test_pick_skips_failed_and_non_finite_members():
  e = np.array([1.0, -2.0, 0.5,   np.nan, 3.0, 4.0,   -9.0, np.inf, -1.0])
  failed = np.array([0, 0, 0,   0, 0, 0,   1, 0, 0], bool)
  assert restarts.pick(e, failed, 3).tolist() == [1, 1, 2]
  assert restarts.pick(np.full(3, np.nan), np.zeros(3, bool), 3).tolist() == [0]


def test_rank_average_averages_ranks_with_ties_and_drops_non_finite_members():
  e = np.array([[0.1, 5.0, 3.0, 3.0], [10.0, 30.0, 20.0, 40.0], [np.nan, 0.0, 0.0, 0.0]])
  np.testing.assert_allclose(restarts.rank_average(e), [(0 + 0) / 2, (3 + 2) / 2, (1.5 + 1) / 2, (1.5 + 3) / 2])
  assert np.all(np.isnan(restarts.rank_average(e[2:])))


def _cell_results(f1s, dataset='thyroid'):
  """A results dict whose runs have the given (best, ensemble, em) F1 per seed; None = failed."""
  row = lambda f: {'f1': f, 'failed': f is None}
  return {'dataset': dataset, 'runs': [{**row(b), 'ensemble': row(e), 'em': row(m)} for b, e, m in f1s]}


def test_per_cell_choice_pools_the_exploration_sets_and_counts_failures_as_zero():
  first = {'a': _cell_results([(0.5, 0.6, 0.9)]), 'b': _cell_results([(0.5, 0.5, 0.5)]),
           'c': _cell_results([(0.9, 0.1, 0.1)])}
  second = {'a': _cell_results([(0.5, 0.6, None)]), 'b': _cell_results([(0.7, 0.7, 0.7)]),
            'c': {'dataset': 'thyroid', 'runs': [{'f1': 0.9, 'failed': False}]}}   # no em row
  choice = tables.per_cell_choice([first, second])
  assert set(choice) == {'a', 'b'}                          # c lacks a scorer in one set
  assert choice['a'][0] == 'ensemble'                       # em: (0.9 + 0) / 2 < 0.6
  assert choice['a'][1] == pytest.approx({'best-of-R': 0.5, 'ensemble': 0.6, 'EM-refit best-of-R': 0.45})
  assert choice['b'][0] == 'best-of-R'                      # a tie keeps the earlier scorer
  here = {'a': _cell_results([(0.2, 0.4, 0.9), (0.2, 0.6, 0.9)])}
  lines = tables.per_cell_lines(here, choice, {'thyroid': 0.4782})
  assert any('| a |' in l and '**ensemble**' in l and '0.5000 ± 0.1414 (0.1000)' in l and '0.4782' in l
             for l in lines)


def test_add_em_scores_names_the_workdir_of_a_cell_it_cannot_score(tmp_path, data):
  (tmp_path / 'results.json').write_text(json.dumps({'config': _config(restarts=1).to_dict(), 'runs': []}))
  with pytest.raises(ValueError, match=f'{tmp_path}.*restarts > 1.*restarts=1'):
    run_report.add_em_scores(tmp_path)
  # members trained to the end, but their checkpoint is gone
  (tmp_path / 'results.json').write_text(json.dumps({'config': _config(restarts=2).to_dict(), 'runs': []}))
  (tmp_path / 'chunks').mkdir()
  (tmp_path / 'chunks' / 'chunk_0.json').write_text(json.dumps({'seeds': [0], 'runs': [{'seed': 0}], 'wall_time_s': 1.0}))
  with pytest.raises(ValueError, match=f'{tmp_path}: chunk 0 has no checkpoint of epoch 4'):
    run_report.add_em_scores(tmp_path)
