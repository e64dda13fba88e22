"""orbax checkpoints of the training state, and atomic writes of result files."""
import json
import os
import pathlib
import tempfile
from typing import Any

import jax
import orbax.checkpoint as ocp


def manager(directory: str | os.PathLike, max_to_keep: int = 2) -> ocp.CheckpointManager:
  """A checkpoint manager keeping the ``max_to_keep`` latest epochs."""
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
  return ocp.CheckpointManager(pathlib.Path(directory).absolute(), options=options)


def save(mngr: ocp.CheckpointManager, step: int, tree: Any) -> None:
  """Saves ``tree`` (a NamedTuple or dict of arrays) at ``step`` and waits, so the
  caller may donate the buffers right after. orbax writes to a temporary folder
  and renames it: an interrupted save never leaves a half-written checkpoint."""
  mngr.save(step, args=ocp.args.StandardSave(_as_dict(tree)), force=True)
  mngr.wait_until_finished()


def restore_latest(mngr: ocp.CheckpointManager, like: Any) -> Any | None:
  """The latest checkpoint restored into the structure of ``like``, or None."""
  step = mngr.latest_step()
  if step is None:
    return None
  abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, _as_dict(like))
  restored = mngr.restore(step, args=ocp.args.StandardRestore(abstract))
  return type(like)(**restored) if hasattr(like, '_fields') else restored


def _as_dict(tree: Any) -> Any:
  return tree._asdict() if hasattr(tree, '_fields') else tree


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


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
  """Records of a JSON-lines log keyed by ``epoch`` (none if the file is absent):
  the last record of each epoch (a resumed run repeats some), in epoch order."""
  path = pathlib.Path(path)
  if not path.exists():
    return []
  recs = {}
  for line in path.read_text().splitlines():
    if line.strip():
      rec = json.loads(line)
      recs[rec['epoch']] = rec
  return [recs[e] for e in sorted(recs)]


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
