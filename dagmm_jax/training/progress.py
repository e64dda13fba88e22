"""A run's progress, in one format: a ``metrics.jsonl`` line per reported epoch
(every seed's or member's epoch metrics as lists) and a log line with the time left
(``train.Clock``). Experiments and the estimator both write with ``epoch_logger``;
``seed_rows`` reads a line back as one row per seed (the estimator's ``history_``)."""
import pathlib
from typing import Any, Callable

import numpy as np
from absl import logging

from dagmm_jax import files
from dagmm_jax.training import distributed, train

OnLine = Callable[[dict[str, Any], str], None]


def epoch_logger(log_path: pathlib.Path | None, seeds: list[int], num_epochs: int, start_epoch: int, *,
                 chunk: int | None = None, restarts: int = 1,
                 extra: Callable[[int, float, Any], dict[str, Any]] | None = None,
                 on_line: OnLine | None = None) -> Callable:
  """``on_epoch`` for ``train.fit``: a line per call appended to ``log_path`` (none
  when None; process 0 only): ``epoch``, ``epochs`` since the last line,
  ``seconds`` per epoch, ``seeds`` (one per member, seed-major with ``restarts``
  > 1, then also ``phase`` and ``restart``), ``chunk`` when given, every field of
  ``train.EpochMetrics`` as per-seed lists and ``extra(epoch, seconds, state)``'s
  fields (``state``: the training state at the end of a compiled block, else None).
  ``on_line(line, time left)`` is called for every line (the estimator keeps its
  history and prints); without it, a log line (means over the seeds that did not
  fail) every 1/20 of the run."""
  every = max(1, num_epochs // 20)
  logged = [start_epoch]
  head = {} if chunk is None else {'chunk': chunk}
  members = {} if restarts == 1 else {'phase': 'restarts', 'restart': list(range(restarts)) * len(seeds)}
  label = 'seeds' if restarts == 1 else f'members ({restarts} per seed)'
  member_seeds = [int(s) for s in seeds for _ in range(restarts)]
  clock = train.Clock()

  def on_epoch(epoch, m, seconds, state):
    if state is not None:   # the last epoch of a compiled block
      clock.lap(epoch)
    line = {**head, 'epoch': epoch, 'epochs': epoch - logged[0], 'seconds': seconds, 'seeds': member_seeds,
            **members, **{k: np.asarray(v).tolist() for k, v in m._asdict().items()},
            **(extra(epoch, seconds, state) if extra else {})}
    if not distributed.is_writer():   # one log for the run: process 0's
      return
    if log_path is not None:
      files.append_jsonl(log_path, line)
    if on_line is not None:
      on_line(line, clock(num_epochs - epoch))
    elif epoch // every > logged[0] // every or epoch == num_epochs or logged[0] == start_epoch:
      ok = ~np.asarray(m.failed)
      ok_mean = lambda v: np.mean(np.asarray(v)[ok]) if ok.any() else np.nan
      logging.info('%sepoch %d/%d  loss %.4f (recon %.4f, energy %.4f, P %.2f)  '
                   'min eig %.2e  %.3f s/epoch  failed %s %d/%d  (%s)',
                   '' if chunk is None else f'chunk {chunk} ', epoch, num_epochs,
                   ok_mean(m.loss), ok_mean(m.reconstruction), ok_mean(m.energy),
                   ok_mean(m.penalty), np.min(m.min_eig), seconds, label, (~ok).sum(), len(ok),
                   clock(num_epochs - epoch))
    logged[0] = epoch

  return on_epoch


# Per-seed row fields: scalars per seed, and the lists per seed kept as lists.
_SCALARS = ('loss', 'reconstruction', 'energy', 'penalty', 'n_nonfinite')
_RATES = ('rows_per_second', 'images_per_second')
_PER_SEED = ('val_energy', 'val_reconstruction')


def seed_rows(line: dict[str, Any]) -> list[dict[str, Any]]:
  """One ``epoch_logger`` line as one row per seed: ``epoch``, ``seed``,
  ``seconds_per_epoch``, the throughput, the loss terms, ``n_nonfinite``,
  ``min_eig`` (smallest over components), ``code_std`` and, where the line has
  them, ``val_energy`` and ``val_reconstruction``. A line of the estimator's older
  per-seed format (no ``seeds``) is that row already."""
  if 'seeds' not in line:
    return [line]
  out = []
  for i, seed in enumerate(line['seeds']):
    row = {'epoch': line['epoch'], 'seed': seed, 'seconds_per_epoch': line['seconds'],
           **{k: line[k] for k in _RATES if k in line},
           **{k: line[k][i] for k in _SCALARS}, 'min_eig': float(np.min(line['min_eig'][i])),
           'code_std': line['code_std'][i]}
    row.update({k: line[k][i] for k in _PER_SEED if k in line})
    out.append(row)
  return out
