"""The ablation grid: its cells, and the selection rule applied to known results."""
import ml_collections
import numpy as np
import pytest

from dagmm_jax import ablation, grid


def _study():
  return grid.load_experiment('ablation')


def test_cells_apply_one_override_each_where_it_applies():
  cells = ablation.cells(_study())
  assert set(cells) >= {'kdd-default', 'kdd-glorot', 'kdd-kdd_all', 'thyroid-noscale',
                        'arrhythmia-zero_const'}
  assert 'thyroid-kdd_all' not in cells and 'kdd-noscale' not in cells
  assert cells['kdd-glorot'].model.kernel_init == 'glorot_uniform'
  assert cells['thyroid-noscale'].scaling == 'none'
  assert cells['kdd-default'].num_epochs == 50 and cells['thyroid-default'].num_epochs == 20000
  assert all(c.protocol == 'paper' and c.num_seeds == 20 and c.seed == 0 for c in cells.values())
  quick = ablation.cells(_study(), quick=True)
  assert quick.keys() == cells.keys() and all(c.num_seeds == 3 for c in quick.values())


def test_unknown_override_is_refused():
  with pytest.raises(ValueError, match='no field'):
    grid.apply_overrides(grid.load_experiment('kdd'), {'model__kernel_initt': 'x'})


def _results(f1, failed=()):
  return {'runs': [{'seed': s, 'f1': None if s in failed else v, 'failed': s in failed}
                   for s, v in enumerate(f1)]}


def test_rule_adopts_only_differences_beyond_their_standard_error():
  study = ml_collections.ConfigDict({
      'experiments': ('a', 'b'), 'settings': {'default': {}, 'glorot': {}, 'zscore': {}},
      'only': {}, 'model_choices': ('glorot',)})
  rng = np.random.default_rng(0)
  base = rng.uniform(0.4, 0.6, 20)
  results = {'a-default': _results(base), 'b-default': _results(base),
             'a-zscore': _results(base + 0.05 + rng.normal(0, 0.01, 20)),     # clear gain
             'b-zscore': _results(base + np.tile([0.05, -0.05], 10)),         # no net gain
             'a-glorot': _results(base + 0.001), 'b-glorot': _results(base, failed=(3,))}
  lines = ablation.decide(study, results)
  assert lines[0].startswith('- `glorot`') and 'keep the default' in lines[0]   # a failed seed is F1 0
  assert 'adopt `zscore`' in lines[1] and 'keep the default' in lines[2]
  assert ablation.seed_f1(results['b-glorot'])[3] == 0.0
  assert 'cells missing' in ablation.decide(study, {'a-default': results['a-default']})[0]


def test_quick_ablation_runs_and_reports(tmp_path, data_file):
  data_file('arrhythmia.mat')
  study = _study()
  study.experiments = ('arrhythmia',)
  study.settings = {'default': {}, 'zero_const': {'constant_columns': 'zero'}}
  study.model_choices = ()
  text = ablation.write_ablation(study, tmp_path, quick=True)
  assert (tmp_path / 'ablation.md').read_text() == text
  assert 'arrhythmia-default' in text and 'arrhythmia-zero_const' in text and 'Quick smoke run' in text
  assert '- arrhythmia: `zero_const`' in text
