"""JAX's multi-controller runtime: one run over several processes, on one host or many.

Every process calls ``initialize`` before anything touches a device; the
processes then see one global device list, ``sharding.seed_mesh`` builds one
``Mesh`` over it, and the seeds are sharded over it: each process trains and
scores the seeds on its own devices, in one program run per device
(``train.per_device``; seeds never talk to each other, so the only collectives are the small
gathers of per-seed metrics that ``gather`` does for the logs and results).
Process 0 writes ``results.json``, ``results.md`` and ``metrics.jsonl``; orbax
saves and restores the sharded checkpoints from every process.

On CPU the collectives are gloo's (``jax_cpu_collectives_implementation``), over
TCP: the same code spans hosts. ``--processes N`` on one host starts N such
processes itself (``launch``), pinned to disjoint cores (``pinning.py``), with a
loopback coordinator; on a cluster each host runs the command with
``--coordinator HOST:PORT --num_processes N --process_id I`` (or none of them
where ``jax.distributed.initialize()`` detects the cluster, e.g. SLURM).
"""
from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import time
from typing import Any

import jax
import numpy as np
from absl import logging


LAUNCHER_PEAK = 'DAGMM_LAUNCHER_PEAK_GIB'   # the launching process's peak host memory


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> None:
  """Joins the run (gloo collectives on CPU). With no arguments JAX looks for a
  cluster environment (SLURM, Open MPI, ...)."""
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                             process_id=process_id)
  logging.info('process %d of %d: local devices %s, %d devices in all', jax.process_index(),
               jax.process_count(), jax.local_devices(), jax.device_count())


def is_writer() -> bool:
  """Whether this process writes the run's files (process 0)."""
  return jax.process_index() == 0


def gather(tree: Any) -> Any:
  """A host (NumPy) copy of every leaf, gathered from every process when a leaf
  is sharded over several (every process must call this at the same point)."""
  if jax.process_count() == 1:
    return jax.device_get(tree)
  from jax.experimental import multihost_utils
  return jax.tree_util.tree_map(
      lambda a: np.asarray(multihost_utils.process_allgather(a, tiled=True))
      if isinstance(a, jax.Array) and not a.is_fully_addressable else np.asarray(a), tree)


def peak_host_memory() -> dict[str, Any]:
  """The run's peak host memory: ``{'total': GiB, 'processes': [GiB, ...],
  'launcher': GiB}``. The total sums every process's peak and the launching
  process's (``launch``): an upper bound, their peaks need not coincide."""
  from dagmm_jax import host
  peaks = [host.peak_host_memory_gib()]
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils
    peaks = multihost_utils.process_allgather(np.asarray(peaks, np.float64)).ravel().tolist()
  launcher = float(os.environ.get(LAUNCHER_PEAK, 0.0))
  return {'total': float(np.sum(peaks)) + launcher, 'processes': peaks, 'launcher': launcher}


def free_port() -> int:
  """A free TCP port on the loopback interface for a local coordinator."""
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def launch(workdir: pathlib.Path, processes: int) -> None:
  """Runs ``workdir``'s config (``config.json``) in ``processes`` local processes
  of the multi-controller runtime, each pinned to its own cores, and waits for
  them. The first one to fail stops the others and raises with its exit status."""
  from dagmm_jax import host
  from dagmm_jax.training import pinning
  coordinator = f'127.0.0.1:{free_port()}'
  peak = {LAUNCHER_PEAK: str(host.peak_host_memory_gib())}   # counted in results.json
  procs = [pinning.spawn('dagmm_jax.cli.common:process_main',
                         [str(workdir), coordinator, str(processes), str(i)], cores, peak)
           for i, cores in enumerate(pinning.core_groups(processes))]
  logging.info('%d processes (pids %s), coordinator %s', processes, [p.pid for p in procs], coordinator)
  try:
    while True:
      codes = [p.poll() for p in procs]
      if bad := [i for i, c in enumerate(codes) if c]:
        raise RuntimeError(f'process {bad[0]} of the run failed (exit status {codes[bad[0]]}); its '
                           'error is in the log above. Rerun the same command to resume.')
      if all(c == 0 for c in codes):
        return
      time.sleep(0.5)
  finally:   # interrupted (Ctrl-C) or failed: no process outlives the run
    for p in procs:
      if p.poll() is None:
        p.terminate()
    for p in procs:
      try:
        p.wait(timeout=30)
      except subprocess.TimeoutExpired:
        p.kill()
        p.wait()

