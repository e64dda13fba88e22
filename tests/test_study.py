"""The singularity study on Thyroid: cells, diagnostics, table and plots (tiny runs)."""
import pytest

from dagmm_jax import grid, study
from experiments import singularity


@pytest.fixture(scope='module')
def ran(tmp_path_factory, request):
  from conftest import real_data_file
  real_data_file('thyroid.mat')
  config = singularity.get_config()
  config.experiments, config.regularizers = ('thyroid',), ('jitter(eps=1e-6)',)
  config.num_seeds = 2
  cells = study.cells(config)
  for c in cells.values():
    c.num_epochs, c.checkpoint_every = 2, 1
  workdir = tmp_path_factory.mktemp('study')
  return config, cells, workdir, grid.run_grid(cells, workdir)


def test_cells_are_named_and_ordered_float32_first():
  config = singularity.get_config()
  names = list(study.cells(config))
  assert len(names) == len(config.experiments) * len(config.regularizers) * len(config.dtypes)
  assert names[0] == 'thyroid-none-float32' and names[-1].endswith('float64')
  assert 'kdd-relative_jitter_eps_0.0001-float64' in names
  quick = study.cells(config, quick=True)['thyroid-none-float32']
  assert quick.num_seeds == 3 and quick.num_epochs == 200


def test_diagnostics_summary_table_and_plots(ran):
  config, cells, workdir, results = ran
  summaries = {}
  for name in cells:
    diag = study.read_diagnostics(workdir / name)
    assert diag['min_eig'].shape == (2, 2, 2)           # epochs x seeds x components
    assert results[name]['config']['dtype'] == name.rsplit('-', 1)[1]
    summaries[name] = study.cell_summary(results[name], diag)
    assert summaries[name]['seeds'] == 2 and summaries[name]['median_min_eig'] > 0
  text = study.study_markdown(summaries, {n: r['config'] for n, r in results.items()}, False, ['x.png'])
  assert text.count('| thyroid |') == 2 and '`jitter(eps=1e-6)` | float64' in text
  for dtype in config.dtypes:
    files = study.plot_dataset('thyroid', dtype, {s: study.read_diagnostics(
        workdir / study.cell_name('thyroid', s, dtype)) for s in config.regularizers}, workdir)
    for f in files:
      assert (workdir / f).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_report_only_writes_study_of_finished_cells(ran):
  config, cells, workdir, _ = ran
  config.regularizers = ('jitter(eps=1e-6)', 'oas')          # the oas cells never ran
  text = study.write_study(config, workdir, report_only=True)
  assert text.count('| thyroid |') == 2 and '## Not run yet' in text
  assert '- thyroid-oas-float32 (2 seeds x 20000 epochs)' in text
  assert not (workdir / 'thyroid-oas-float32').exists()
  assert (workdir / 'thyroid-float32-min_eig.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
