"""Replays the step at which a training member failed and records why.

  python scripts/replay_failure.py --workdir runs/kdd-216 --out results/failures/kdd-216.json

A member whose loss or gradients turn non-finite keeps the parameters and Adam
state it had before that step (``train.py`` freezes it), so the final checkpoint
of a finished (or interrupted) run holds, for every failed member, exactly the
state at its failing step; the step's batch and dropout key derive from (seed,
epoch, step) (``train.epoch_order``, ``train.step_batch``). For each failed member
this rebuilds that batch and reports:

- the loss in float32 as computed before rows-formed Cholesky factors existed
  (``plain_loss``), with the operation that makes its first NaN (``jax.debug_nans``),
  and as the objective computes it now; again in float64 from the same parameters
  and batch; which components' covariances have no Cholesky factor;
- the state: mixture weights, each component's membership sum, covariance
  eigenvalues and condition number (float32 as computed, and the float64 fit of
  the same ``z`` and memberships), the ranges of ``z`` (code, relative distance,
  cosine), the norm of each loss term's gradient, the Adam moments.
"""
import json
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import app, flags

from dagmm_jax import experiment, rundir
from dagmm_jax.scoring.evalset import EvalSet
from dagmm_jax.core import gmm, objective, regularizers
from dagmm_jax.core.model import build_net
from dagmm_jax.training import checkpoint, restarts as restarts_lib, train

WORKDIR = flags.DEFINE_string('workdir', None, 'A run directory (config.json, checkpoints/).')
CHUNK = flags.DEFINE_integer('chunk', 0, 'Chunk of seeds whose checkpoint to read.')
OUT = flags.DEFINE_string('out', None, 'Write the records here (JSON); printed anyway.')


def _member(tree: Any, i: int) -> Any:
  return jax.tree_util.tree_map(lambda a: a[i], tree)


def _norm(tree: Any) -> float:
  leaves = [np.asarray(l, np.float64) for l in jax.tree_util.tree_leaves(tree)]
  return float(np.sqrt(sum(np.sum(l * l) for l in leaves)))


def _max_abs(tree: Any) -> float:
  return float(max(np.max(np.abs(np.asarray(l, np.float64))) for l in jax.tree_util.tree_leaves(tree)))


def _spectrum(cov: np.ndarray) -> dict[str, list[float]]:
  """Per component: eigenvalues (float64 ``eigvalsh`` of the given matrices) and condition numbers."""
  w = np.linalg.eigvalsh(np.asarray(cov, np.float64))
  return {'eigenvalues': w.tolist(),
          'cond': [float(hi / lo) if lo > 0 else float('inf') for lo, hi in zip(w[:, 0], w[:, -1])],
          'diagonal': np.diagonal(np.asarray(cov, np.float64), axis1=-2, axis2=-1).tolist()}


def _first_nan(loss_of: Any, params: Any) -> str:
  """The message of ``jax.debug_nans`` for the loss's value and gradient, or 'none'."""
  try:
    with jax.debug_nans(True):
      jax.block_until_ready(jax.value_and_grad(loss_of)(params))
  except FloatingPointError as e:
    return str(e).splitlines()[0]
  return 'none'


def replay_member(config: ml_collections.ConfigDict, data: train.TrainData, state: train.TrainState,
                  i: int, batch: int) -> dict[str, Any]:
  """The record of failed member ``i`` (see the module docstring)."""
  epoch, t = int(state.failed_epoch[i]), int(state.failed_step[i])
  params, opt_state = _member(state.params, i), _member(state.opt_state, i)
  d = _member(data._replace(x=None), i)
  order, dropout_key = train.epoch_order(state.key[i], jnp.asarray(epoch, jnp.int32),
                                         d.train_idx, d.n_train)
  xb, w = train.step_batch(data.x, d.train_idx, order, d.n_train, d.shift, d.scale, batch,
                           jnp.asarray(t, jnp.int32))
  key = jax.random.fold_in(dropout_key, t)
  net = build_net(config)
  reg = regularizers.get_regularizer(config.gmm.regularizer)

  def parts(p, x, w):
    out = net.apply(p, x, train=True, rngs={'dropout': key})
    n = jnp.sum(w)
    fit = gmm.fit_gmm(out.z, out.gamma, w)
    return out, fit, gmm.regularize(fit, reg, n)

  def term_losses(p, x, w):
    loss, terms = objective.dagmm_loss(p, net, x, key, reg, config.lambda_energy,
                                       config.lambda_cov, w)
    return loss, terms

  def plain_loss(p, x, w):
    """The loss as computed before rows-formed factors (``gmm.energy`` factoring the
    rounded covariance)."""
    out, _, g = parts(p, x, w)
    valid = w > 0
    mean = lambda v: jnp.sum(jnp.where(valid, v, 0.0)) / jnp.sum(w)
    return (mean(jnp.sum((x - out.x_hat) ** 2, axis=1)) + config.lambda_energy * mean(gmm.energy(out.z, g))
            + config.lambda_cov * gmm.covariance_penalty(g.cov))

  loss, terms = jax.jit(term_losses)(params, xb, w)
  plain = jax.jit(plain_loss)(params, xb, w)
  out, fit, regd = jax.jit(parts)(params, xb, w)
  valid = np.asarray(w) > 0
  z = np.asarray(out.z)[valid]
  gamma = np.asarray(out.gamma)[valid]
  # The same z and memberships, fitted in float64 (NumPy; no rounding of the float32 kind).
  z64, g64 = z.astype(np.float64), gamma.astype(np.float64)
  nk = g64.sum(0)
  mu64 = (g64.T @ z64) / nk[:, None]
  cov64 = np.stack([((g64[:, k, None] * (z64 - mu64[k])).T @ (z64 - mu64[k])) / nk[k]
                    for k in range(len(nk))])
  grads = {}
  for name in ('reconstruction', 'energy', 'penalty'):
    g = jax.jit(jax.grad(lambda p, name=name: getattr(term_losses(p, xb, w)[1], name)))(params)
    grads[name] = _norm(g)
  with jax.enable_x64(True):
    p64 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), params)
    loss64, terms64 = jax.jit(term_losses)(p64, jnp.asarray(xb, jnp.float64), jnp.asarray(w, jnp.float64))
    _, fit64, regd64 = jax.jit(parts)(p64, jnp.asarray(xb, jnp.float64), jnp.asarray(w, jnp.float64))
  adam = next(s for s in jax.tree_util.tree_leaves(opt_state, is_leaf=lambda s: hasattr(s, 'nu'))
              if hasattr(s, 'nu'))
  return {
      'member': i, 'epoch': epoch + 1, 'step': t, 'rows': int(valid.sum()),
      'failed_cause': (objective.nonfinite_name(state.failed_cause[i]) if state.failed_cause[i]
                       else 'not recorded (the run predates TrainState.failed_cause)'),
      'float32': {'plain_loss': float(plain),
                  'first_nan_plain': _first_nan(lambda p: plain_loss(p, xb, w), params),
                  'loss': float(loss), 'reconstruction': float(terms.reconstruction),
                  'energy': float(terms.energy), 'penalty': float(terms.penalty),
                  'nonfinite_energies': int(terms.n_nonfinite),
                  'loss_gradient_finite': bool(np.isfinite(_norm(jax.jit(jax.grad(
                      lambda p: term_losses(p, xb, w)[0]))(params)))),
                  'cholesky_ok': np.asarray(gmm.cholesky_ok(regd.cov)).tolist(),
                  'fitted': _spectrum(fit.cov), 'regularized': _spectrum(regd.cov)},
      'float64': {'loss': float(loss64), 'energy': float(terms64.energy),
                  'nonfinite_energies': int(terms64.n_nonfinite),
                  'fitted_from_float32_z': _spectrum(cov64),
                  'fitted': _spectrum(np.asarray(fit64.cov)), 'regularized': _spectrum(np.asarray(regd64.cov))},
      'phi': np.asarray(fit.phi).tolist(), 'membership_sums': nk.tolist(),
      'mu': np.asarray(fit.mu).tolist(),
      'z_range': {name: [float(z[:, c].min()), float(z[:, c].max()), float(z[:, c].std())]
                  for name, c in (('code', 0), ('relative_distance', -2), ('cosine', -1))},
      'gradient_norms': grads,
      'adam': {'count': int(np.asarray(adam.count)), 'mu_norm': _norm(adam.mu), 'mu_max': _max_abs(adam.mu),
               'nu_norm': _norm(adam.nu), 'nu_max': _max_abs(adam.nu)},
      'param_norm': _norm(params), 'param_max': _max_abs(params),
  }


def main(argv: list[str]) -> None:
  del argv
  workdir = pathlib.Path(WORKDIR.value)
  config = ml_collections.ConfigDict(json.loads((workdir / 'config.json').read_text()))
  with experiment.precision(config):
    R = int(config.get('restarts', 1))
    seeds = [int(config.seed) + s for s in range(int(config.num_seeds))]
    data = rundir.load_data(config)
    evalset = EvalSet.build(config, data, seeds)
    tdata = restarts_lib.member_data(evalset.train, R) if R > 1 else evalset.train
    like = train.init_state(config, seeds, data.x.shape[1], R)
    with checkpoint.opened(workdir / 'checkpoints' / f'chunk_{CHUNK.value}') as mngr:
      state = checkpoint.restore(mngr, like)
    if state is None:
      raise SystemExit(f'no checkpoint in {workdir}/checkpoints/chunk_{CHUNK.value}')
    batch, _ = train.batch_plan(np.asarray(tdata.n_train), config.batch_size)
    failed = np.flatnonzero(np.asarray(state.failed_step) >= 0)
    records = []
    for i in failed:
      rec = replay_member(config, tdata, state, int(i), batch)
      rec.update(seed=seeds[i // R], restart=int(i % R), checkpoint_epoch=int(state.epoch))
      records.append(rec)
      print(json.dumps(rec))
  if OUT.value:
    pathlib.Path(OUT.value).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(OUT.value).write_text(json.dumps(records, indent=1) + '\n')


if __name__ == '__main__':
  flags.mark_flag_as_required('workdir')
  app.run(main)
