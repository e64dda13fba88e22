"""orbax checkpoints of the training state, and atomic writes of result files."""
import json
import os
import pathlib
import tempfile
from typing import Any

import jax
import orbax.checkpoint as ocp


def manager(directory: str | os.PathLike, max_to_keep: int | None = 2) -> ocp.CheckpointManager:
  """A checkpoint manager keeping the ``max_to_keep`` latest epochs (None: all)."""
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
  return ocp.CheckpointManager(pathlib.Path(directory).absolute(), options=options)


def save(mngr: ocp.CheckpointManager, step: int, tree: Any) -> None:
  """Saves ``tree`` (a NamedTuple or dict of arrays) at ``step`` and waits, so the
  caller may donate the buffers right after. orbax writes to a temporary folder
  and renames it: an interrupted save never leaves a half-written checkpoint."""
  mngr.save(step, args=ocp.args.StandardSave(_as_dict(tree)), force=True)
  mngr.wait_until_finished()


def restore(mngr: ocp.CheckpointManager, like: Any, step: int | None = None) -> Any | None:
  """The latest checkpoint (or the one of ``step``) restored into the structure of
  ``like``; None when there is none. A ``step`` that was not kept raises
  ``FileNotFoundError`` naming the kept steps."""
  if step is not None and step not in mngr.all_steps():
    raise FileNotFoundError(f'no checkpoint of epoch {step} in {mngr.directory}; '
                            f'kept epochs: {sorted(mngr.all_steps())}')
  step = mngr.latest_step() if step is None else step
  if step is None:
    return None
  abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, _as_dict(like))
  restored = mngr.restore(step, args=ocp.args.StandardRestore(abstract))
  return type(like)(**restored) if hasattr(like, '_fields') else restored


def restore_saved(directory: str | os.PathLike, step: int | None = None) -> Any:
  """The tree saved at ``step`` (default: the latest) of ``directory`` as host
  NumPy arrays in its saved structure (no template needed: for reading results)."""
  me = jax.process_index()   # this process alone: no barrier with the others of a multi-process run
  options = ocp.CheckpointManagerOptions(multiprocessing_options=ocp.options.MultiprocessingOptions(
      primary_host=me, active_processes={me}, barrier_sync_key_prefix=f'restore_saved_{me}'), create=False)
  mngr = ocp.CheckpointManager(pathlib.Path(directory).absolute(), options=options)
  step = mngr.latest_step() if step is None else step
  if step is None or step not in mngr.all_steps():
    raise FileNotFoundError(f'no checkpoint at step {step} in {directory} (steps: {list(mngr.all_steps())})')
  return mngr.restore(step, args=ocp.args.StandardRestore())


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
