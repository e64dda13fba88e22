"""Training: one epoch is one jitted ``lax.scan`` over batches, seeds are ``vmap``-ed.

Every array with a leading ``S`` axis belongs to one seed. The raw feature
matrix is shared by all seeds and stays on the device; each seed has its own
training rows (``train_idx``) and scaling (``shift``, ``scale``), applied when a
batch is gathered. A seed whose loss or gradients become non-finite is marked
failed at that (epoch, step) and its parameters are frozen from then on; the
other seeds are computed independently and carry on.
"""
import functools
import math
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from dagmm_jax.core import inference, objective, regularizers
from dagmm_jax.training import checkpoint, cpu, distributed
from dagmm_jax.core.model import DAGMMNet, build_net


class TrainData(NamedTuple):
  """Device arrays for ``S`` seeds; ``train_idx`` is padded to the longest seed."""
  x: jnp.ndarray           # [N, D] raw features (shared by all seeds)
  train_idx: jnp.ndarray   # [S, n_max] int32 rows of x
  n_train: jnp.ndarray     # [S] int32 valid entries of train_idx
  shift: jnp.ndarray       # [S, D]
  scale: jnp.ndarray       # [S, D]


class TrainState(NamedTuple):
  """Full training state of ``S`` seeds (what a checkpoint holds)."""
  params: Any              # flax variables, leaves [S, ...]
  opt_state: Any
  key: jnp.ndarray         # [S, 2] uint32 base training key of each seed
  epoch: jnp.ndarray       # [] int32 epochs completed
  failed_epoch: jnp.ndarray  # [S] int32, -1 while healthy
  failed_step: jnp.ndarray   # [S] int32, -1 while healthy
  failed_cause: jnp.ndarray  # [S] int32, 0 while healthy: objective.NONFINITE's first non-finite quantity


class EpochMetrics(NamedTuple):
  """Per seed (``[S]``, or ``[S, K]`` per component) over the epoch's active steps."""
  loss: jnp.ndarray            # means over steps
  reconstruction: jnp.ndarray
  energy: jnp.ndarray
  penalty: jnp.ndarray
  n_nonfinite: jnp.ndarray     # sums over steps
  cholesky_failures: jnp.ndarray
  min_eig: jnp.ndarray         # [S, K] smallest over steps
  cond: jnp.ndarray            # [S, K] largest over steps
  phi: jnp.ndarray             # [S, K] mean over steps
  min_phi: jnp.ndarray         # [S, K] smallest over steps
  code_std: jnp.ndarray        # [S, latent] the code's spread over a batch, mean over steps
  steps: jnp.ndarray           # steps taken (a full pass; 0 once the seed has failed)
  failed: jnp.ndarray          # bool: the seed has failed by the end of the epoch


GRADIENT = objective.NONFINITE.index('gradient') + 1   # failed_cause of a finite loss with non-finite gradients
SEEDS = P('seeds')   # a leading seed axis split over the devices of a seed mesh (sharding.py)
STATE_SPEC = TrainState(SEEDS, SEEDS, SEEDS, P(), SEEDS, SEEDS, SEEDS)
DATA_SPEC = TrainData(P(), SEEDS, SEEDS, SEEDS, SEEDS)


def precision(config: ml_collections.ConfigDict):
  """The context in which ``config`` runs: float64 on for ``config.dtype ==
  'float64'``, off otherwise (``jax.enable_x64``; nothing global is changed)."""
  return jax.enable_x64(config.dtype == 'float64')


def map_seed_fields(fn: Callable[[Any], Any], state: TrainState) -> TrainState:
  """``state`` with ``fn`` applied to every field that has a leading seed axis
  (``STATE_SPEC``: all but ``epoch``)."""
  return TrainState(*(fn(v) if spec == SEEDS else v for v, spec in zip(state, STATE_SPEC)))


def seed_mesh_of(a: Any) -> Mesh | None:
  """The seed mesh ``a`` is split over (``sharding.seed_mesh``), or None."""
  s = getattr(a, 'sharding', None)
  if isinstance(s, NamedSharding) and len(s.spec) and s.spec[0] == 'seeds':
    return s.mesh
  return None


def per_device(fn: Callable, mesh: Mesh | None, in_specs: Any, out_specs: Any) -> Callable:
  """``fn`` run by every device on its own seeds (``shard_map``). Seeds never
  talk to each other, so this needs no communication, even across processes
  (left to ``jit``'s propagation, the partitioner gathered training rows onto
  one device every step). No mesh: ``fn`` itself."""
  if mesh is None:
    return fn
  return jax.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)


def combine_epochs(m: EpochMetrics) -> EpochMetrics:
  """One record for metrics stacked over epochs ``[n, S, ...]``: means of the loss
  terms, weights and code spreads, sums of the counts and steps, the smallest ``min_eig``
  and ``min_phi``, the largest ``cond``, failed if failed by the last epoch."""
  mean = lambda a: np.mean(a, axis=0)
  return EpochMetrics(mean(m.loss), mean(m.reconstruction), mean(m.energy), mean(m.penalty),
                      np.sum(m.n_nonfinite, 0), np.sum(m.cholesky_failures, 0),
                      np.min(m.min_eig, 0), np.max(m.cond, 0), mean(m.phi), np.min(m.min_phi, 0),
                      mean(m.code_std),
                      np.sum(m.steps, 0),
                      np.any(m.failed, 0))


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """Adam with the configured learning rate (paper: 1e-4)."""
  return optax.adam(config.learning_rate)


def seed_keys(seeds: list[int], restarts: int = 1) -> tuple[jnp.ndarray, jnp.ndarray]:
  """``(init_keys, train_keys)``, each ``[S * restarts, 2]``, derived from the seed only.

  Member ``s * restarts + r`` is restart ``r`` of seed ``s`` (``restarts.py``):
  restart 0 splits ``PRNGKey(seed)`` (the plain run's keys), restart ``r > 0``
  splits ``fold_in(PRNGKey(seed), r)``.
  """
  base = jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds))
  per_restart = [base] + [jax.vmap(lambda k, r=r: jax.random.fold_in(k, r))(base)
                          for r in range(1, restarts)]
  split = jax.vmap(jax.random.split)(jnp.stack(per_restart, axis=1).reshape(-1, *base.shape[1:]))
  return split[:, 0], split[:, 1]


def init_params(net: DAGMMNet, init_keys: jnp.ndarray, n_features: int | tuple[int, ...],
                dtype: jnp.dtype = jnp.float32) -> Any:
  """Network variables for every seed, stacked on a leading axis. ``n_features``
  is the width of a row, or the shape of one sample (e.g. ``(H, W, C)``)."""
  shape = (n_features,) if isinstance(n_features, (int, np.integer)) else tuple(n_features)
  return _init_program(net, tuple(int(d) for d in shape), jnp.dtype(dtype).name)(init_keys)


@functools.lru_cache(maxsize=64)
def _init_program(net: DAGMMNet, shape: tuple[int, ...], dtype: str) -> Callable:
  """The compiled, seed-vmapped ``net.init``, one per (networks, sample shape, dtype):
  a grid of small models (the image benchmark's cells) compiles it once."""
  dummy = jnp.zeros((1, *shape), dtype)
  init = lambda k: net.init({'params': k}, dummy, train=False)
  cast = lambda tree: jax.tree_util.tree_map(lambda p: p.astype(dtype), tree)
  return jax.jit(jax.vmap(lambda k: cast(init(k))))


@functools.lru_cache(maxsize=64)
def _opt_init_program(learning_rate: float) -> Callable:
  """The compiled, seed-vmapped optimizer init (``make_optimizer`` reads the learning rate only)."""
  return jax.jit(jax.vmap(make_optimizer(ml_collections.ConfigDict({'learning_rate': learning_rate})).init))


def init_state(config: ml_collections.ConfigDict, seeds: list[int],
               n_features: int | tuple[int, ...], restarts: int = 1) -> TrainState:
  """Fresh training state for ``seeds`` (``restarts`` members each, seed-major)."""
  init_keys, train_keys = seed_keys(seeds, restarts)
  params = init_params(build_net(config), init_keys, n_features, jnp.dtype(config.dtype))
  opt_state = _opt_init_program(float(config.learning_rate))(params)
  full = lambda v: jnp.full((len(seeds) * restarts,), v, jnp.int32)   # distinct buffers (donated)
  return TrainState(params, opt_state, train_keys, jnp.zeros((), jnp.int32), full(-1), full(-1), full(0))


def _tree_all_finite(tree: Any) -> jnp.ndarray:
  leaves = jax.tree_util.tree_leaves(tree)
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(l)) for l in leaves]))


def _select(pred: jnp.ndarray, new: Any, old: Any) -> Any:
  return jax.tree_util.tree_map(lambda a, b: jnp.where(pred, a, b), new, old)


def batch_plan(n_train: np.ndarray, batch_size: int) -> tuple[int, int]:
  """``(batch, steps)``: the static batch width and the steps of an epoch of the
  largest seed. Every epoch is a full pass (``step_bounds``); the width shrinks
  to the largest training set when that is smaller than ``batch_size``."""
  n_max = int(np.max(n_train))
  batch = int(min(batch_size, n_max))
  return batch, -(-n_max // batch)


def step_bounds(n: jnp.ndarray, batch: int, t: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """``(start, end)`` of step ``t`` in a seed's shuffled order of its ``n`` rows.

  An epoch visits every row exactly once in ``ceil(n / batch)`` steps: full
  batches, then the remainder as a last, partial batch (as the paper's
  TensorFlow code and its reimplementations do). So that no step fits a mixture
  on a handful of rows, a remainder of fewer than ``batch / 2`` rows is joined
  with the batch before it and the two are split evenly: every step then has at
  least ``batch / 2`` rows (or all ``n`` when ``n <= batch``). Steps ``t >=
  ceil(n / batch)`` are empty (``start == end == n``).
  """
  steps = (n + batch - 1) // batch
  last = n - (steps - 1) * batch                       # rows left for the last step, 1..batch
  balance = (steps >= 2) & (2 * last < batch)
  last_start = jnp.where(balance, (steps - 2) * batch + (batch + last + 1) // 2, (steps - 1) * batch)
  bound = lambda j: jnp.where(j >= steps, n, jnp.where(j == steps - 1, last_start, j * batch))
  return bound(t), bound(t + 1)


def step_rows(train_idx: jnp.ndarray, order: jnp.ndarray, n: jnp.ndarray, batch: int,
              t: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """``(rows [batch], weights [batch] bool)`` of step ``t``: the training rows
  ``train_idx[order[start:end]]`` (``step_bounds``), padded to the static width
  ``batch``; ``weights`` marks the real ones (all False on an empty step)."""
  start, end = step_bounds(n, batch, t)
  padded = jnp.concatenate([order, jnp.zeros((batch,), order.dtype)])   # slices start exactly
  return train_idx[jax.lax.dynamic_slice(padded, (start,), (batch,))], jnp.arange(batch) < end - start


def epoch_order(key: jnp.ndarray, epoch: jnp.ndarray, train_idx: jnp.ndarray,
                n_train: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """``(order, dropout_key)`` of one seed's epoch: a random order of its valid
  rows first, padding last, and the key whose ``fold_in(., step)`` is the step's
  dropout key. Both derive from (seed key, epoch) only."""
  perm_key, dropout_key = jax.random.split(jax.random.fold_in(key, epoch))
  u = jax.random.uniform(perm_key, train_idx.shape)
  return cpu.stable_argsort(jnp.where(jnp.arange(train_idx.shape[0]) < n_train, u, 2.0)), dropout_key


def step_batch(x: jnp.ndarray, train_idx: jnp.ndarray, order: jnp.ndarray, n_train: jnp.ndarray,
               shift: jnp.ndarray, scale: jnp.ndarray, batch: int,
               t: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """``(rows scaled [batch, ...], weights [batch])`` of step ``t`` (``step_rows``);
  uint8/uint16 images are divided by 255 or 65535 here, batch by batch."""
  rows, weights = step_rows(train_idx, order, n_train, batch, t)
  xb = inference.scaled(x[rows], shift, scale)
  return xb, weights.astype(xb.dtype)


def make_epoch_fn(config: ml_collections.ConfigDict, batch: int, steps: int,
                  mesh: Mesh | None = None) -> Callable:
  """Jitted ``(state, data, n_epochs) -> (state, EpochMetrics [n_epochs, S])``, all seeds at once
  (with ``mesh``, each device its own seeds: ``per_device``)."""
  net = build_net(config)
  tx = make_optimizer(config)
  reg = regularizers.get_regularizer(config.gmm.regularizer)
  loss_fn = functools.partial(objective.dagmm_loss, net=net, regularizer=reg,
                              lambda_energy=config.lambda_energy, lambda_cov=config.lambda_cov)
  grad_fn = jax.value_and_grad(lambda p, x, k, w: loss_fn(p, x=x, dropout_key=k, weights=w),
                               has_aux=True)

  def seed_epoch(params, opt_state, key, failed_epoch, failed_step, failed_cause,
                 train_idx, n_train, shift, scale, x, epoch):
    order, dropout_key = epoch_order(key, epoch, train_idx, n_train)

    def step(carry, t):
      params, opt_state, failed_epoch, failed_step, failed_cause = carry
      xb, weights = step_batch(x, train_idx, order, n_train, shift, scale, batch, t)
      (loss, terms), grads = grad_fn(params, xb, jax.random.fold_in(dropout_key, t), weights)
      updates, new_opt_state = tx.update(grads, opt_state, params)
      new_params = optax.apply_updates(params, updates)
      finite = jnp.isfinite(loss) & _tree_all_finite(grads)
      active = (weights[0] > 0) & (failed_step < 0)
      apply = active & finite
      newly_failed = active & ~finite
      cause = jnp.where(terms.nonfinite_at > 0, terms.nonfinite_at, GRADIENT)
      carry = (_select(apply, new_params, params), _select(apply, new_opt_state, opt_state),
               jnp.where(newly_failed, epoch, failed_epoch), jnp.where(newly_failed, t, failed_step),
               jnp.where(newly_failed, cause, failed_cause))
      return carry, (loss, terms, active)

    carry, (loss, terms, active) = jax.lax.scan(
        step, (params, opt_state, failed_epoch, failed_step, failed_cause),
        jnp.arange(steps, dtype=jnp.int32))
    w = active.astype(loss.dtype)
    n = jnp.maximum(jnp.sum(w), 1.0)
    on = lambda v, fill: jnp.where(active.reshape(-1, *([1] * (v.ndim - 1))), v, fill)
    mean = lambda v: jnp.sum(on(v, 0.0), axis=0) / n
    metrics = EpochMetrics(
        mean(loss), mean(terms.reconstruction), mean(terms.energy), mean(terms.penalty),
        jnp.sum(on(terms.n_nonfinite, 0), axis=0), jnp.sum(on(terms.cholesky_failures, 0), axis=0),
        jnp.min(on(terms.min_eig, jnp.inf), axis=0), jnp.max(on(terms.cond, -jnp.inf), axis=0),
        mean(terms.phi), jnp.min(on(terms.phi, jnp.inf), axis=0), mean(terms.code_std),
        jnp.sum(active.astype(jnp.int32)), carry[3] >= 0)
    return carry, metrics

  vmapped = jax.vmap(seed_epoch, in_axes=(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, None, None))

  def one_epoch(state: TrainState, data: TrainData) -> tuple[TrainState, EpochMetrics]:
    (params, opt_state, failed_epoch, failed_step, failed_cause), metrics = vmapped(
        state.params, state.opt_state, state.key, state.failed_epoch, state.failed_step,
        state.failed_cause, data.train_idx, data.n_train, data.shift, data.scale, data.x, state.epoch)
    return TrainState(params, opt_state, state.key, state.epoch + 1, failed_epoch, failed_step,
                      failed_cause), metrics

  @functools.partial(jax.jit, static_argnums=2, donate_argnums=0)
  def run_epochs(state: TrainState, data: TrainData, n_epochs: int):
    """``n_epochs`` epochs in one call; metrics come back stacked ``[n_epochs, S]``."""
    scan = lambda st, d: jax.lax.scan(lambda s, _: one_epoch(s, d), st, None, length=n_epochs)
    return per_device(scan, mesh, (STATE_SPEC, DATA_SPEC), (STATE_SPEC, P(None, 'seeds')))(state, data)

  return run_epochs


# Tiny data sets (one step per epoch, 10,000s of epochs) run several epochs per
# compiled call so that Python dispatch never dominates.
MIN_STEPS_PER_CALL = 128


def epochs_per_call(steps: int, period: int) -> int:
  """Epochs fused into one compiled call: the largest divisor of ``period`` (the
  checkpoint/report period) that keeps a call near ``MIN_STEPS_PER_CALL`` steps.
  Calls then end exactly on every period boundary, all with one compiled size."""
  target = max(1, min(period, -(-MIN_STEPS_PER_CALL // steps)))
  return max(d for d in range(1, target + 1) if period % d == 0)


def fit(config: ml_collections.ConfigDict, state: TrainState, data: TrainData,
        on_epoch: Callable[[int, EpochMetrics, float, TrainState | None], None] | None = None,
        ckpt_mngr=None, report_every: int = 0, epoch_fn: Callable[..., Callable] | None = None) -> TrainState:
  """Trains from ``state.epoch`` to ``config.num_epochs``.

  ``on_epoch(epoch, metrics, seconds, state)`` is called once per compiled call
  (one epoch, or several fused epochs on tiny data sets) with host copies:
  ``epoch`` is the last epoch done, ``metrics`` covers the call's epochs
  (``combine_epochs``), ``seconds`` is per epoch and ``state`` is the state at
  ``epoch``. In a multi-process run the host waits once per period of
  ``checkpoint_every`` (and ``report_every``) epochs, not once per call: the
  period's calls are all dispatched first, so the processes synchronise (gather
  metrics) once a period (measured in docs/performance.md). Then ``seconds`` is
  the period's mean and ``state`` is None except for the period's last call.
  With ``ckpt_mngr`` the full state is saved at the end of every
  ``checkpoint_every`` period and at the end; resuming from such a checkpoint
  gives the same result as an uninterrupted run, because every random key
  derives from (seed, epoch, step). ``epoch_fn`` (default ``make_epoch_fn``)
  builds the compiled epoch; a caller that trains many small models passes one
  that hands out the same function for equal configs (``estimator``).
  """
  batch, steps = batch_plan(distributed.gather(data.n_train), config.batch_size)
  run_epochs = (epoch_fn or make_epoch_fn)(config, batch, steps, seed_mesh_of(state.failed_step))
  every, total = int(config.checkpoint_every), int(config.num_epochs)
  period = math.gcd(every, report_every) if report_every else every
  fuse = epochs_per_call(steps, period)
  wait = period if jax.process_count() > 1 else fuse   # one process: nothing to synchronise
  epoch = int(state.epoch)
  while epoch < total:
    first, end = epoch, min(total, (epoch // wait + 1) * wait)
    start = time.perf_counter()
    ends, pending = [], []
    while epoch < end:
      n = min(fuse - epoch % fuse, end - epoch)
      state, metrics = run_epochs(state, data, n)   # dispatched, not waited for
      epoch += n
      ends.append(epoch)
      pending.append(metrics)
    stacked = distributed.gather(pending[0] if len(pending) == 1 else
                               jax.tree_util.tree_map(lambda *a: jnp.concatenate(a), *pending))
    seconds = (time.perf_counter() - start) / (epoch - first)
    if on_epoch is not None:
      cuts = [0] + [e - first for e in ends]
      for i, e in enumerate(ends):
        call = jax.tree_util.tree_map(lambda a: a[cuts[i]:cuts[i + 1]], stacked)
        on_epoch(e, combine_epochs(call), seconds, state if e == epoch else None)
    if ckpt_mngr is not None and (epoch % every == 0 or epoch == total):
      checkpoint.save(ckpt_mngr, epoch, state)
  return state


def progress(elapsed_s: float, epochs_left: int, seconds_per_epoch: float | None) -> str:
  """'elapsed 2.0 min, ETA 6.0 min': time so far and, at ``seconds_per_epoch``
  (None: not known yet, '?'), to the end."""
  minutes = lambda s: f'{s / 60:.1f} min' if s < 3600 else f'{s / 3600:.1f} h'
  eta = '?' if seconds_per_epoch is None else minutes(seconds_per_epoch * epochs_left)
  return f'elapsed {minutes(elapsed_s)}, ETA {eta}'


class Clock:
  """Elapsed time and ETA for progress lines. ``lap(epoch)`` at the end of each
  compiled block of epochs; ``clock(epochs_left)`` -> ``progress`` at the pace
  since the first lap (so compiling, in the first block, does not count)."""

  def __init__(self, now: Callable[[], float] = time.perf_counter):
    self._now, self._start, self._first, self._last = now, now(), None, None

  def lap(self, epoch: int) -> None:
    self._last = (self._now(), epoch)
    self._first = self._first or self._last

  def __call__(self, epochs_left: int) -> str:
    pace = None
    if self._last and self._last[1] > self._first[1]:
      pace = (self._last[0] - self._first[0]) / (self._last[1] - self._first[1])
    return progress(self._now() - self._start, epochs_left, pace)
