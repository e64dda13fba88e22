"""Result files written so that a crash never leaves half of one: atomic JSON and
text writes (with the permissions of an ordinary write), append-only JSON-lines
logs, the config record that keeps two different runs out of one work
directory, the lock that keeps two live runs out of one, and the clock of a
run's sessions."""
import contextlib
import datetime
import functools
import inspect
import json
import os
import pathlib
import socket
import tempfile
import threading
import time
from typing import Any, Callable, Iterator

from dagmm_jax.errors import WorkdirError, WorkdirInUse

try:
  import fcntl
except ImportError:   # not POSIX: no workdir lock
  fcntl = None

LOCK_NAME = '.lock'
SESSIONS_NAME = 'sessions.jsonl'


def claim_workdir(workdir: str | os.PathLike, config: dict[str, Any],
                  name: str = 'config.json') -> None:
  """Records ``config`` in ``workdir/name``; refuses a workdir that holds a run
  with another config (its checkpoints and results would be mixed in), naming
  the fields that differ."""
  wanted = json.loads(json.dumps(config))
  path = pathlib.Path(workdir) / name
  if path.exists():
    held = json.loads(path.read_text())
    if held != wanted:
      held, wanted = _flat(held), _flat(wanted)
      diff = sorted(k for k in held.keys() | wanted.keys() if held.get(k) != wanted.get(k))
      raise WorkdirError(f'{workdir} holds a run with another {path.stem} (differs in: {", ".join(diff)}); '
                       'use a new --workdir, or delete that one to start over')
    return
  write_json(path, wanted)


def _flat(d: dict[str, Any], prefix: str = '') -> dict[str, Any]:
  out = {}
  for k, v in d.items():
    out.update(_flat(v, f'{prefix}{k}.') if isinstance(v, dict) else {f'{prefix}{k}': v})
  return out


def read_jsonl(path: str | os.PathLike, key: tuple[str, ...] = ('epoch',)) -> list[dict[str, Any]]:
  """Records of a JSON-lines log: the last record of each ``key`` (a resumed run
  repeats some epochs), sorted by key; none if the file is absent. A field of
  ``key`` missing from a record counts as 0."""
  path = pathlib.Path(path)
  if not path.exists():
    return []
  recs = {}
  for line in path.read_text().splitlines():
    if line.strip():
      rec = json.loads(line)
      recs[tuple(rec.get(k, 0) for k in key)] = rec
  return [recs[k] for k in sorted(recs)]


def append_jsonl(path: str | os.PathLike, record: dict[str, Any]) -> None:
  """Appends one JSON line with a single ``write`` on an ``O_APPEND`` descriptor, so
  that lines from parallel worker processes never interleave."""
  fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
  try:
    os.write(fd, (json.dumps(record) + '\n').encode())
  finally:
    os.close(fd)


def write_json(path: str | os.PathLike, obj: Any) -> None:
  """Writes JSON atomically (temporary file + rename): never a truncated file."""
  write_text(path, json.dumps(obj, indent=2, allow_nan=True) + '\n')


def write_text(path: str | os.PathLike, text: str) -> None:
  """Writes text atomically (temporary file in the same folder + rename)."""
  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = temp_file(path.parent, prefix=f'.{path.name}.')
  try:
    with os.fdopen(fd, 'w') as f:
      f.write(text)
    os.replace(tmp, path)
  except BaseException:
    pathlib.Path(tmp).unlink(missing_ok=True)
    raise


_umask_lock = threading.Lock()


@functools.cache
def umask() -> int:
  """This process's umask, read once: from ``/proc/self/status`` where Linux has it
  (a read, no race), else by setting and restoring it (under a lock)."""
  try:
    for line in pathlib.Path('/proc/self/status').read_text().splitlines():
      if line.startswith('Umask:'):
        return int(line.split()[1], 8)
  except (OSError, ValueError, IndexError):
    pass
  with _umask_lock:   # other threads may still create files meanwhile: the fallback only
    old = os.umask(0o077)
    os.umask(old)
  return old


def file_mode() -> int:
  """The mode an ordinary ``open(path, 'w')`` gives a new file: ``0o666 & ~umask``."""
  return 0o666 & ~umask()


def dir_mode() -> int:
  """The mode an ordinary ``mkdir`` gives a new folder: ``0o777 & ~umask``."""
  return 0o777 & ~umask()


def temp_file(folder: str | os.PathLike, prefix: str, suffix: str = '') -> tuple[int, str]:
  """``tempfile.mkstemp`` in ``folder`` with the mode of an ordinary write
  (mkstemp's own 0600 would make every renamed result readable by its owner only)."""
  fd, name = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=suffix)
  os.fchmod(fd, file_mode())
  return fd, name


def temp_dir(folder: str | os.PathLike, prefix: str) -> pathlib.Path:
  """``tempfile.mkdtemp`` in ``folder`` with the mode of an ordinary ``mkdir``
  (not mkdtemp's 0700)."""
  path = pathlib.Path(tempfile.mkdtemp(dir=folder, prefix=prefix))
  path.chmod(dir_mode())
  return path


_held: dict[str, list[int]] = {}   # workdir -> [nested holds in this process, lock descriptor]
_held_lock = threading.Lock()


def _holder_text() -> str:
  since = datetime.datetime.now().astimezone().isoformat(timespec='seconds')
  return f'host {socket.gethostname()}, pid {os.getpid()}, since {since}\n'


def _acquire(workdir: pathlib.Path) -> int:
  """An open descriptor of ``workdir/.lock`` holding its exclusive ``flock``, the
  file's text naming this process; ``WorkdirInUse`` naming the holder if another
  process has it. -1 without ``fcntl``."""
  if fcntl is None:
    return -1
  path = workdir / LOCK_NAME
  fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.ftruncate(fd, 0)
    os.write(fd, _holder_text().encode())
  except BlockingIOError:
    os.close(fd)
    holder = path.read_text().strip() or 'holder not recorded yet'
    raise WorkdirInUse(f'{workdir} is in use by another run ({holder}); wait for it to end or use '
                       'another --workdir') from None
  except BaseException:
    os.close(fd)
    raise
  return fd


@contextlib.contextmanager
def workdir_lock(workdir: str | os.PathLike) -> Iterator[None]:
  """Holds ``workdir``'s lock for the block: an exclusive ``flock`` on
  ``workdir/.lock``, whose text names the holder (host, pid, since when).

  Another process's attempt is refused at once with ``WorkdirInUse`` naming the
  holder. The kernel drops the lock when its process ends, however it ends, so
  the text a killed run leaves behind never blocks a resume. Nested holds of the
  same workdir in one process are allowed (a command that holds it around a
  library call that holds it too). Without ``fcntl`` (not POSIX) nothing is locked.
  """
  workdir = pathlib.Path(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  key = os.path.realpath(workdir)
  with _held_lock:   # flock does not wait: holding this lock meanwhile is fine
    held = _held.setdefault(key, [0, -1])
    if held[0] == 0:
      held[1] = _acquire(workdir)
    held[0] += 1
  try:
    yield
  finally:
    with _held_lock:
      held[0] -= 1
      if held[0] == 0:
        if held[1] >= 0:
          os.close(held[1])   # releases the flock: this descriptor is the only one on it
        del _held[key]


def holds_workdir_lock(fn: Callable) -> Callable:
  """Decorates a function with a ``workdir`` argument: each call holds
  ``workdir_lock(workdir)`` when its ``workdir`` is not None."""
  signature = inspect.signature(fn)

  @functools.wraps(fn)
  def call(*args, **kwargs):
    workdir = signature.bind(*args, **kwargs).arguments.get('workdir')
    with workdir_lock(workdir) if workdir is not None else contextlib.nullcontext():
      return fn(*args, **kwargs)
  return call


@contextlib.contextmanager
def session_clock(path: str | os.PathLike, every: float = 15.0) -> Iterator[None]:
  """Records the block's running seconds in the JSON-lines log ``path``: one line
  ``{started_at, seconds, host, pid}`` at the start, every ``every`` seconds and at
  the end, so that a session that is killed leaves its time up to its last line
  (``read_sessions`` sums them)."""
  started, t0 = time.time(), time.perf_counter()
  record = lambda: append_jsonl(path, {'started_at': started, 'seconds': time.perf_counter() - t0,
                                       'host': socket.gethostname(), 'pid': os.getpid()})
  record()
  stop = threading.Event()

  def beat():
    while not stop.wait(every):
      with contextlib.suppress(OSError):   # e.g. a full disk: the run's own writes report it
        record()

  thread = threading.Thread(target=beat, name='session-clock', daemon=True)
  thread.start()
  try:
    yield
  finally:
    stop.set()
    thread.join()
    record()


def read_sessions(path: str | os.PathLike) -> list[dict[str, Any]]:
  """The sessions ``session_clock`` recorded in ``path``, oldest first, each with
  its latest ``seconds``; none if the file is absent."""
  return read_jsonl(path, key=('started_at', 'pid'))
