"""``train_and_evaluate(config, workdir)``: data -> training -> scoring -> results.

Seeds ``config.seed .. config.seed + config.num_seeds - 1`` train together in
one compiled program (``config.seed_chunk`` bounds how many at once; with
``processes > 1`` the chunks train in parallel pinned processes). Each
chunk is resumable: its training state is checkpointed with orbax under
``workdir/checkpoints/chunk_<i>`` and its finished results are written to
``workdir/chunks/chunk_<i>.json``; a rerun with the same workdir picks up where
the last one stopped.
"""
import contextlib
import functools
import json
import pathlib
import re
import time
from types import SimpleNamespace
from typing import Any, Callable, Iterator

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from dagmm_jax import config_check, files, host
from dagmm_jax.core import gmm, inference, metrics, objective, regularizers
from dagmm_jax.reports import plots, tables
from dagmm_jax.training import checkpoint, distributed, pinning, sharding, train
from dagmm_jax.training import restarts as restarts_lib
from dagmm_jax.data import (Dataset, Scaler, Split, fit_scaler, load_dataset, make_split,
                            prepare_dataset)
from dagmm_jax.core.model import build_net
from dagmm_jax.estimator import DAGMM



def seed_split(config: ml_collections.ConfigDict, y: np.ndarray, seed: int) -> Split:
  """The train/test split of ``seed`` under ``config.protocol`` (labels ``y``)."""
  return make_split(y, config.protocol, seed, config.max_anomalies or None)


def seed_scaler(config: ml_collections.ConfigDict, x_train: np.ndarray) -> Scaler:
  """The scaler of ``config.scaling`` fitted on a seed's training rows."""
  return fit_scaler(x_train, config.scaling, config.get('constant_columns', 'shift'))


class EvalSet:
  """Per-seed splits and scalers, as padded device arrays plus host labels."""

  def __init__(self, config: ml_collections.ConfigDict, data: Dataset, seeds: list[int],
               mesh: jax.sharding.Mesh | None = None):
    splits = [seed_split(config, data.y, s) for s in seeds]
    scalers = [seed_scaler(config, data.x[sp.train_idx]) for sp in splits]
    dtype = jnp.dtype(config.dtype)
    self.test_labels = [data.y[sp.test_idx] for sp in splits]
    self.n_test = [len(sp.test_idx) for sp in splits]
    self.train = train.TrainData(
        x=host.on_device(data.x, dtype),   # in place on CPU: the data set's rows are not copied
        train_idx=jnp.asarray(_pad([sp.train_idx for sp in splits])),
        n_train=jnp.asarray([len(sp.train_idx) for sp in splits], jnp.int32),
        shift=jnp.asarray(np.stack([s.shift for s in scalers]), dtype),
        scale=jnp.asarray(np.stack([s.scale for s in scalers]), dtype))
    self.test_idx = sharding.shard_seeds(jnp.asarray(_pad([sp.test_idx for sp in splits])), mesh)
    self.train = sharding.shard_data(self.train, mesh)


def _pad(index_arrays: list[np.ndarray]) -> np.ndarray:
  """Stacks index arrays of different lengths, padding with row 0."""
  out = np.zeros((len(index_arrays), max(len(a) for a in index_arrays)), np.int32)
  for i, a in enumerate(index_arrays):
    out[i, :len(a)] = a
  return out


def _per_seed(score: Callable) -> Callable:
  """``score(params, x, train_idx, n_train, test_idx, shift, scale, *extra)`` of one
  seed -> jitted ``(params, TrainData, test_idx, *extra)`` over every seed (leading
  axis of all but ``x``), each device scoring its own seeds."""
  def run(params, d, test_idx, *extra):
    in_axes = (0, None, 0, 0, 0, 0, 0) + (0,) * len(extra)
    return jax.vmap(score, in_axes=in_axes)(params, d.x, d.train_idx, d.n_train, test_idx, d.shift,
                                            d.scale, *extra)
  compiled = {}

  def call(params, d, test_idx, *extra):
    mesh = train.seed_mesh_of(test_idx)
    if (mesh, len(extra)) not in compiled:
      specs = (train.SEEDS, train.DATA_SPEC, train.SEEDS) + (train.SEEDS,) * len(extra)
      compiled[mesh, len(extra)] = jax.jit(train.per_device(run, mesh, specs, train.SEEDS))
    return compiled[mesh, len(extra)](params, d, test_idx, *extra)

  return call


def make_score_fn(config: ml_collections.ConfigDict) -> Callable:
  """Jitted, seed-vmapped ``(params, TrainData, test_idx) -> inference.Scored``."""
  net, reg = build_net(config), regularizers.get_regularizer(config.gmm.regularizer)
  return _per_seed(functools.partial(inference.fit_and_score, net, reg))


def make_em_score_fn(config: ml_collections.ConfigDict) -> Callable:
  """Jitted, seed-vmapped ``(params, TrainData, test_idx, keys) -> (inference.Scored,
  mean training energy)`` with the mixture refitted by EM (``core/em.py``)."""
  net, reg = build_net(config), regularizers.get_regularizer(config.gmm.regularizer)
  return _per_seed(functools.partial(inference.em_fit_and_score, net, reg,
                                     n_components=int(config.model.n_mixtures)))


def seed_metrics(config: ml_collections.ConfigDict, labels: np.ndarray,
                 energies: np.ndarray) -> tuple[dict[str, float] | None, str | None]:
  """Metrics of one seed, or ``(None, reason)`` when its energies are not finite."""
  bad = int(np.sum(~np.isfinite(energies)))
  if bad:
    return None, f'final GMM fit: {bad} of {energies.size} test energies are not finite'
  k = int(labels.sum()) if config.protocol == 'goad' else int(round(config.rho * labels.size))
  return metrics.evaluate_scores(labels, energies, k), None


def _score_all(config, score_fn, params, evalset: EvalSet) -> tuple[list, Any]:
  scored = distributed.gather(score_fn(params, evalset.train, evalset.test_idx))
  results = [seed_metrics(config, lab, scored.energies[i, :n])
             for i, (lab, n) in enumerate(zip(evalset.test_labels, evalset.n_test))]
  return results, scored


def _failure(state, i: int) -> str | None:
  """Why member ``i`` of a host-side state failed in training, or None."""
  if state.failed_step[i] < 0:
    return None
  return (f'non-finite {objective.nonfinite_name(state.failed_cause[i])} at epoch '
          f'{state.failed_epoch[i] + 1}, step {state.failed_step[i]}')


def _member_evalset(evalset: EvalSet, restarts: int) -> SimpleNamespace:
  """The seeds' evaluation set repeated for their members (seed-major)."""
  rep = lambda seq: [v for v in seq for _ in range(restarts)]
  return SimpleNamespace(train=restarts_lib.member_data(evalset.train, restarts),
                         test_idx=restarts_lib.repeat_members(evalset.test_idx, restarts),
                         test_labels=rep(evalset.test_labels), n_test=rep(evalset.n_test))


def _train_energies(score_fn, params, members: SimpleNamespace) -> np.ndarray:
  """``[members]`` mean energy of each member's training rows under its exact
  training-set GMM fit (the selection criterion: no test row, no label)."""
  scored = distributed.gather(score_fn(params, members.train, members.train.train_idx))
  n = distributed.gather(members.train.n_train)
  return np.asarray([np.mean(scored.energies[i, :n[i]]) for i in range(len(n))])


def _epoch_logger(chunk: int, seeds: list[int], num_epochs: int, log_path: pathlib.Path,
                  start_epoch: int, restarts: int = 1):
  """``on_epoch`` for ``train.fit``: a metrics.jsonl line per call, a log line
  every 1/20 of the run. With ``restarts > 1`` the lines are per member."""
  every = max(1, num_epochs // 20)
  logged = [start_epoch]
  extra = {} if restarts == 1 else {'phase': 'restarts', 'restart': list(range(restarts)) * len(seeds)}
  label = 'seeds' if restarts == 1 else f'members ({restarts} per seed)'
  member_seeds = [s for s in seeds for _ in range(restarts)]
  clock = train.Clock()

  def on_epoch(epoch, m, seconds, state):
    if state is not None:   # the last epoch of a compiled block
      clock.lap(epoch)
    failed = np.asarray(m.failed)
    record = {'chunk': chunk, 'epoch': epoch, 'epochs': epoch - logged[0], 'seconds': seconds,
              'seeds': member_seeds, **extra, **{k: np.asarray(v).tolist() for k, v in m._asdict().items()}}
    if not distributed.is_writer():   # one log for the run: process 0's
      return
    files.append_jsonl(log_path, record)
    if epoch // every > logged[0] // every or epoch == num_epochs or logged[0] == start_epoch:
      ok = ~failed
      ok_mean = lambda v: np.mean(np.asarray(v)[ok]) if ok.any() else np.nan
      logging.info('chunk %d epoch %d/%d  loss %.4f (recon %.4f, energy %.4f, P %.2f)  '
                   'min eig %.2e  %.3f s/epoch  failed %s %d/%d  (%s)', chunk, epoch, num_epochs,
                   ok_mean(m.loss), ok_mean(m.reconstruction), ok_mean(m.energy),
                   ok_mean(m.penalty), np.min(m.min_eig), seconds, label, failed.sum(), len(failed),
                   clock(num_epochs - epoch))
    logged[0] = epoch

  return on_epoch


def _restore(mngr, state: train.TrainState, mesh, chunk: int, what: str) -> train.TrainState:
  restored = checkpoint.restore(mngr, state)
  if restored is None:
    return state
  logging.info('chunk %d: resuming %s from epoch %d', chunk, what, int(restored.epoch))
  return sharding.shard_state(restored, mesh)


def run_chunk(config: ml_collections.ConfigDict, data: Dataset, seeds: list[int],
              workdir: pathlib.Path, chunk: int) -> list[dict[str, Any]]:
  """Trains and evaluates one chunk of seeds; returns one result dict per seed.

  With ``config.restarts = R > 1`` each seed trains R members (``restarts.py``)
  for ``config.select_epoch`` epochs (0: all of them), keeps the one with the
  lowest training energy and trains it alone to the end; when every member
  trains to the end, the rank-averaged ensemble of the R members is scored too.
  ``R = 1`` with ``select_epoch`` set runs the same split and gives the plain run.
  """
  R = int(config.get('restarts', 1))
  num_epochs = int(config.num_epochs)
  select_epoch = int(config.get('select_epoch', 0)) or num_epochs
  if R < 1 or not 0 < select_epoch <= num_epochs:
    raise ValueError(f'config.restarts must be >= 1 (got {R}) and config.select_epoch in '
                     f'0..num_epochs={num_epochs} (got {config.get("select_epoch")})')
  mesh = sharding.seed_mesh(len(seeds))
  evalset = EvalSet(config, data, seeds, mesh)
  score_fn = make_score_fn(config)
  state = sharding.shard_state(train.init_state(config, seeds, data.x.shape[1]), mesh)
  untrained, _ = _score_all(config, score_fn, state.params, evalset)
  host.release_free_memory()   # split and scaling temporaries, compilers' working memory
  log_path = workdir / 'metrics.jsonl'
  mngr = checkpoint.manager(workdir / 'checkpoints' / f'chunk_{chunk}')
  selection_path = workdir / 'chunks' / f'chunk_{chunk}_selection.json'
  selection, members, ensemble, em_rows = None, None, None, None

  if R == 1 and select_epoch == num_epochs:          # the plain run
    state = _restore(mngr, state, mesh, chunk, 'training')
  elif select_epoch < num_epochs and mngr.latest_step() is not None and selection_path.exists():
    state = _restore(mngr, state, mesh, chunk, 'the selected members')   # selection already made
    selection = json.loads(selection_path.read_text())
  else:
    mesh_m = sharding.seed_mesh(len(seeds) * R)
    members = _member_evalset(evalset, R)
    m_state = sharding.shard_state(train.init_state(config, seeds, data.x.shape[1], R), mesh_m)
    m_mngr = mngr if select_epoch == num_epochs else checkpoint.manager(
        workdir / 'checkpoints' / f'chunk_{chunk}_members')
    m_state = _restore(m_mngr, m_state, mesh_m, chunk, 'the members')
    phase = ml_collections.ConfigDict(config.to_dict())
    phase.num_epochs = select_epoch
    m_state = train.fit(phase, m_state, members.train, ckpt_mngr=m_mngr, on_epoch=_epoch_logger(
        chunk, seeds, select_epoch, log_path, int(m_state.epoch), R))
    failed = distributed.gather(m_state.failed_step) >= 0
    energies = (_train_energies(score_fn, m_state.params, members) if R > 1
                else np.zeros(len(seeds)))
    choice = restarts_lib.pick(energies, failed, R)
    selection = {'epoch': select_epoch, 'restart': choice.tolist(),
                 'train_energy': energies.reshape(len(seeds), R).tolist()}
    if select_epoch < num_epochs:
      files.write_json(selection_path, selection)
      state = sharding.shard_state(restarts_lib.select(m_state, choice, R), mesh)
    elif R > 1:
      ensemble = _score_members(config, score_fn, m_state, members, choice, R)
      em_rows = _em_scores(config, m_state.params, members, seeds, R, failed)
      state = sharding.shard_state(restarts_lib.select(m_state, choice, R), mesh)
    else:
      state = m_state

  if int(state.epoch) < num_epochs:
    state = train.fit(config, state, evalset.train, ckpt_mngr=mngr, on_epoch=_epoch_logger(
        chunk, seeds, num_epochs, log_path, int(state.epoch)))
  host.release_free_memory()
  trained, scored = _score_all(config, score_fn, state.params, evalset)
  state = distributed.gather(state)

  runs = []
  for i, seed in enumerate(seeds):
    found, reason = trained[i]
    if why := _failure(state, i):
      found, reason = None, why
    base, base_reason = untrained[i]
    run = {'seed': seed, **(found or {m: None for m in metrics.NAMES}),
           'failed': reason is not None, 'failure': reason,
           'n_train': int(evalset.train.n_train[i]), 'n_test': evalset.n_test[i],
           'untrained': {**(base or {m: None for m in metrics.NAMES}), 'failed': base is None,
                         'failure': base_reason}}
    if R > 1 and selection is not None:
      run['restart'] = selection['restart'][i]
      run['member_train_energy'] = selection['train_energy'][i]
    if ensemble is not None:
      run['members'], run['ensemble'] = ensemble[i]
    if em_rows is not None:
      run['em'] = em_rows[i]
    runs.append(run)
  shift, scale = distributed.gather((evalset.train.shift, evalset.train.scale))   # every process gathers
  if distributed.is_writer():
    save_models(config, workdir, runs, state.params, scored.gmm_params, shift, scale, data)
  return runs


def model_dir(workdir: pathlib.Path, seed: int) -> pathlib.Path:
  """Where a reproduction saves the model of ``seed``."""
  return pathlib.Path(workdir) / 'models' / f'seed_{seed}'


def save_models(config: ml_collections.ConfigDict, workdir: pathlib.Path, runs: list[dict],
                params: Any, gmm_params: gmm.GMMParams, shift: np.ndarray, scale: np.ndarray,
                data: Dataset | None = None) -> None:
  """Each seed's final networks, test-time GMM, scaler and evaluated threshold as a
  ``DAGMM`` model folder (``model_dir``), the format every scorer loads
  (``DAGMM.load``, ``dagmm-score``); with ``data``, the training range of the
  seed's training rows too (``DAGMM.out_of_range``). Leaves are indexed by the
  runs' order; a failed seed is saved too (threshold NaN: ``DAGMM.load`` refuses
  it unless ``require_threshold=False``)."""
  for i, run in enumerate(runs):
    pick = lambda tree: jax.tree_util.tree_map(lambda a: np.asarray(a[i]), tree)
    seed_config = ml_collections.ConfigDict(config.to_dict())
    seed_config.seed, seed_config.num_seeds = run['seed'], 1
    model = DAGMM(seed_config, contamination=0.0)   # the threshold is the run's top-k one, set below
    model.params_, model.gmm_ = pick(params), gmm.GMMParams(*pick(tuple(gmm_params)))
    model.shift_, model.scale_ = np.asarray(shift[i]), np.asarray(scale[i])
    model.input_shape_, model.input_dtype_ = (int(shift.shape[1]),), 'float32'
    model.threshold_ = float('nan') if run.get('threshold') is None else float(run['threshold'])
    if data is not None:
      model._set_range(np.asarray(data.x[seed_split(config, data.y, run['seed']).train_idx], np.float32))
    model.save(model_dir(workdir, run['seed']))


def _score_members(config, score_fn, m_state, members: SimpleNamespace, choice: np.ndarray,
                   restarts: int) -> list[tuple[list[dict], dict]]:
  """Per seed: every member's test metrics (for analysis only; nothing selects on
  them) and the rank-averaged ensemble's metrics (failed members left out)."""
  results, scored = _score_all(config, score_fn, m_state.params, members)
  on_host = distributed.gather(m_state)
  out = []
  for s in range(len(choice)):
    idx = range(s * restarts, (s + 1) * restarts)
    why = {i: _failure(on_host, i) or results[i][1] for i in idx}   # results[i][0] None: a reason
    per = [{**(results[i][0] or {m: None for m in metrics.NAMES}), 'failed': why[i] is not None,
            'failure': why[i]} for i in idx]
    ok = [i for i in idx if not per[i - s * restarts]['failed']]
    n = members.n_test[s * restarts]
    if ok:
      score = restarts_lib.rank_average(np.stack([scored.energies[i, :n] for i in ok]))
      found, reason = seed_metrics(config, members.test_labels[s * restarts], score)
    else:
      found, reason = None, 'every member failed'
    out.append((per, {**(found or {m: None for m in metrics.NAMES}), 'failed': found is None,
                      'failure': reason, 'n_members': len(ok)}))
  return out


def _em_scores(config: ml_collections.ConfigDict, params: Any, members: SimpleNamespace,
               seeds: list[int], restarts: int, failed: np.ndarray) -> list[dict]:
  """Per seed: best of R with the mixture refitted by EM (``core/em.py``) on each
  member's training rows, picked by the lowest mean EM energy on those rows
  (``restarts.pick``: no test row, no label); its test metrics, every member's
  training energy and, for analysis only, every member's test F1."""
  keys = jnp.stack([jax.random.fold_in(jax.random.PRNGKey(s), r) for s in seeds for r in range(restarts)])
  keys = sharding.shard_seeds(keys, train.seed_mesh_of(members.test_idx))
  scored, train_energy = distributed.gather(
      make_em_score_fn(config)(params, members.train, members.test_idx, keys))
  choice = restarts_lib.pick(np.asarray(train_energy), failed, restarts)
  out = []
  for s in range(len(seeds)):
    idx = range(s * restarts, (s + 1) * restarts)
    per = [seed_metrics(config, members.test_labels[i], scored.energies[i, :members.n_test[i]])
           for i in idx]
    found, reason = per[choice[s]]
    if failed[s * restarts + choice[s]]:
      found, reason = None, 'every member failed in training'
    out.append({**(found or {m: None for m in metrics.NAMES}), 'failed': found is None,
                'failure': reason, 'restart': int(choice[s]),
                'member_train_energy': [float(train_energy[i]) for i in idx],
                'member_f1': [p[0]['f1'] if p[0] else None for p in per]})
  return out


def restore_final(config: ml_collections.ConfigDict, data: Dataset, workdir: pathlib.Path,
                  chunk: int, seeds: list[int]) -> tuple[SimpleNamespace, train.TrainState]:
  """``(evaluation set of every member, unsharded state)`` of a finished chunk, its
  networks restored from the checkpoint of the last epoch (all ``config.restarts``
  members when they all trained to the end, else the seeds' trained networks)."""
  R, num_epochs = int(config.get('restarts', 1)), int(config.num_epochs)
  if int(config.get('select_epoch', 0)) not in (0, num_epochs):
    R = 1   # only the selected member of each seed reached the last epoch
  with checkpoint.opened(pathlib.Path(workdir) / 'checkpoints' / f'chunk_{chunk}') as mngr:
    if mngr.latest_step() != num_epochs:
      raise ValueError(f'{workdir}: chunk {chunk} has no checkpoint of epoch {num_epochs} '
                       f'(latest: {mngr.latest_step()})')
    state = checkpoint.restore(mngr, train.init_state(config, seeds, data.x.shape[1], R))
  return _member_evalset(EvalSet(config, data, seeds), R), state


def restorable_chunks(workdir: str | pathlib.Path, config: ml_collections.ConfigDict,
                    loaded: dict | None = None
                    ) -> Iterator[tuple[pathlib.Path, dict, Callable[[], tuple[SimpleNamespace, train.TrainState]]]]:
  """``(record path, record, restore)`` per finished chunk of ``workdir``, in order;
  ``restore()`` gives ``restore_final`` of that chunk. The data set is loaded on the
  first ``restore()`` only, and kept in ``loaded['data']`` when a dict is given."""
  workdir, loaded = pathlib.Path(workdir), {} if loaded is None else loaded
  for chunk, path in _chunk_files(workdir):
    record = json.loads(path.read_text())

    def restore(chunk=chunk, seeds=record['seeds']):
      loaded['data'] = loaded.get('data') or _load(config)
      return restore_final(config, loaded['data'], workdir, chunk, seeds)
    yield path, record, restore


def add_em_scores(workdir: str | pathlib.Path) -> dict[str, Any]:
  """Adds the EM-refit best-of-R row (``_em_scores``, key ``em``) to a finished cell
  whose R > 1 members all trained to the end, made before that scorer existed:
  each chunk's members are restored from its final checkpoint, its record gains
  the row, then ``results.json`` and ``results.md`` are rewritten. Chunks that
  have it already are left as they are. Returns the new results."""
  workdir = pathlib.Path(workdir)
  results = json.loads((workdir / 'results.json').read_text())
  config = ml_collections.ConfigDict(results['config'])
  R, num_epochs = int(config.get('restarts', 1)), int(config.num_epochs)
  if R < 2 or int(config.get('select_epoch', 0)) not in (0, num_epochs):
    raise ValueError(f'{workdir}: the EM-refit best-of-R needs restarts > 1 trained to the end '
                     f"(restarts={R}, select_epoch={config.get('select_epoch')})")
  by_seed, loaded = {}, {}
  with precision(config):
    for path, record, restore in restorable_chunks(workdir, config, loaded):
      by_seed.update((r['seed'], r) for r in record['runs'])
      if all('em' in r for r in record['runs']):
        continue
      members, state = restore()
      rows = _em_scores(config, state.params, members, record['seeds'], R,
                        np.asarray(state.failed_step) >= 0)
      for run, row in zip(record['runs'], rows):
        run['em'] = row
      files.write_json(path, record)
  data = loaded.get('data')
  results['runs'] = [by_seed[r['seed']] for r in results['runs']]
  results['summary'] = tables.summarize(results['runs'])
  files.write_json(workdir / 'results.json', results)
  write_report(workdir, data)
  return results


def seed_test_view(config: ml_collections.ConfigDict, data: Dataset, workdir: pathlib.Path,
                   seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """``(z [n_test, latent + 2], energies [n_test], labels [n_test])`` of one seed's
  test rows under its saved model (``model_dir``): the energies the run was
  evaluated on."""
  model = DAGMM.load(model_dir(workdir, seed))
  dtype = jnp.dtype(config.dtype)
  split = seed_split(config, data.y, seed)
  params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, dtype), model.params_)
  z, _ = inference.embed(build_net(config), params, jnp.asarray(data.x, dtype), jnp.asarray(split.test_idx),
                         jnp.asarray(model.shift_, dtype), jnp.asarray(model.scale_, dtype))
  energies = gmm.energy(z, gmm.GMMParams(*(jnp.asarray(a, dtype) for a in model.gmm_)))
  return np.asarray(z), np.asarray(energies), data.y[split.test_idx]


def _latent_pictures(config: ml_collections.ConfigDict, workdir: pathlib.Path, runs: list[dict],
                     data: Dataset | None) -> list[tuple[str, str]]:
  """The paper's Figure 3 (test rows in z space) and the energy histogram of the
  seed with the median trained F1; ``[(file, caption)]``, none when no seed
  finished or its model was not saved."""
  ok = sorted((r for r in runs if not r['failed']), key=lambda r: (r['f1'], r['seed']))
  if not ok:
    return []
  run = ok[(len(ok) - 1) // 2]
  if not model_dir(workdir, run['seed']).is_dir():
    return []
  z, energies, labels = seed_test_view(config, data or _load(config), workdir, run['seed'])
  title = f"{config.dataset}, seed {run['seed']} (median F1 {run['f1']:.3f} of {len(ok)} seeds)"
  plots.latent_space(z, labels, int(config.model.latent_dims), title, workdir / 'latent_space.png')
  plots.energy_histogram(energies, labels, run['threshold'], title, workdir / 'energy_hist.png')
  caption = (f"Seed {run['seed']}, the trained seed with the median F1 ({run['f1']:.4f}): its test rows "
             'in the space the estimation network sees (first code dimension, relative Euclidean '
             "distance, cosine similarity; the paper's Figure 3), and their energies with the top-k "
             f"threshold {run['threshold']:.4g}.")
  return [('latent_space.png', caption), ('energy_hist.png', '')]


def _wall_time(workdir: pathlib.Path, records: list[dict], ran: bool,
               now: float | None = None) -> tuple[float, int]:
  """``(seconds, sessions)``: the time the run took, summed over the sessions that
  worked on it (``files.session_clock`` in ``sessions.jsonl``; the latest one is
  the session still running, counted up to ``now``). Chunks finished before the
  first recorded session (a workdir older than that log) add the union of their
  time spans, as one session more. A call that ran nothing keeps the recorded
  figures (a ``results.json`` without ``sessions`` counts as one session)."""
  if not ran and (workdir / 'results.json').exists():
    recorded = json.loads((workdir / 'results.json').read_text())
    return recorded['wall_time_s'], recorded.get('sessions', 1)
  now = time.time() if now is None else now
  sessions = files.read_sessions(workdir / files.SESSIONS_NAME)
  first = sessions[0]['started_at'] if sessions else now
  earlier = [r for r in records if r.get('finished_at', -np.inf) <= first]
  total = _span_union(earlier, first)
  if sessions:
    total += sum(s['seconds'] for s in sessions[:-1]) + max(0.0, now - sessions[-1]['started_at'])
  return total, max(1, len(sessions) + bool(earlier))


def _span_union(records: list[dict], until: float) -> float:
  """Seconds covered by the chunk records' time spans up to ``until`` (parallel
  chunks overlap); a record without ``finished_at`` counts its wall time in full."""
  spans = sorted((r['finished_at'] - r['wall_time_s'], min(r['finished_at'], until))
                 for r in records if 'finished_at' in r)
  total, end = sum(r['wall_time_s'] for r in records if 'finished_at' not in r), -np.inf
  for lo, hi in spans:
    total += max(0.0, hi - max(lo, end))
    end = max(end, hi)
  return total


def _chunk_files(workdir: pathlib.Path) -> list[tuple[int, pathlib.Path]]:
  """``[(chunk, path)]`` of the finished chunk records in ``workdir/chunks``."""
  found = [(p, re.fullmatch(r'chunk_(\d+)\.json', p.name)) for p in (workdir / 'chunks').glob('chunk_*.json')]
  return sorted((int(m.group(1)), p) for p, m in found if m)


def _chunk_path(workdir: pathlib.Path, chunk: int) -> pathlib.Path:
  return workdir / 'chunks' / f'chunk_{chunk}.json'


def _load(config: ml_collections.ConfigDict) -> Dataset:
  start = time.perf_counter()
  data = load_dataset(config.dataset, config.get('kdd_symbolic', 'strings'))
  logging.info('loaded %s: %d rows x %d features, %d anomalies (%.1f s)', config.dataset,
               *data.x.shape, int(data.y.sum()), time.perf_counter() - start)
  return data


def run_and_record_chunk(config: ml_collections.ConfigDict, workdir: pathlib.Path, chunk: int,
                         seeds: list[int], data: Dataset) -> None:
  """``run_chunk``, then its runs and wall time written to ``workdir/chunks/chunk_<i>.json``
  (what a rerun reuses; process 0 writes it)."""
  t0 = time.perf_counter()
  runs = run_chunk(config, data, seeds, workdir, chunk)
  peak = distributed.peak_host_memory()
  if distributed.is_writer():
    files.write_json(_chunk_path(workdir, chunk),
                          {'seeds': seeds, 'runs': runs, 'wall_time_s': time.perf_counter() - t0,
                           'finished_at': time.time(), 'peak_host_memory_gib': peak['total'],
                           'peak_host_memory': peak})


def _chunk_records(workdir: pathlib.Path, chunks: list[tuple[int, list[int]]]) -> dict[int, dict]:
  """``{chunk: record}`` of the chunks already done. A finished run whose chunks were
  cut otherwise (e.g. by an older ``--processes``) is reused as it is."""
  records = {c: json.loads(p.read_text()) for c, p in _chunk_files(workdir)}
  wanted = sorted(s for _, seeds in chunks for s in seeds)
  if records and sorted(s for r in records.values() for s in r['seeds']) == wanted:
    return records
  return {c: records[c] for c, seeds in chunks if c in records and records[c]['seeds'] == seeds}


def precision(config: ml_collections.ConfigDict):
  """The context in which ``config`` runs: float64 on for ``config.dtype ==
  'float64'``, off otherwise (``jax.enable_x64``; nothing global is changed)."""
  return jax.enable_x64(config.dtype == 'float64')


def _check_precision(config: ml_collections.ConfigDict) -> None:
  x64 = jax.dtypes.canonicalize_dtype(np.float64) == np.float64
  if x64 != (config.dtype == 'float64'):
    raise ValueError(f"config.dtype is {config.dtype!r} but float64 is {'on' if x64 else 'off'}: "
                     'run it inside `with experiment.precision(config):` (the commands do)')


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       processes: int = 1, hold_lock: bool = True) -> dict[str, Any]:
  """Runs every seed of ``config``; writes ``results.json`` and ``results.md`` in workdir.

  Seeds train ``config.seed_chunk`` at a time (0: all at once), each chunk
  resumable. With ``processes > 1`` this starts that many processes of JAX's
  multi-controller runtime on this host (``distributed.launch``), each pinned to
  its own cores, and every chunk's seeds are sharded over them; a process that
  already joined a multi-process run (``distributed.initialize``, e.g. one per
  host of a cluster) does the same across hosts. A program over another number
  of seeds per device may round differently, and long training amplifies it
  (measured on KDDCUP: ``docs/experiments.md``).

  A config with a bad field is refused before anything is read or written
  (``config_check``). The run holds ``workdir``'s lock (``files.workdir_lock``;
  in process 0 only): a second run into it is refused while this one lives.
  The processes a ``processes > 1`` run starts pass ``hold_lock=False``: their
  launcher holds it. The session's time is logged in ``sessions.jsonl``, and
  ``wall_time_s`` sums every session that worked on the run.
  """
  config_check.validate_config(config, experiment_run=True)
  _check_precision(config)
  if processes != 1:
    pinning.core_groups(processes)   # a clear error for a process count this machine cannot pin
  owner = hold_lock and distributed.is_writer()
  with files.workdir_lock(workdir) if owner else contextlib.nullcontext():
    return _run(config, pathlib.Path(workdir), processes, owner)


def _seed_chunks(config: ml_collections.ConfigDict) -> list[tuple[int, list[int]]]:
  """``[(chunk, its seeds)]``: the seeds cut into ``config.seed_chunk``-sized chunks."""
  seeds = list(range(config.seed, config.seed + config.num_seeds))
  size = config.seed_chunk or len(seeds)
  return [(i, seeds[lo:lo + size]) for i, lo in enumerate(range(0, len(seeds), size))]


def _pending(chunks: list[tuple[int, list[int]]], done: dict[int, dict]) -> list[tuple[int, list[int]]]:
  """The chunks whose seeds no finished chunk record covers."""
  covered = {s for rec in done.values() for s in rec['seeds']}
  return [(c, s) for c, s in chunks if not set(s) <= covered]


def _session(workdir: pathlib.Path, record: bool):
  """The clock of this session (``files.session_clock``) when it is recorded."""
  return files.session_clock(workdir / files.SESSIONS_NAME) if record else contextlib.nullcontext()


def _run(config: ml_collections.ConfigDict, workdir: pathlib.Path, processes: int,
         owner: bool) -> dict[str, Any]:
  """``train_and_evaluate`` once its checks passed and its lock is held (``owner``:
  this process holds it and records the session)."""
  files.claim_workdir(workdir, config.to_dict())
  chunks = _seed_chunks(config)
  if processes > 1 and jax.process_count() == 1:
    prepare_dataset(config.dataset)   # once, here: the processes would race to write it
    with _session(workdir, owner and bool(_pending(chunks, _chunk_records(workdir, chunks)))):
      distributed.launch(workdir, processes)
    return json.loads((workdir / 'results.json').read_text())
  done = _chunk_records(workdir, chunks)
  if done:
    logging.info('chunk(s) %s already done, reusing them', sorted(done))
  pending = _pending(chunks, done)
  with _session(workdir, owner and bool(pending)):
    data = _load(config) if pending else None
    for chunk, chunk_seeds in pending:
      run_and_record_chunk(config, workdir, chunk, chunk_seeds, data)
    peak = distributed.peak_host_memory()
    if not distributed.is_writer():
      return {}
    finished = _chunk_records(workdir, chunks)
    records = list(finished.values())
    runs = sorted((r for rec in records for r in rec['runs']), key=lambda r: r['seed'])
    wall, sessions = _wall_time(workdir, records, bool(pending))
    results = {'dataset': config.dataset, 'protocol': config.protocol,
               'config': config.to_dict(), 'seeds': [s for _, seeds in chunks for s in seeds],
               'wall_time_s': wall, 'sessions': sessions,   # wall time summed over the sessions
               'peak_host_memory_gib': max([peak['total']] + [r.get('peak_host_memory_gib', 0.0) for r in records]),
               # per chunk record: each process's peak and the launcher's (records older than this lack it)
               'peak_host_memory': [r['peak_host_memory'] for r in records if 'peak_host_memory' in r],
               'devices': [str(d) for d in jax.devices()], 'processes': jax.process_count(),
               'runs': runs, 'summary': tables.summarize(runs)}
    files.write_json(workdir / 'results.json', results)
    write_report(workdir, data)
  return results


def write_report(workdir: str | pathlib.Path, data: Dataset | None = None) -> None:
  """``results.md`` and its pictures from a finished run's ``results.json`` (and its
  saved models), e.g. to redraw a run made before a picture existed."""
  workdir = pathlib.Path(workdir)
  results = json.loads((workdir / 'results.json').read_text())
  config = ml_collections.ConfigDict(results['config'])
  pictures = [(name, '') for name in plots.write_run_plots(workdir, results)]
  pictures += _latent_pictures(config, workdir, results['runs'], data)
  files.write_text(workdir / 'results.md', tables.results_markdown(results) + ''.join(
      f'\n{caption}\n\n![{name[:-4]}]({name})\n' if caption else f'\n![{name[:-4]}]({name})\n'
      for name, caption in pictures))
