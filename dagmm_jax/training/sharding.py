"""Seeds sharded over devices: a 1-D ``Mesh`` with axis ``'seeds'``.

Every training array with a leading seed axis is split over the devices; the
shared feature matrix is replicated. The seed-vmapped programs (training and
scoring) run under ``train.per_device`` (``shard_map``): each device trains and
scores its own seeds, exactly as on one device, with no communication (left to
``jit``'s own partitioning, training rows were gathered onto one device every
step). With one device (or a seed count the devices do not divide) nothing is
sharded.

Several CPU "devices" in one process (``--xla_force_host_platform_device_count``)
are for tests only: with 2 of them on 2 cores a KDDCUP epoch deadlocks in
jaxlib's batched LAPACK kernels, which wait on the intra-op thread pool that is
running them. On a CPU host use one process per core group instead
(``--processes``: JAX's multi-controller runtime, ``distributed.py``): the
global device list then spans the processes (and hosts) and the same mesh
shards the seeds over them.
"""
from typing import Any

import jax
import numpy as np
from absl import logging
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from dagmm_jax.training import train


def seed_mesh(n_seeds: int) -> Mesh | None:
  """A mesh over all devices for ``n_seeds`` seeds, or None when there is one
  device or the device count does not divide the seed count."""
  devices = jax.devices()
  if len(devices) == 1:
    return None
  if n_seeds % len(devices) and jax.process_count() > 1:
    raise ValueError(f"{n_seeds} seeds do not divide over the run's {len(devices)} devices "
                     f'({jax.process_count()} processes): choose --seeds or config.seed_chunk as a multiple')
  if n_seeds % len(devices):
    logging.warning('%d seeds do not divide over %d devices: running on one device '
                    '(choose --seeds or config.seed_chunk as a multiple)', n_seeds, len(devices))
    return None
  if devices[0].platform == 'cpu' and jax.local_device_count() > 1:
    logging.warning('%d CPU devices in one process: for tests only (jaxlib LAPACK kernels can '
                    'deadlock them on large batches); on a CPU host use --processes instead',
                    len(devices))
  return Mesh(np.asarray(devices), ('seeds',))


def _put(tree: Any, mesh: Mesh, spec: P) -> Any:
  return jax.device_put(tree, NamedSharding(mesh, spec))


def shard_state(state: train.TrainState, mesh: Mesh | None) -> train.TrainState:
  """Seed-axis leaves split over the mesh; the epoch counter replicated."""
  if mesh is None:
    return state
  state = train.map_seed_fields(lambda t: _put(t, mesh, P('seeds')), state)
  return state._replace(epoch=_put(state.epoch, mesh, P()))


def replicate(x: jax.Array, mesh: Mesh) -> jax.Array:
  """``x`` on every device of the mesh. Each local device gets ``x`` by
  ``device_put`` (on CPU, an array already on that device, or an aligned host
  array, is used in place), and the pieces are assembled without the copy that
  ``device_put`` to a replicated sharding makes."""
  local = [jax.device_put(x, d) for d in mesh.local_devices]
  return jax.make_array_from_single_device_arrays(x.shape, NamedSharding(mesh, P()), local)


def shard_data(data: train.TrainData, mesh: Mesh | None) -> train.TrainData:
  """The feature matrix replicated (not copied: ``replicate``), each seed's rows and
  scaling on its device."""
  if mesh is None:
    return data
  seeds = lambda t: _put(t, mesh, P('seeds'))
  return train.TrainData(replicate(data.x, mesh), seeds(data.train_idx), seeds(data.n_train),
                         seeds(data.shift), seeds(data.scale))


def shard_seeds(tree: Any, mesh: Mesh | None) -> Any:
  """Any tree whose leaves all have a leading seed axis."""
  return tree if mesh is None else _put(tree, mesh, P('seeds'))
