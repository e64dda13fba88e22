"""One metrics.jsonl format: experiments and the estimator write it with
``progress.epoch_logger``; ``seed_rows`` reads a line back per seed."""
import json

import numpy as np

from dagmm_jax.training import progress, train


def _metrics(seeds: int, k: int = 2, latent: int = 3) -> train.EpochMetrics:
  rng = np.random.default_rng(0)
  per = lambda *shape: rng.uniform(0.1, 1.0, (seeds, *shape))
  return train.EpochMetrics(loss=per(), reconstruction=per(), energy=per(), penalty=per(),
                            n_nonfinite=np.zeros(seeds, int), cholesky_failures=np.zeros(seeds, int),
                            min_eig=per(k), cond=per(k), phi=per(k), min_phi=per(k), code_std=per(latent),
                            steps=np.full(seeds, 4), failed=np.zeros(seeds, bool))


def test_one_line_per_epoch_read_back_per_seed(tmp_path):
  log = tmp_path / 'metrics.jsonl'
  m = _metrics(2)
  on_epoch = progress.epoch_logger(log, [5, 6], 10, 0, chunk=3,
                                   extra=lambda epoch, seconds, state: {'rows_per_second': 100 / seconds})
  on_epoch(1, m, 0.5, None)
  on_epoch(2, m, 0.25, None)
  lines = [json.loads(line) for line in log.read_text().splitlines()]
  assert [(r['chunk'], r['epoch'], r['epochs'], r['seeds']) for r in lines] == [(3, 1, 1, [5, 6]), (3, 2, 1, [5, 6])]
  assert set(train.EpochMetrics._fields) <= set(lines[0]) and lines[1]['rows_per_second'] == 400.0
  rows = progress.seed_rows(lines[1])
  assert [r['seed'] for r in rows] == [5, 6]
  assert rows[1]['loss'] == m.loss[1] and rows[1]['min_eig'] == np.min(m.min_eig[1])
  assert rows[0]['code_std'] == m.code_std[0].tolist() and rows[0]['seconds_per_epoch'] == 0.25
  old = {'epoch': 4, 'seed': 5, 'loss': 1.0}          # the estimator's older per-seed line
  assert progress.seed_rows(old) == [old]


def test_restarts_lines_name_each_member_and_without_on_line_it_logs(tmp_path):
  log = tmp_path / 'metrics.jsonl'
  seen = []
  progress.epoch_logger(log, [0, 1], 4, 0, restarts=2, on_line=lambda line, left: seen.append(left))(
      1, _metrics(4), 1.0, None)
  line = json.loads(log.read_text())
  assert line['seeds'] == [0, 0, 1, 1] and line['restart'] == [0, 1, 0, 1] and line['phase'] == 'restarts'
  assert 'chunk' not in line and len(seen) == 1
  progress.epoch_logger(None, [0], 4, 0)(1, _metrics(1), 1.0, None)   # no file, a log line: no error
