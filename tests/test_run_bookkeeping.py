"""A run's bookkeeping that needs no data file: progress lines and wall time over sessions."""
import json
import time

import pytest

from dagmm_jax import files, rundir
from dagmm_jax.training import train


def test_progress_gives_elapsed_time_and_eta_at_the_pace_so_far():
  assert train.progress(120.0, 30, 12.0) == 'elapsed 2.0 min, ETA 6.0 min'
  assert train.progress(7200.0, 1, 7200.0) == 'elapsed 2.0 h, ETA 2.0 h'
  assert train.progress(5.0, 10, None) == 'elapsed 0.1 min, ETA ?'


def test_the_eta_leaves_out_the_first_compiled_block():
  """Blocks of 10 epochs: the first (compiling) ended at 50 s, the second at 60 s.
  Every epoch of a block is reported when the block ends, at the same time."""
  t = iter([0.0, 50.0, 50.0, 50.0, 60.0, 60.0, 60.0])
  clock = train.Clock(now=lambda: next(t))
  assert clock(99) == 'elapsed 0.8 min, ETA ?'                 # epoch 1, reported at 50 s
  clock.lap(10)
  assert clock(90) == 'elapsed 0.8 min, ETA ?'
  assert clock(89) == 'elapsed 1.0 min, ETA ?'                 # epoch 11: no pace until the next lap
  clock.lap(20)
  assert clock(80) == 'elapsed 1.0 min, ETA 1.3 min'           # 80 epochs at 1 s, not 6 s or 0 s


def test_wall_time_sums_the_sessions_and_keeps_older_workdirs_readable(tmp_path):
  """Each session's seconds (``sessions.jsonl``; the latest one still running, up
  to now) are summed; chunks finished before the first recorded session (a
  workdir older than that log) add the union of their spans (parallel chunks
  overlap); a rerun that ran nothing keeps the recorded figures."""
  t = time.time()
  record = lambda seconds, at=None: rundir.ChunkRecord([0], [], seconds, finished_at=at)
  old = [record(50.0, t - 1100), record(60.0, t - 1095), record(30.0, t - 1200), record(7.0)]
  assert rundir.wall_time(tmp_path, old, True, now=t) == (60.0 + 30.0 + 7.0, 1)
  for started, seconds in ((t - 1000, 150.0), (t - 500, 17.0), (t - 100, 1.0)):
    files.append_jsonl(tmp_path / 'sessions.jsonl', {'started_at': started, 'seconds': 1.0, 'pid': 1})
    files.append_jsonl(tmp_path / 'sessions.jsonl', {'started_at': started, 'seconds': seconds, 'pid': 1})
  new = [record(40.0, t - 200)]   # within a recorded session: not added again
  got, sessions = rundir.wall_time(tmp_path, old + new, True, now=t)
  assert got == pytest.approx(60.0 + 30.0 + 7.0 + 150.0 + 17.0 + 100.0) and sessions == 4
  (tmp_path / 'results.json').write_text(json.dumps({'wall_time_s': 123.0}))   # no 'sessions' field
  assert rundir.wall_time(tmp_path, old, False) == (123.0, 1)


def test_chunk_records_of_every_format_read_and_unknown_ones_are_refused(tmp_path):
  """A record written before the format field (and before ``finished_at`` and the
  memory fields) reads as format 1; a record written now round-trips; a file
  with fields no format has is refused with its path."""
  (tmp_path / 'old.json').write_text(json.dumps({'seeds': [3], 'runs': [{'seed': 3}], 'wall_time_s': 9.0}))
  old = rundir.ChunkRecord.read(tmp_path / 'old.json')
  assert (old.format, old.finished_at, old.seeds) == (1, None, [3])
  now = rundir.ChunkRecord([1, 2], [{'seed': 1}, {'seed': 2}], 5.0, finished_at=7.0,
                           peak_host_memory_gib=1.5, peak_host_memory={'total': 1.5})
  now.write(tmp_path / 'new.json')
  assert rundir.ChunkRecord.read(tmp_path / 'new.json') == now and now.format == rundir.CHUNK_FORMAT
  (tmp_path / 'odd.json').write_text(json.dumps({'seeds': [], 'runs': [], 'wall_time_s': 1.0, 'x': 1}))
  with pytest.raises(ValueError, match=r"odd.json: not a chunk record .* \['x'\]"):
    rundir.ChunkRecord.read(tmp_path / 'odd.json')
