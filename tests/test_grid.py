"""Table 2 end to end on the real files: a short run per dataset and the combined table."""
import copy
import json

import pytest

from conftest import real_data_file
from dagmm_jax import grid
from dagmm_jax.core import metrics
from dagmm_jax.reports import tables

FILES = {'thyroid': 'thyroid.mat', 'arrhythmia': 'arrhythmia.mat',
         'kdd_rev': 'kddcup.data_10_percent.gz', 'kdd': 'kddcup.data_10_percent.gz'}


def _run(names, workdir):
  """Each dataset under both protocols: 2 seeds, 2 epochs (KDD: 1), in one grid run."""
  for name in names:
    real_data_file(FILES[name])
  cells = {}
  for name in names:
    for protocol in ('paper', 'goad'):
      config = grid.load_experiment(name)
      config.protocol, config.num_seeds = protocol, 2
      config.num_epochs = 1 if name.startswith('kdd') else 2
      cells[f'{name}-{protocol}'] = config
  return workdir, grid.run_grid(cells, workdir)


@pytest.fixture(scope='module')
def table(tmp_path_factory):
  return _run(('thyroid', 'arrhythmia'), tmp_path_factory.mktemp('table2'))


def test_every_cell_writes_valid_results(table):
  _check_cells(*table)


@pytest.mark.slow
def test_kdd_cells_write_valid_results(tmp_path):
  _check_cells(*_run(('kdd_rev', 'kdd'), tmp_path))


def _check_cells(workdir, results):
  assert len(results) == 4
  for name, res in results.items():
    on_disk = json.loads((workdir / name / 'results.json').read_text())
    assert on_disk['protocol'] == name.split('-')[1]
    assert on_disk['runs'] == res['runs'] and [r['seed'] for r in on_disk['runs']] == [0, 1]
    for run in on_disk['runs']:
      # A short run on the real file never fails: a failure here is a bug, not noise.
      assert run['failed'] is False and run['untrained']['failed'] is False, run.get('failure')
      assert all(0.0 <= run[m] <= 1.0 for m in metrics.NAMES)
      if on_disk['protocol'] == 'goad':   # top n_anomalies flagged: P = R
        assert run['precision'] == pytest.approx(run['recall'])


def test_table2_markdown_has_every_cell_and_the_paper(table):
  _, results = table
  text = tables.table2_markdown(results)
  for res in results.values():
    assert f"| {res['dataset']} | {res['protocol']} | DAGMM-JAX, trained |" in text
  for name in ('thyroid', 'arrhythmia'):
    assert f'{tables.PAPER_TABLE2[name][2]:.4f}' in text
  assert text.count('untrained baseline') == 4


def test_table2_markdown_names_the_cell_of_a_failed_seed_and_lists_settings_once(table):
  _, results = table
  variant = copy.deepcopy(results['thyroid-paper'])
  variant['runs'][0].update(failed=True, failure='non-finite loss or gradient at epoch 7, step 0')
  text = tables.table2_markdown({**results, 'thyroid-paper-r5': variant})
  assert '- thyroid-paper-r5, seed 0: non-finite loss or gradient at epoch 7, step 0' in text
  settings = next(line for line in text.splitlines() if line.startswith('Settings per dataset'))
  assert settings.count('thyroid ') == 1 and settings.count('arrhythmia ') == 1


def test_grid_reuses_a_finished_cell(table):
  workdir, results = table
  name = 'thyroid-paper'
  config = grid.load_experiment('thyroid')
  config.protocol, config.num_seeds, config.num_epochs = 'paper', 2, 2
  again = grid.run_grid({name: config}, workdir)[name]
  assert [r['f1'] for r in again['runs']] == [r['f1'] for r in results[name]['runs']]
  config.num_epochs = 3
  with pytest.raises(ValueError, match='num_epochs'):
    grid.run_grid({name: config}, workdir)


def test_unknown_experiment_lists_known():
  with pytest.raises(ValueError, match="'thyroid'"):
    grid.load_experiment('mnist')


def test_report_only_lists_unfinished_cells_and_runs_nothing(table):
  workdir, results = table
  config = grid.load_experiment('thyroid')
  config.protocol, config.num_seeds, config.num_epochs = 'paper', 2, 2
  unfinished = grid.load_experiment('arrhythmia')
  unfinished.num_seeds, unfinished.num_epochs = 2, 5
  done, missing = grid.collect({'thyroid-paper': config, 'arrhythmia-new': unfinished}, workdir,
                               report_only=True)
  assert list(done) == ['thyroid-paper'] and done['thyroid-paper']['runs'] == results['thyroid-paper']['runs']
  assert missing == ['arrhythmia-new (2 seeds x 5 epochs)']
  assert not (workdir / 'arrhythmia-new').exists()
  text = tables.table2_markdown(done, missing)
  assert '## Not run yet' in text and '- arrhythmia-new (2 seeds x 5 epochs)' in text


def test_table2_cells_fresh_seeds_paper_first_and_variants():
  table = grid.load_experiment('table2')
  cells = grid.table2_cells(table)
  names = list(cells)
  assert names[:8] == ['thyroid-paper', 'arrhythmia-paper', 'kdd-paper', 'kdd_rev-paper',
                       'thyroid-paper-r5', 'arrhythmia-paper-r5', 'kdd-paper-r5', 'kdd_rev-paper-r5']
  assert all(c.seed == 100 and c.num_seeds == 20 for c in cells.values())
  assert cells['kdd-paper-r5'].restarts == 5 and cells['kdd-paper-r5'].select_epoch == 0
  assert names[8:] == ['thyroid-goad', 'arrhythmia-goad', 'kdd-goad', 'kdd_rev-goad']   # r5: paper only
  del table.variant_protocols
  table.variants = {'faithful': {}, 'r3': {'restarts': 3}}
  cells = grid.table2_cells(table, quick=True)
  assert cells['kdd-goad-r3'].restarts == 3 and cells['kdd-goad'].restarts == 1
  assert cells['kdd-goad-r3'].num_seeds == 3


def test_restarts_study_cells_seeds_0_19_short_kdd():
  cells = grid.table2_cells(grid.load_experiment('restarts'))
  assert list(cells) == ['arrhythmia-paper-r5', 'kdd_rev-paper-r5', 'thyroid-paper-r5', 'kdd-paper-r5']
  assert all(c.seed == 0 and c.num_seeds == 20 and c.restarts == 5 for c in cells.values())
  assert cells['kdd-paper-r5'].num_epochs == 50 and cells['kdd_rev-paper-r5'].num_epochs == 50
  assert cells['kdd-paper-r5'].checkpoint_every <= 50
  assert cells['thyroid-paper-r5'].num_epochs == grid.load_experiment('thyroid').num_epochs


def _fake_cell(best, ens):
  runs = [{'seed': i, 'failed': b is None, 'f1': b,
           'ensemble': {'failed': e is None, 'f1': e}} for i, (b, e) in enumerate(zip(best, ens))]
  return {'runs': runs, 'summary': {'ensemble': {}}}


def test_scorer_decision_counts_failures_as_zero_and_breaks_ties_to_best():
  # Ensemble higher on the surviving seeds, but one ensemble failed: 0.9 * 2 / 3 < 0.8.
  lines = tables.scorer_decision({'a': _fake_cell([0.8, 0.8, 0.8], [0.9, 0.9, None])})
  assert lines[-1].endswith('**best-of-R**') and 'ensemble 0.6000' in lines[-1]
  lines = tables.scorer_decision({'a': _fake_cell([0.8, None], [0.7, 0.5]),
                                    'b': _fake_cell([0.5, 0.5], [0.5, 0.5])})
  assert lines[-1].endswith('**ensemble**')          # (0.4 + 0.5) / 2 < (0.6 + 0.5) / 2
  assert tables.scorer_decision({'a': _fake_cell([0.5, 0.5], [0.5, 0.5])})[-1].endswith('**best-of-R**')
  assert tables.scorer_decision({'a': {'runs': [], 'summary': {}}}) == []
  assert tables.scorer_decision({'a': _fake_cell([0.5], [0.6])}, missing=1)[-1].endswith(
      '**not decided: 1 cell(s) not finished**')
