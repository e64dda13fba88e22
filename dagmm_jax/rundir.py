"""A run directory's bookkeeping: seeds cut into chunks, the finished chunk
records (``workdir/chunks/chunk_<i>.json``), the sessions that worked on the run
and its wall time, and the networks of finished chunks restored from their
checkpoints."""
import contextlib
import dataclasses
import json
import pathlib
import re
import time
from typing import Any, Callable, Iterator

import ml_collections
import numpy as np
from absl import logging

from dagmm_jax import files
from dagmm_jax.data import Dataset, load_dataset
from dagmm_jax.scoring.evalset import EvalSet
from dagmm_jax.training import checkpoint, train


CHUNK_FORMAT = 2   # format of a chunk record; 1: written before the field existed (read the same)


@dataclasses.dataclass
class ChunkRecord:
  """A finished chunk (``workdir/chunks/chunk_<i>.json``): its seeds, one run row
  per seed (``registry.score_runs``), its wall time and when it finished, and the
  peak host memory of its processes. Records written before a field existed
  lack it (None), and ``format`` 1."""
  seeds: list[int]
  runs: list[dict[str, Any]]
  wall_time_s: float
  finished_at: float | None = None
  peak_host_memory_gib: float | None = None
  peak_host_memory: dict[str, Any] | None = None
  format: int = CHUNK_FORMAT

  @classmethod
  def read(cls, path: pathlib.Path) -> 'ChunkRecord':
    saved = json.loads(pathlib.Path(path).read_text())
    unknown = set(saved) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
      raise ValueError(f'{path}: not a chunk record of format <= {CHUNK_FORMAT} (unknown fields {sorted(unknown)})')
    return cls(**{'format': 1, **saved})

  def write(self, path: pathlib.Path) -> None:
    files.write_json(path, {k: v for k, v in dataclasses.asdict(self).items() if v is not None})


def load_data(config: ml_collections.ConfigDict) -> Dataset:
  """The data set of ``config``, its size logged."""
  start = time.perf_counter()
  data = load_dataset(config.dataset, config.get('kdd_symbolic', 'strings'))
  logging.info('loaded %s: %d rows x %d features, %d anomalies (%.1f s)', config.dataset,
               *data.x.shape, int(data.y.sum()), time.perf_counter() - start)
  return data


def seed_chunks(config: ml_collections.ConfigDict) -> list[tuple[int, list[int]]]:
  """``[(chunk, its seeds)]``: the seeds cut into ``config.seed_chunk``-sized chunks."""
  seeds = list(range(config.seed, config.seed + config.num_seeds))
  size = config.seed_chunk or len(seeds)
  return [(i, seeds[lo:lo + size]) for i, lo in enumerate(range(0, len(seeds), size))]


def pending(chunks: list[tuple[int, list[int]]], done: dict[int, ChunkRecord]) -> list[tuple[int, list[int]]]:
  """The chunks whose seeds no finished chunk record covers."""
  covered = {s for rec in done.values() for s in rec.seeds}
  return [(c, s) for c, s in chunks if not set(s) <= covered]


def chunk_path(workdir: pathlib.Path, chunk: int) -> pathlib.Path:
  """Where chunk ``chunk``'s finished record is written."""
  return workdir / 'chunks' / f'chunk_{chunk}.json'


def chunk_files(workdir: pathlib.Path) -> list[tuple[int, pathlib.Path]]:
  """``[(chunk, path)]`` of the finished chunk records in ``workdir/chunks``."""
  found = [(p, re.fullmatch(r'chunk_(\d+)\.json', p.name)) for p in (workdir / 'chunks').glob('chunk_*.json')]
  return sorted((int(m.group(1)), p) for p, m in found if m)


def chunk_records(workdir: pathlib.Path, chunks: list[tuple[int, list[int]]]) -> dict[int, ChunkRecord]:
  """``{chunk: record}`` of the chunks already done. A finished run whose chunks were
  cut otherwise (e.g. by an older ``--processes``) is reused as it is."""
  records = {c: ChunkRecord.read(p) for c, p in chunk_files(workdir)}
  wanted = sorted(s for _, seeds in chunks for s in seeds)
  if records and sorted(s for r in records.values() for s in r.seeds) == wanted:
    return records
  return {c: records[c] for c, seeds in chunks if c in records and records[c].seeds == seeds}


def session(workdir: pathlib.Path, record: bool):
  """The clock of this session (``files.session_clock``) when it is recorded."""
  return files.session_clock(workdir / files.SESSIONS_NAME) if record else contextlib.nullcontext()


def wall_time(workdir: pathlib.Path, records: list[ChunkRecord], ran: bool,
              now: float | None = None) -> tuple[float, int]:
  """``(seconds, sessions)``: the time the run took, summed over the sessions that
  worked on it (``files.session_clock`` in ``sessions.jsonl``; the latest one is
  the session still running, counted up to ``now``). Chunks finished before the
  first recorded session (a workdir older than that log) add the union of their
  time spans, as one session more. A call that ran nothing keeps the recorded
  figures (a ``results.json`` without ``sessions`` counts as one session)."""
  if not ran and (workdir / 'results.json').exists():
    recorded = json.loads((workdir / 'results.json').read_text())
    return recorded['wall_time_s'], recorded.get('sessions', 1)
  now = time.time() if now is None else now
  sessions = files.read_sessions(workdir / files.SESSIONS_NAME)
  first = sessions[0]['started_at'] if sessions else now
  earlier = [r for r in records if r.finished_at is None or r.finished_at <= first]
  total = _span_union(earlier, first)
  if sessions:
    total += sum(s['seconds'] for s in sessions[:-1]) + max(0.0, now - sessions[-1]['started_at'])
  return total, max(1, len(sessions) + bool(earlier))


def _span_union(records: list[ChunkRecord], until: float) -> float:
  """Seconds covered by the chunk records' time spans up to ``until`` (parallel
  chunks overlap); a record without ``finished_at`` counts its wall time in full."""
  spans = sorted((r.finished_at - r.wall_time_s, min(r.finished_at, until))
                 for r in records if r.finished_at is not None)
  total, end = sum(r.wall_time_s for r in records if r.finished_at is None), -np.inf
  for lo, hi in spans:
    total += max(0.0, hi - max(lo, end))
    end = max(end, hi)
  return total


def restore_final(config: ml_collections.ConfigDict, data: Dataset, workdir: pathlib.Path,
                  chunk: int, seeds: list[int]) -> tuple[EvalSet, train.TrainState]:
  """``(evaluation set of every member, unsharded state)`` of a finished chunk, its
  networks restored from the checkpoint of the last epoch (all ``config.restarts``
  members when they all trained to the end, else the seeds' trained networks)."""
  R, num_epochs = int(config.get('restarts', 1)), int(config.num_epochs)
  if int(config.get('select_epoch', 0)) not in (0, num_epochs):
    R = 1   # only the selected member of each seed reached the last epoch
  with checkpoint.opened(pathlib.Path(workdir) / 'checkpoints' / f'chunk_{chunk}') as mngr:
    if mngr.latest_step() != num_epochs:
      raise ValueError(f'{workdir}: chunk {chunk} has no checkpoint of epoch {num_epochs} '
                       f'(latest: {mngr.latest_step()})')
    state = checkpoint.restore(mngr, train.init_state(config, seeds, data.x.shape[1], R))
  return EvalSet.build(config, data, seeds).members(R), state


def restorable_chunks(workdir: str | pathlib.Path, config: ml_collections.ConfigDict,
                      loaded: dict | None = None
                      ) -> Iterator[tuple[pathlib.Path, ChunkRecord, Callable[[], tuple[EvalSet, train.TrainState]]]]:
  """``(record path, record, restore)`` per finished chunk of ``workdir``, in order;
  ``restore()`` gives ``restore_final`` of that chunk. The data set is loaded on the
  first ``restore()`` only, and kept in ``loaded['data']`` when a dict is given."""
  workdir, loaded = pathlib.Path(workdir), {} if loaded is None else loaded
  for chunk, path in chunk_files(workdir):
    record = ChunkRecord.read(path)

    def restore(chunk=chunk, seeds=record.seeds):
      loaded['data'] = loaded.get('data') or load_data(config)
      return restore_final(config, loaded['data'], workdir, chunk, seeds)
    yield path, record, restore
