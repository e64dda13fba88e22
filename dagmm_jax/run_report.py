"""What a finished run leaves for its reader: each seed's model folder, the
report ``results.md`` with its pictures, and the EM-refit row added to runs made
before that scorer existed."""
import json
import pathlib
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from dagmm_jax import files, rundir
from dagmm_jax.core import gmm, inference
from dagmm_jax.core.model import build_net
from dagmm_jax.data import Dataset
from dagmm_jax.estimator import DAGMM
from dagmm_jax.reports import plots, tables
from dagmm_jax.scoring import registry
from dagmm_jax.scoring.evalset import seed_split
from dagmm_jax.training import train


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
    x_train = None if data is None else np.asarray(
        data.x[seed_split(config, data.y, run['seed']).train_idx], np.float32)
    model = DAGMM.from_trained(seed_config, pick(params), gmm.GMMParams(*pick(tuple(gmm_params))),
                               np.asarray(shift[i]), np.asarray(scale[i]),
                               threshold=float('nan') if run.get('threshold') is None else float(run['threshold']),
                               x_train=x_train)
    model.save(model_dir(workdir, run['seed']))


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
  z, energies, labels = seed_test_view(config, data or rundir.load_data(config), workdir, run['seed'])
  title = f"{config.dataset}, seed {run['seed']} (median F1 {run['f1']:.3f} of {len(ok)} seeds)"
  plots.latent_space(z, labels, int(config.model.latent_dims), title, workdir / 'latent_space.png')
  plots.energy_histogram(energies, labels, run['threshold'], title, workdir / 'energy_hist.png')
  caption = (f"Seed {run['seed']}, the trained seed with the median F1 ({run['f1']:.4f}): its test rows "
             'in the space the estimation network sees (first code dimension, relative Euclidean '
             "distance, cosine similarity; the paper's Figure 3), and their energies with the top-k "
             f"threshold {run['threshold']:.4g}.")
  return [('latent_space.png', caption), ('energy_hist.png', '')]


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


def add_em_scores(workdir: str | pathlib.Path) -> dict[str, Any]:
  """Adds the EM-refit best-of-R row (scorer ``em``) to a finished cell whose R > 1
  members all trained to the end, made before that scorer existed: each chunk's
  members are restored from its final checkpoint, its record gains the row, then
  ``results.json`` and ``results.md`` are rewritten. Chunks that have it already
  are left as they are. Returns the new results."""
  workdir = pathlib.Path(workdir)
  results = json.loads((workdir / 'results.json').read_text())
  config = ml_collections.ConfigDict(results['config'])
  R, num_epochs = int(config.get('restarts', 1)), int(config.num_epochs)
  if R < 2 or int(config.get('select_epoch', 0)) not in (0, num_epochs):
    raise ValueError(f'{workdir}: the EM-refit best-of-R needs restarts > 1 trained to the end '
                     f"(restarts={R}, select_epoch={config.get('select_epoch')})")
  by_seed, loaded = {}, {}
  with train.precision(config):
    for path, record, restore in rundir.restorable_chunks(workdir, config, loaded):
      by_seed.update((r['seed'], r) for r in record.runs)
      if all('em' in r for r in record.runs):
        continue
      members, state = restore()
      rows = registry.em_rows(config, state.params, members, record.seeds, R,
                              np.asarray(state.failed_step) >= 0)
      for run, row in zip(record.runs, rows):
        registry.SCORERS['em'].store(run, row)
      record.write(path)
  results['runs'] = [by_seed[r['seed']] for r in results['runs']]
  results['summary'] = tables.summarize(results['runs'])
  files.write_json(workdir / 'results.json', results)
  write_report(workdir, loaded.get('data'))
  return results
