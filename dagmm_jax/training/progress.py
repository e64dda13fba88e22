"""A run's progress: one ``metrics.jsonl`` line per reported epoch and a log line
every 1/20 of the run, with the time left (``train.Clock``)."""
import pathlib

import numpy as np
from absl import logging

from dagmm_jax import files
from dagmm_jax.training import distributed, train


def epoch_logger(chunk: int, seeds: list[int], num_epochs: int, log_path: pathlib.Path,
                 start_epoch: int, restarts: int = 1):
  """``on_epoch`` for ``train.fit``: a metrics.jsonl line per call, a log line
  every 1/20 of the run. With ``restarts > 1`` the lines are per member."""
  every = max(1, num_epochs // 20)
  logged = [start_epoch]
  extra = {} if restarts == 1 else {'phase': 'restarts', 'restart': list(range(restarts)) * len(seeds)}
  label = 'seeds' if restarts == 1 else f'members ({restarts} per seed)'
  member_seeds = [s for s in seeds for _ in range(restarts)]
  clock = train.Clock()

  def on_epoch(epoch, m, seconds, state):
    if state is not None:   # the last epoch of a compiled block
      clock.lap(epoch)
    failed = np.asarray(m.failed)
    record = {'chunk': chunk, 'epoch': epoch, 'epochs': epoch - logged[0], 'seconds': seconds,
              'seeds': member_seeds, **extra, **{k: np.asarray(v).tolist() for k, v in m._asdict().items()}}
    if not distributed.is_writer():   # one log for the run: process 0's
      return
    files.append_jsonl(log_path, record)
    if epoch // every > logged[0] // every or epoch == num_epochs or logged[0] == start_epoch:
      ok = ~failed
      ok_mean = lambda v: np.mean(np.asarray(v)[ok]) if ok.any() else np.nan
      logging.info('chunk %d epoch %d/%d  loss %.4f (recon %.4f, energy %.4f, P %.2f)  '
                   'min eig %.2e  %.3f s/epoch  failed %s %d/%d  (%s)', chunk, epoch, num_epochs,
                   ok_mean(m.loss), ok_mean(m.reconstruction), ok_mean(m.energy),
                   ok_mean(m.penalty), np.min(m.min_eig), seconds, label, failed.sum(), len(failed),
                   clock(num_epochs - epoch))
    logged[0] = epoch

  return on_epoch
