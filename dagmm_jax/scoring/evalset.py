"""Per-seed evaluation sets and the compiled, seed-vmapped programs that score them.

A seed's split (``config.protocol``) and scaler (``config.scaling``) are fitted
on its training rows only; the networks of every seed are scored in one
program, each device scoring its own seeds.
"""
import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from dagmm_jax import host
from dagmm_jax.core import inference, metrics, regularizers
from dagmm_jax.core.model import build_net
from dagmm_jax.data import Dataset, Scaler, Split, fit_scaler, make_split
from dagmm_jax.training import distributed, sharding, train
from dagmm_jax.training import restarts as restarts_lib


def seed_split(config: ml_collections.ConfigDict, y: np.ndarray, seed: int) -> Split:
  """The train/test split of ``seed`` under ``config.protocol`` (labels ``y``)."""
  return make_split(y, config.protocol, seed, config.max_anomalies or None)


def seed_scaler(config: ml_collections.ConfigDict, x_train: np.ndarray) -> Scaler:
  """The scaler of ``config.scaling`` fitted on a seed's training rows."""
  return fit_scaler(x_train, config.scaling, config.get('constant_columns', 'shift'))


@dataclasses.dataclass
class EvalSet:
  """Per-seed (or per-member) splits and scalers: padded device arrays plus host
  labels. ``train``: the training data of ``train.fit``; ``test_idx``:
  ``[seeds, max n_test]`` row indices, padded with row 0 past ``n_test``."""
  train: train.TrainData
  test_idx: jax.Array
  test_labels: list[np.ndarray]
  n_test: list[int]

  @classmethod
  def build(cls, config: ml_collections.ConfigDict, data: Dataset, seeds: list[int],
            mesh: jax.sharding.Mesh | None = None) -> 'EvalSet':
    """The evaluation set of ``seeds`` on ``data`` (sharded over ``mesh``)."""
    splits = [seed_split(config, data.y, s) for s in seeds]
    scalers = [seed_scaler(config, data.x[sp.train_idx]) for sp in splits]
    dtype = jnp.dtype(config.dtype)
    train_data = train.TrainData(
        x=host.on_device(data.x, dtype),   # in place on CPU: the data set's rows are not copied
        train_idx=jnp.asarray(_pad([sp.train_idx for sp in splits])),
        n_train=jnp.asarray([len(sp.train_idx) for sp in splits], jnp.int32),
        shift=jnp.asarray(np.stack([s.shift for s in scalers]), dtype),
        scale=jnp.asarray(np.stack([s.scale for s in scalers]), dtype))
    return cls(train=sharding.shard_data(train_data, mesh),
               test_idx=sharding.shard_seeds(jnp.asarray(_pad([sp.test_idx for sp in splits])), mesh),
               test_labels=[data.y[sp.test_idx] for sp in splits],
               n_test=[len(sp.test_idx) for sp in splits])

  def members(self, restarts: int) -> 'EvalSet':
    """The seeds' evaluation set repeated for their ``restarts`` members (seed-major)."""
    rep = lambda seq: [v for v in seq for _ in range(restarts)]
    return EvalSet(train=restarts_lib.member_data(self.train, restarts),
                   test_idx=restarts_lib.repeat_members(self.test_idx, restarts),
                   test_labels=rep(self.test_labels), n_test=rep(self.n_test))


def _pad(index_arrays: list[np.ndarray]) -> np.ndarray:
  """Stacks index arrays of different lengths, padding with row 0."""
  out = np.zeros((len(index_arrays), max(len(a) for a in index_arrays)), np.int32)
  for i, a in enumerate(index_arrays):
    out[i, :len(a)] = a
  return out


def _per_seed(fn: Callable) -> Callable:
  """``fn(params, x, train_idx, n_train, shift, scale, *extra)`` of one seed ->
  jitted ``(params, TrainData, *extra)`` over every seed (leading axis of all but
  ``x``), each device scoring its own seeds."""
  def run(params, d, *extra):
    in_axes = (0, None, 0, 0, 0, 0) + (0,) * len(extra)
    return jax.vmap(fn, in_axes=in_axes)(params, d.x, d.train_idx, d.n_train, d.shift, d.scale, *extra)
  compiled = {}

  def call(params, d, *extra):
    mesh = train.seed_mesh_of(d.train_idx)
    if (mesh, len(extra)) not in compiled:
      specs = (train.SEEDS, train.DATA_SPEC) + (train.SEEDS,) * len(extra)
      compiled[mesh, len(extra)] = jax.jit(train.per_device(run, mesh, specs, train.SEEDS))
    return compiled[mesh, len(extra)](params, d, *extra)

  return call


def _net_and_regularizer(config: ml_collections.ConfigDict) -> tuple[Any, Callable]:
  return build_net(config), regularizers.get_regularizer(config.gmm.regularizer)


def make_fit_fn(config: ml_collections.ConfigDict) -> Callable:
  """Jitted, seed-vmapped ``(params, TrainData) -> gmm.GMMParams``: each seed's
  test-time mixture, fitted exactly over its training rows (``inference.fit_on_rows``)."""
  net, reg = _net_and_regularizer(config)
  return _per_seed(lambda params, x, train_idx, n_train, shift, scale: inference.fit_on_rows(
      net, reg, params, x, train_idx, n_train, shift, scale)[0])


def make_score_fn(config: ml_collections.ConfigDict) -> Callable:
  """Jitted, seed-vmapped ``(params, TrainData, test_idx) -> inference.Scored``."""
  net, reg = _net_and_regularizer(config)
  return _per_seed(lambda params, x, train_idx, n_train, shift, scale, test_idx: inference.fit_and_score(
      net, reg, params, x, train_idx, n_train, test_idx, shift, scale))


def make_em_score_fn(config: ml_collections.ConfigDict) -> Callable:
  """Jitted, seed-vmapped ``(params, TrainData, test_idx, keys) -> (inference.Scored,
  mean training energy)`` with the mixture refitted by EM (``core/em.py``)."""
  net, reg = _net_and_regularizer(config)
  return _per_seed(lambda params, x, train_idx, n_train, shift, scale, test_idx, key: inference.em_fit_and_score(
      net, reg, params, x, train_idx, n_train, test_idx, shift, scale, key,
      n_components=int(config.model.n_mixtures)))


def seed_metrics(config: ml_collections.ConfigDict, labels: np.ndarray,
                 energies: np.ndarray) -> tuple[dict[str, float] | None, str | None]:
  """Metrics of one seed, or ``(None, reason)`` when its energies are not finite."""
  bad = int(np.sum(~np.isfinite(energies)))
  if bad:
    return None, f'final GMM fit: {bad} of {energies.size} test energies are not finite'
  k = int(labels.sum()) if config.protocol == 'goad' else int(round(config.rho * labels.size))
  return metrics.evaluate_scores(labels, energies, k), None


def score_all(config: ml_collections.ConfigDict, score_fn: Callable, params: Any,
              evalset: EvalSet) -> tuple[list[tuple[dict | None, str | None]], inference.Scored]:
  """``([seed_metrics per seed], host-side scores)`` of ``params`` on ``evalset``."""
  scored = distributed.gather(score_fn(params, evalset.train, evalset.test_idx))
  results = [seed_metrics(config, lab, scored.energies[i, :n])
             for i, (lab, n) in enumerate(zip(evalset.test_labels, evalset.n_test))]
  return results, scored


def train_energies(score_fn: Callable, params: Any, members: EvalSet) -> np.ndarray:
  """``[members]`` mean energy of each member's training rows under its exact
  training-set GMM fit (the selection criterion: no test row, no label)."""
  scored = distributed.gather(score_fn(params, members.train, members.train.train_idx))
  n = distributed.gather(members.train.n_train)
  return np.asarray([np.mean(scored.energies[i, :n[i]]) for i in range(len(n))])
