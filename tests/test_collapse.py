"""scripts/collapse.py: the test-time mixture weights it restores are the run's."""
import importlib.util
import json
import pathlib

import numpy as np
import pytest

from dagmm_jax import experiment
from dagmm_jax.estimator import DAGMM
from helpers import load_config

_SPEC = importlib.util.spec_from_file_location(
    'collapse', pathlib.Path(__file__).parents[1] / 'scripts' / 'collapse.py')
collapse = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(collapse)


def test_effective_components_is_one_for_one_component_and_k_for_k_equal_ones():
  np.testing.assert_allclose(collapse.effective_components([[1, 0, 0, 0], [0.25] * 4, [0.5, 0.5, 0, 0]]),
                             [1.0, 4.0, 2.0])


def test_cell_report_restores_the_gmms_the_run_evaluated(tmp_path, data_file):
  data_file('thyroid.mat')
  config = load_config('thyroid', num_epochs=3, num_seeds=2, checkpoint_every=1)
  results = experiment.train_and_evaluate(config, str(tmp_path))
  phi = collapse.test_time_weights(tmp_path)
  saved = [DAGMM.load(experiment.model_dir(tmp_path, r['seed'])).gmm_.phi for r in results['runs']]
  np.testing.assert_allclose(phi, np.stack(saved), rtol=1e-6)
  report = collapse.cell_report(tmp_path)
  assert report['networks'] == 2 and (report['first_epoch'], report['last_epoch']) == (1, 3)
  assert 1.0 <= report['effective_components']['min'] <= report['effective_components']['max'] <= 2.0
  last = [json.loads(l) for l in (tmp_path / 'metrics.jsonl').read_text().splitlines()][-1]
  assert report['last_max_phi'] == pytest.approx(np.median([max(p) for p in last['phi']]))
