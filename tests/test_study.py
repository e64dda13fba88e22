"""The singularity study on Thyroid: cells, diagnostics, table and plots (tiny runs)."""
import pytest

from dagmm_jax import grid, study
from dagmm_jax.experiments import singularity


@pytest.fixture(scope='module')
def ran(tmp_path_factory, request):
  from conftest import real_data_file
  real_data_file('thyroid.mat')
  config = singularity.get_config()
  config.experiments, config.regularizers = ('thyroid',), ('jitter(eps=1e-6)',)
  config.float64_regularizers = config.regularizers
  config.num_seeds = 2
  cells = study.cells(config)
  for c in cells.values():
    c.num_epochs, c.checkpoint_every = 2, 1
  workdir = tmp_path_factory.mktemp('study')
  return config, cells, workdir, grid.run_grid(cells, workdir)


def test_cells_are_named_and_ordered_float32_first():
  config = singularity.get_config()
  names = list(study.cells(config))
  assert len(names) == len(config.experiments) * (len(config.regularizers) + len(config.float64_regularizers))
  assert names[0] == 'thyroid-none-float32' and names[-1].endswith('float64')
  assert 'kdd-relative_jitter_eps_0.0001-float32' in names and 'kdd_rev-none-float64' in names
  assert 'kdd-relative_jitter_eps_0.0001-float64' not in names        # float64: none and the default only
  quick = study.cells(config, quick=True)['thyroid-none-float32']
  assert quick.num_seeds == 3 and quick.num_epochs == 200


def test_diagnostics_summary_table_and_plots(ran):
  config, cells, workdir, results = ran
  summaries = {}
  for name in cells:
    diag = study.read_diagnostics(workdir / name)
    assert diag['min_eig'].shape == (2, 2, 2)           # epochs x seeds x components
    assert results[name]['config']['dtype'] == name.rsplit('-', 1)[1]
    summaries[name] = study.cell_summary(results[name], study.digest(diag))
    assert summaries[name]['seeds'] == 2 and summaries[name]['median_min_eig'] > 0
    assert 0 <= summaries[name]['min_weight'] < 1                       # K = 2 on Thyroid:
    assert 1 - 1e-5 <= summaries[name]['effective_components'] <= 2 + 1e-5   # between 1 and 2
    assert summaries[name]['first_failure'] is None                      # no seed failed, so:
    assert summaries[name]['f1_failed_as_zero'] == pytest.approx(summaries[name]['f1'][0])
  text = study.study_markdown(summaries, {n: r['config'] for n, r in results.items()}, False, ['x.png'])
  assert text.count('| thyroid |') == 2 and '`jitter(eps=1e-6)` | float64' in text
  for dtype in config.dtypes:
    files = study.plot_dataset('thyroid', dtype, {s: study.read_digest(
        workdir / study.cell_name('thyroid', s, dtype)) for s in config.regularizers}, workdir)
    for f in files:
      assert (workdir / f).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_report_only_writes_study_of_finished_cells(ran):
  config, cells, workdir, _ = ran
  config.regularizers = config.float64_regularizers = ('jitter(eps=1e-6)', 'oas')   # oas never ran
  text = study.write_study(config, workdir, report_only=True)
  assert text.count('| thyroid |') == 2 and '## Not run yet' in text
  assert '- thyroid-oas-float32 (2 seeds x 20000 epochs)' in text
  assert not (workdir / 'thyroid-oas-float32').exists()
  assert (workdir / 'thyroid-float32-min_eig.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
  # A committed cell keeps results.json and diagnostics.json, not metrics.jsonl: the same table.
  for name in cells:
    (workdir / name / 'metrics.jsonl').rename(workdir / name / 'metrics.jsonl.away')
  try:
    assert study.write_study(config, workdir, report_only=True) == text
  finally:
    for name in cells:
      (workdir / name / 'metrics.jsonl.away').rename(workdir / name / 'metrics.jsonl')


def test_summary_counts_a_failed_seed_and_its_first_failure():
  import numpy as np
  runs = [{'failed': True, 'failure': 'non-finite cholesky at epoch 7, step 3', 'f1': None, 'auroc': None},
          {'failed': True, 'failure': 'non-finite energy at epoch 5, step 9', 'f1': None, 'auroc': None},
          {'failed': False, 'failure': None, 'f1': 0.6, 'auroc': 0.9}]
  phi = np.array([[[0.5, 0.5], [0.9, 0.1], [0.75, 0.25]]] * 2)          # [T=2, S=3, K=2]
  steps = np.array([[4, 4, 4], [0, 0, 4]])                              # seeds 0 and 1 failed in epoch 2
  diag = {'epoch': np.array([1.0, 2.0]), 'min_eig': np.full((2, 3, 2), 1e-3), 'phi': phi, 'min_phi': phi * 0.5, 'steps': steps,
          'cholesky_failures': np.zeros((2, 3)), 'n_nonfinite': np.zeros((2, 3))}
  s = study.cell_summary({'runs': runs, 'wall_time_s': 60.0}, study.digest(diag))
  assert s['failed'] == 2 and s['first_failure'] == 'epoch 5, step 9'
  assert s['f1_failed_as_zero'] == pytest.approx(0.2) and s['min_weight'] == pytest.approx(0.05)
  # Runs written since the field exist carry the (epoch, step) as numbers; the text is not read.
  runs[0]['failed_at'], runs[0]['failure'] = [3, 2], 'non-finite cholesky (reworded)'
  assert study.cell_summary({'runs': runs, 'wall_time_s': 60.0}, study.digest(diag))['first_failure'] == 'epoch 3, step 2'
  assert s['effective_components'] == pytest.approx(1 / (0.75 ** 2 + 0.25 ** 2))


def test_the_rule_picks_fewest_failed_then_f1_then_jitter_and_waits_for_every_cell():
  import ml_collections
  study_config = ml_collections.ConfigDict({'experiments': ('thyroid', 'kdd'), 'dtypes': ('float32',),
                                            'regularizers': ('none', 'jitter(eps=1e-6)', 'oas')})
  def summaries(values):   # {spec: [(failed, f1 failed as 0) per experiment]}
    return {study.cell_name(e, spec, 'float32'): {'failed': f, 'f1_failed_as_zero': f1}
            for spec, per in values.items() for e, (f, f1) in zip(study_config.experiments, per)}
  verdict = lambda values: study.rule_lines(study_config, summaries(values))[-1]
  assert verdict({'none': [(0, 0.5), (0, 0.9)], 'jitter(eps=1e-6)': [(1, 0.9), (0, 0.9)],
                  'oas': [(0, 0.6), (0, 0.7)]}) == 'Chosen: **none**.'          # fewer failed beats F1
  assert verdict({'none': [(0, 0.5), (0, 0.9)], 'jitter(eps=1e-6)': [(0, 0.6), (0, 0.9)],
                  'oas': [(0, 0.6), (0, 0.7)]}) == 'Chosen: **jitter(eps=1e-6)**.'
  assert verdict({'none': [(0, 0.6), (0, 0.9)], 'jitter(eps=1e-6)': [(0, 0.6), (0, 0.9)],
                  'oas': [(0, 0.6), (0, 0.9)]}) == 'Chosen: **jitter(eps=1e-6)**.'  # a tie: jitter
  assert 'not decided: 1 regularizer' in verdict({'none': [(0, 0.5), (0, 0.9)], 'jitter(eps=1e-6)': [(0, 0.6), (0, 0.9)],
                                                 'oas': [(0, 0.99)]})
