"""Result files written so that a crash never leaves half of one: atomic JSON and
text writes, append-only JSON-lines logs, and the config record that keeps two
different runs out of one work directory."""
import json
import os
import pathlib
import tempfile
from typing import Any


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
      raise ValueError(f'{workdir} holds a run with another {path.stem} (differs in: {", ".join(diff)}); '
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
  fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
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
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.')
  try:
    with os.fdopen(fd, 'w') as f:
      f.write(text)
    os.replace(tmp, path)
  except BaseException:
    pathlib.Path(tmp).unlink(missing_ok=True)
    raise
