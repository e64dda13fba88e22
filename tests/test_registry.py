"""The scorer registry: a new scorer is one function and one entry, and every
table, plot and summary shows it."""
from types import SimpleNamespace

import ml_collections
import numpy as np

from dagmm_jax.reports import plots, tables
from dagmm_jax.scoring import evalset, registry


def _chunk(labels: list[np.ndarray]) -> registry.Trained:
  """A chunk of two seeds, the networks' own scorers given as plain metrics (no training)."""
  config = ml_collections.ConfigDict({'protocol': 'paper', 'rho': 0.25, 'restarts': 1})
  plain = [evalset.seed_metrics(config, y, np.arange(len(y), dtype=float)) for y in labels]
  state = SimpleNamespace(failed_step=np.array([-1, -1]))
  return registry.Trained(config, [0, 1], SimpleNamespace(test_labels=labels), None, state,
                          trained=plain, untrained=plain)


def test_a_toy_scorer_is_one_function_and_one_entry(monkeypatch):
  def oracle(t):   # scores each test row by its label: a perfect detector
    return [registry.metric_row(*evalset.seed_metrics(t.config, y, y.astype(float)))
            for y in t.evalset.test_labels]
  monkeypatch.setitem(registry.SCORERS, 'oracle', registry.Scorer(
      row=lambda run: run.get('oracle'), score=oracle, store=lambda run, v: run.__setitem__('oracle', v),
      label=lambda R: 'label oracle', plot_label=lambda R: 'oracle', rule='oracle'))

  labels = [np.array([0, 0, 0, 1, 0, 0, 1, 0]), np.array([1, 0, 0, 0, 0, 0, 0, 1])]
  runs = registry.score_runs(_chunk(labels), [{'n_test': 8}, {'n_test': 8}])
  assert [r['oracle']['f1'] for r in runs] == [1.0, 1.0]
  assert runs[0]['f1'] == 0.5 and runs[1]['f1'] == 0.5   # the trained scorer still ran

  results = {'dataset': 'thyroid', 'protocol': 'paper', 'seeds': [0, 1], 'wall_time_s': 1.0,
             'devices': ['cpu'], 'runs': runs,
             'config': {'restarts': 1, 'num_epochs': 1, 'batch_size': 8, 'scaling': 'minmax',
                        'gmm': {'regularizer': 'none'}, 'dtype': 'float32'}}
  md = tables.results_markdown(results)
  rows = [line for line in md.splitlines() if line.startswith('| ')]
  assert [r.split(' | ')[0] for r in rows[1:]] == ['| DAGMM-JAX, trained', '| untrained baseline',
                                                   '| label oracle', '| paper (Zong et al. 2018, Table 2)']
  assert '| label oracle | 1.0000 ± 0.0000 | 1.0000 ± 0.0000 | 1.0000 ± 0.0000 (0.0000) |' in md
  assert tables.summarize(runs)['oracle']['f1']['mean'] == 1.0
  assert ('oracle', [r['oracle'] for r in runs]) in plots._scorers(results)
  assert list(tables._candidates()) == ['best-of-R', 'ensemble', 'EM-refit best-of-R', 'oracle']


def test_registry_order_and_the_restart_scorers_only_with_members():
  labels = [np.array([0, 1, 0, 0]), np.array([0, 0, 1, 0])]
  runs = registry.score_runs(_chunk(labels), [{}, {}])
  assert list(tables.summarize(runs)) == ['trained', 'untrained']   # no members: no restart scorers
  assert list(registry.SCORERS) == ['trained', 'ensemble', 'em', 'restart0', 'untrained']
  assert list(registry.present([])) == ['trained', 'untrained']


def test_a_seed_that_failed_in_training_is_failed_with_where():
  t = _chunk([np.array([0, 1, 0, 0]), np.array([0, 0, 1, 0])])
  t.state = SimpleNamespace(failed_step=np.array([3, -1]), failed_epoch=np.array([1, -1]),
                            failed_cause=np.array([0, 0]))
  runs = registry.score_runs(t, [{}, {}])
  assert runs[0]['failed'] and runs[0]['f1'] is None and runs[0]['failed_at'] == [2, 3]
  assert runs[0]['failure'].endswith('at epoch 2, step 3') and runs[0]['untrained']['f1'] == 0.0
  assert not runs[1]['failed'] and 'failed_at' not in runs[1]


def test_every_scorer_end_to_end_on_the_mock_set_without_data_files(tmp_path, monkeypatch):
  from dagmm_jax import experiment
  from helpers import load_config
  monkeypatch.delenv('DAGMM_DATA_DIR', raising=False)   # the mock set is generated, never read
  config = load_config('thyroid', dataset='mock', num_epochs=2, num_seeds=2, restarts=2)
  results = experiment.train_and_evaluate(config, str(tmp_path))
  assert list(results['summary']) == list(registry.SCORERS)
  md = (tmp_path / 'results.md').read_text()
  for name, s in registry.SCORERS.items():
    assert f'| {s.label(2)} |' in md
    assert all(s.row(r) is not None and 0.0 <= (s.row(r)['auroc'] or 0.0) <= 1.0 for r in results['runs'])
  assert results['summary']['trained']['n'] + results['summary']['trained']['n_failed'] == 2
  assert (tmp_path / 'models' / 'seed_1').is_dir()
