"""orbax checkpoints of the training state (saved and restored from every process of a run)."""
import contextlib
import os
import pathlib
from typing import Any, Iterator

import jax
import orbax.checkpoint as ocp


def manager(directory: str | os.PathLike, max_to_keep: int | None = 2) -> ocp.CheckpointManager:
  """A checkpoint manager keeping the ``max_to_keep`` latest epochs (None: all)."""
  options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True)
  return ocp.CheckpointManager(pathlib.Path(directory).absolute(), options=options,
                               item_handlers=ocp.StandardCheckpointHandler())


@contextlib.contextmanager
def opened(directory: str | os.PathLike, max_to_keep: int | None = 2) -> Iterator[ocp.CheckpointManager]:
  """``manager(directory, max_to_keep)``, closed on leaving the block (its background
  threads do not outlive a one-off restore)."""
  mngr = manager(directory, max_to_keep)
  try:
    yield mngr
  finally:
    mngr.close()


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
  wanted = _as_dict(like)
  if hasattr(like, '_fields'):   # a field the checkpoint lacks (saved by an older version,
    saved = mngr.item_metadata(step).keys()   # e.g. TrainState.failed_cause) keeps like's value
    wanted = {k: v for k, v in wanted.items() if k in saved}
  abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, wanted)
  restored = mngr.restore(step, args=ocp.args.StandardRestore(abstract))
  return like._replace(**restored) if hasattr(like, '_fields') else restored


def _as_dict(tree: Any) -> Any:
  return tree._asdict() if hasattr(tree, '_fields') else tree
