"""Processes pinned to their own CPU cores (the local processes of ``distributed.launch``).

On a CPU host one XLA program of these small networks keeps about one core busy
(an epoch takes as long with one core as with two: ``docs/performance.md``), so a
reproduction shards its seeds over ``processes`` processes of JAX's
multi-controller runtime, each pinned to its own share of the cores (pinned, because two unpinned JAX
processes oversubscribe each other's thread pools and run several times
slower). Host devices in one process (``--xla_force_host_platform_device_count``)
are no substitute: with 2 devices on 2 cores, jaxlib's batched LAPACK kernels
wait on the same intra-op thread pool that runs them, and a KDDCUP epoch
deadlocks.

Every worker process starts as ``python -m dagmm_jax.training.pinning CORES MODULE:FUNCTION
ARGS...``: it pins itself to CORES before anything imports JAX (JAX sizes its
thread pools from the affinity when it starts its backend, and a pool of two
threads on one core runs several times slower), then calls
``FUNCTION(ARGS)`` (e.g. ``cli.common.process_main``).
"""
import os
import pathlib
import subprocess
import sys



def core_groups(processes: int) -> list[set[int]]:
  """The cores this process may use, dealt into ``processes`` disjoint groups.
  Pinning is Linux-only (``os.sched_getaffinity``); one process needs none."""
  if not hasattr(os, 'sched_getaffinity'):
    if processes == 1:
      return [set()]
    raise ValueError(f'--processes={processes} needs pinned worker processes, which need Linux '
                     '(os.sched_getaffinity); use --processes=1 here')
  cores = sorted(os.sched_getaffinity(0))
  if not 1 <= processes <= len(cores):
    raise ValueError(f'--processes={processes}: this machine lets the run use {len(cores)} '
                     f'core(s) ({cores}); choose 1..{len(cores)}')
  return [set(cores[i::processes]) for i in range(processes)]


def spawn(target: str, args: list[str], cores: set[int], extra_env: dict[str, str] | None = None,
          **popen_kwargs) -> subprocess.Popen:
  """Starts ``target`` (``'module:function'``) with ``args`` in a new Python process
  pinned to ``cores`` from its first line (see the module docstring), with this
  process's environment plus ``extra_env``."""
  env = {**os.environ, **(extra_env or {}),
         'DAGMM_WORKER_PARENT': str(os.getpid())}
  cmd = [sys.executable, '-m', 'dagmm_jax.training.pinning', ','.join(map(str, sorted(cores))), target, *args]
  return subprocess.Popen(cmd, env=env, **popen_kwargs)


def main(argv: list[str]) -> None:
  """``CORES MODULE:FUNCTION ARGS...``: pins this process, then runs ``FUNCTION(ARGS)``.
  The worker ends with its parent, however the parent dies (killed too)."""
  _die_with_parent()
  os.sched_setaffinity(0, {int(c) for c in argv[0].split(',')})
  import importlib
  module, function = argv[1].split(':')
  getattr(importlib.import_module(module), function)(argv[2:])


def _die_with_parent() -> None:
  """Asks Linux to send this process SIGKILL when its parent exits (prctl
  PR_SET_PDEATHSIG), so that a killed run leaves no worker training alone. Not
  SIGTERM: workers of a KDDCUP run whose launcher was killed got it and trained
  on (the JAX runtime handles SIGTERM once distributed), writing into the workdir of
  the rerun that followed. Checkpoints and results are
  written by renaming finished files, so a killed worker leaves none half-written."""
  if not sys.platform.startswith('linux'):
    return
  import ctypes
  import signal
  PR_SET_PDEATHSIG = 1
  ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
  parent = os.environ.get('DAGMM_WORKER_PARENT')
  if parent and os.getppid() != int(parent):   # the parent died before the request took effect
    sys.exit(1)


def read_config(directory: str | os.PathLike):
  """The ``ml_collections.ConfigDict`` a parent wrote to ``directory/config.json``."""
  import json
  import ml_collections
  return ml_collections.ConfigDict(json.loads((pathlib.Path(directory) / 'config.json').read_text()))


if __name__ == '__main__':
  main(sys.argv[1:])
