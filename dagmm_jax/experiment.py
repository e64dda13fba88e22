"""``train_and_evaluate(config, workdir)``: data -> training -> scoring -> results.

Seeds ``config.seed .. config.seed + config.num_seeds - 1`` train together in
one compiled program (``config.seed_chunk`` bounds how many at once; with
``processes > 1`` the chunks train in parallel pinned processes). Each
chunk is resumable: its training state is checkpointed with orbax under
``workdir/checkpoints/chunk_<i>`` and its finished results are written to
``workdir/chunks/chunk_<i>.json``; a rerun with the same workdir picks up where
the last one stopped. Scoring is the registry's (``scoring/registry.py``), the
run directory's bookkeeping ``rundir.py``, the report ``run_report.py``.
"""
import contextlib
import json
import pathlib
import time
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging

from dagmm_jax import config_check, files, host, rundir
from dagmm_jax.data import Dataset, prepare_dataset
from dagmm_jax.reports import tables
from dagmm_jax.run_report import model_dir, save_models, write_report
from dagmm_jax.scoring import registry
from dagmm_jax.scoring.evalset import EvalSet, make_score_fn, score_all, train_energies
from dagmm_jax.training import checkpoint, distributed, pinning, sharding, train
from dagmm_jax.training import restarts as restarts_lib
from dagmm_jax.training.progress import epoch_logger
from dagmm_jax.training.train import precision

__all__ = ['train_and_evaluate', 'run_chunk', 'precision', 'model_dir', 'write_report']


def _restore(mngr, state: train.TrainState, mesh, chunk: int, what: str) -> train.TrainState:
  restored = checkpoint.restore(mngr, state)
  if restored is None:
    return state
  logging.info('chunk %d: resuming %s from epoch %d', chunk, what, int(restored.epoch))
  return sharding.shard_state(restored, mesh)


def _train_members(config: ml_collections.ConfigDict, data: Dataset, seeds: list[int], evalset: EvalSet,
                   score_fn, workdir: pathlib.Path, chunk: int, mngr) -> tuple[EvalSet, train.TrainState, dict]:
  """``config.restarts`` members per seed trained for ``config.select_epoch`` epochs
  (``training/restarts.py``); returns their evaluation set, their state and the
  selection: per seed the restart with the lowest training energy (``restarts.pick``)."""
  R, num_epochs = int(config.get('restarts', 1)), int(config.num_epochs)
  select_epoch = int(config.get('select_epoch', 0)) or num_epochs
  mesh = sharding.seed_mesh(len(seeds) * R)
  members = evalset.members(R)
  state = sharding.shard_state(train.init_state(config, seeds, data.x.shape[1], R), mesh)
  m_mngr = mngr if select_epoch == num_epochs else checkpoint.manager(
      workdir / 'checkpoints' / f'chunk_{chunk}_members')
  state = _restore(m_mngr, state, mesh, chunk, 'the members')
  phase = ml_collections.ConfigDict(config.to_dict())
  phase.num_epochs = select_epoch
  state = train.fit(phase, state, members.train, ckpt_mngr=m_mngr, on_epoch=epoch_logger(
      workdir / 'metrics.jsonl', seeds, select_epoch, int(state.epoch), chunk=chunk, restarts=R))
  failed = distributed.gather(state.failed_step) >= 0
  energies = train_energies(score_fn, state.params, members) if R > 1 else np.zeros(len(seeds))
  choice = restarts_lib.pick(energies, failed, R)
  return members, state, {'epoch': select_epoch, 'restart': choice.tolist(),
                          'train_energy': energies.reshape(len(seeds), R).tolist()}


def run_chunk(config: ml_collections.ConfigDict, data: Dataset, seeds: list[int],
              workdir: pathlib.Path, chunk: int) -> list[dict[str, Any]]:
  """Trains and scores one chunk of seeds (every scorer of ``registry.SCORERS``
  that applies); returns one result dict per seed.

  With ``config.restarts = R > 1`` each seed trains R members (``restarts.py``)
  for ``config.select_epoch`` epochs (0: all of them), keeps the one with the
  lowest training energy and trains it alone to the end; when every member
  trains to the end, the members' scorers (ensemble, restart 0, EM refit) run too.
  ``R = 1`` with ``select_epoch`` set runs the same split and gives the plain run.
  """
  R = int(config.get('restarts', 1))
  num_epochs = int(config.num_epochs)
  select_epoch = int(config.get('select_epoch', 0)) or num_epochs
  if R < 1 or not 0 < select_epoch <= num_epochs:
    raise ValueError(f'config.restarts must be >= 1 (got {R}) and config.select_epoch in '
                     f'0..num_epochs={num_epochs} (got {config.get("select_epoch")})')
  mesh = sharding.seed_mesh(len(seeds))
  evalset = EvalSet.build(config, data, seeds, mesh)
  score_fn = make_score_fn(config)
  state = sharding.shard_state(train.init_state(config, seeds, data.x.shape[1]), mesh)
  untrained, _ = score_all(config, score_fn, state.params, evalset)
  host.release_free_memory()   # split and scaling temporaries, compilers' working memory
  mngr = checkpoint.manager(workdir / 'checkpoints' / f'chunk_{chunk}')
  selection_path = workdir / 'chunks' / f'chunk_{chunk}_selection.json'
  selection, members, m_state = None, None, None

  if R == 1 and select_epoch == num_epochs:          # the plain run
    state = _restore(mngr, state, mesh, chunk, 'training')
  elif select_epoch < num_epochs and mngr.latest_step() is not None and selection_path.exists():
    state = _restore(mngr, state, mesh, chunk, 'the selected members')   # selection already made
    selection = json.loads(selection_path.read_text())
  else:
    members, m_state, selection = _train_members(config, data, seeds, evalset, score_fn, workdir, chunk, mngr)
    state = sharding.shard_state(restarts_lib.select(m_state, np.asarray(selection['restart']), R), mesh)
    if select_epoch < num_epochs:   # the members' scorers need every member at the last epoch
      files.write_json(selection_path, selection)
      members, m_state = None, None

  if int(state.epoch) < num_epochs:
    state = train.fit(config, state, evalset.train, ckpt_mngr=mngr, on_epoch=epoch_logger(
        workdir / 'metrics.jsonl', seeds, num_epochs, int(state.epoch), chunk=chunk))
  host.release_free_memory()
  trained, scored = score_all(config, score_fn, state.params, evalset)
  state = distributed.gather(state)
  extra = [{'n_train': int(evalset.train.n_train[i]), 'n_test': evalset.n_test[i],
            **({'restart': selection['restart'][i], 'member_train_energy': selection['train_energy'][i]}
               if R > 1 and selection is not None else {})} for i in range(len(seeds))]
  runs = registry.score_runs(registry.Trained(config, seeds, evalset, score_fn, state, trained, untrained,
                                              members, m_state), extra)
  shift, scale = distributed.gather((evalset.train.shift, evalset.train.scale))   # every process gathers
  if distributed.is_writer():
    save_models(config, workdir, runs, state.params, scored.gmm_params, shift, scale, data)
  return runs


def run_and_record_chunk(config: ml_collections.ConfigDict, workdir: pathlib.Path, chunk: int,
                         seeds: list[int], data: Dataset) -> None:
  """``run_chunk``, then its runs and wall time written to ``workdir/chunks/chunk_<i>.json``
  (what a rerun reuses; process 0 writes it)."""
  t0 = time.perf_counter()
  runs = run_chunk(config, data, seeds, workdir, chunk)
  peak = distributed.peak_host_memory()
  if distributed.is_writer():
    rundir.ChunkRecord(seeds, runs, time.perf_counter() - t0, finished_at=time.time(),
                       peak_host_memory_gib=peak['total'], peak_host_memory=peak
                       ).write(rundir.chunk_path(workdir, chunk))


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


def _run(config: ml_collections.ConfigDict, workdir: pathlib.Path, processes: int,
         owner: bool) -> dict[str, Any]:
  """``train_and_evaluate`` once its checks passed and its lock is held (``owner``:
  this process holds it and records the session)."""
  files.claim_workdir(workdir, config.to_dict())
  chunks = rundir.seed_chunks(config)
  if processes > 1 and jax.process_count() == 1:
    prepare_dataset(config.dataset)   # once, here: the processes would race to write it
    with rundir.session(workdir, owner and bool(rundir.pending(chunks, rundir.chunk_records(workdir, chunks)))):
      distributed.launch(workdir, processes)
    return json.loads((workdir / 'results.json').read_text())
  done = rundir.chunk_records(workdir, chunks)
  if done:
    logging.info('chunk(s) %s already done, reusing them', sorted(done))
  pending = rundir.pending(chunks, done)
  with rundir.session(workdir, owner and bool(pending)):
    data = rundir.load_data(config) if pending else None
    for chunk, chunk_seeds in pending:
      run_and_record_chunk(config, workdir, chunk, chunk_seeds, data)
    peak = distributed.peak_host_memory()
    if not distributed.is_writer():
      return {}
    records = list(rundir.chunk_records(workdir, chunks).values())
    runs = sorted((r for rec in records for r in rec.runs), key=lambda r: r['seed'])
    wall, sessions = rundir.wall_time(workdir, records, bool(pending))
    results = {'dataset': config.dataset, 'protocol': config.protocol,
               'config': config.to_dict(), 'seeds': [s for _, seeds in chunks for s in seeds],
               'wall_time_s': wall, 'sessions': sessions,   # wall time summed over the sessions
               'peak_host_memory_gib': max([peak['total']] + [r.peak_host_memory_gib or 0.0 for r in records]),
               # per chunk record: each process's peak and the launcher's (records older than this lack it)
               'peak_host_memory': [r.peak_host_memory for r in records if r.peak_host_memory is not None],
               'devices': [str(d) for d in jax.devices()], 'processes': jax.process_count(),
               'runs': runs, 'summary': tables.summarize(runs)}
    files.write_json(workdir / 'results.json', results)
    write_report(workdir, data)
  return results
