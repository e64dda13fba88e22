"""Runs a grid of experiments (one workdir each) and collects their results.

Used by the Table 2 reproduction and by studies: every cell is an ordinary
``train_and_evaluate`` run in ``workdir/<cell name>``, so each cell resumes on
its own and a finished cell is reused when the grid is run again.
"""
import contextlib
import importlib
import json
import pathlib
from typing import Any

import ml_collections
from absl import logging

from dagmm_jax import config_check, experiment, experiments, files, run_report
from dagmm_jax.errors import ConfigError
from dagmm_jax.reports import tables
from dagmm_jax.training import distributed



def load_experiment(name: str) -> ml_collections.ConfigDict:
  """``experiments/<name>.py``'s ``get_config()``; a clear error for an unknown name."""
  try:
    module = importlib.import_module(f'dagmm_jax.experiments.{name}')
  except ModuleNotFoundError as e:
    known = sorted(p.stem for p in pathlib.Path(experiments.__file__).parent.glob('*.py')
                   if not p.stem.startswith('_'))
    raise ValueError(f'no experiment config experiments/{name}.py; known: {known}') from e
  return module.get_config()


def apply_overrides(config: ml_collections.ConfigDict, overrides: dict[str, Any]) -> None:
  """Sets ``{'a__b': v}`` as ``config.a.b = v``; an unknown field is an error."""
  for key, value in overrides.items():
    *path, leaf = key.split('__')
    target = config
    for p in path:
      target = target[p]
    if leaf not in target:
      raise ValueError(f'config override {key!r}: the config has no field {leaf!r}')
    target[leaf] = value


def quick_config(config: ml_collections.ConfigDict, seeds: int = 3,
          epoch_divisor: int = 100) -> ml_collections.ConfigDict:
  """A smoke-run copy: ``seeds`` seeds, ``num_epochs // epoch_divisor`` epochs (at least 2)."""
  config = ml_collections.ConfigDict(config.to_dict())
  config.num_seeds = min(config.num_seeds, seeds)
  config.num_epochs = max(2, config.num_epochs // epoch_divisor)
  config.checkpoint_every = min(config.checkpoint_every, config.num_epochs)
  return config


def shorten(config: ml_collections.ConfigDict, num_epochs: int | None) -> None:
  """Sets ``config.num_epochs`` (checkpoints at most that far apart); ``None`` keeps it."""
  if num_epochs is not None:
    config.num_epochs = num_epochs
    config.checkpoint_every = min(config.checkpoint_every, num_epochs)


def run_grid(cells: dict[str, ml_collections.ConfigDict], workdir: str | pathlib.Path,
             processes: int = 1) -> dict[str, dict[str, Any]]:
  """Runs each ``{name: config}`` cell in ``workdir/name`` in order (each with
  ``processes`` processes); returns their results.

  Finished cells are reused and interrupted ones resume (``train_and_evaluate``
  does both per workdir). Every cell's config is checked before any cell runs
  (``config_check``), and the grid holds ``workdir``'s lock (process 0 only) as
  each cell holds its own.
  """
  for name, config in cells.items():
    found = config_check.problems(config, experiment_run=True)
    if found:
      raise ConfigError(f'grid cell {name}: ' + '; '.join(found))
  out = {}
  with files.workdir_lock(workdir) if distributed.is_writer() else contextlib.nullcontext():
    for i, (name, config) in enumerate(cells.items()):
      logging.info('[%d/%d] %s: %d seeds x %d epochs', i + 1, len(cells), name,
                   config.num_seeds, config.num_epochs)
      with experiment.precision(config):   # a grid may mix float32 and float64 cells
        out[name] = experiment.train_and_evaluate(config, str(pathlib.Path(workdir) / name), processes)
        if 'ensemble' in out[name]['summary'] and 'em' not in out[name]['summary']:   # made before it existed
          out[name] = run_report.add_em_scores(pathlib.Path(workdir) / name)
  return out


def finished(cells: dict[str, ml_collections.ConfigDict], workdir: str | pathlib.Path
             ) -> dict[str, dict[str, Any]]:
  """The results of the cells whose run has finished (``results.json`` written); runs nothing."""
  paths = {name: pathlib.Path(workdir) / name / 'results.json' for name in cells}
  return {name: json.loads(path.read_text()) for name, path in paths.items() if path.exists()}


def collect(cells: dict[str, ml_collections.ConfigDict], workdir: str | pathlib.Path,
            report_only: bool, processes: int = 1) -> tuple[dict[str, dict[str, Any]], list[str]]:
  """``(results, not run)``: every cell run (or resumed), or with ``report_only``
  only the finished ones, and the names of the cells that are not finished."""
  results = finished(cells, workdir) if report_only else run_grid(cells, workdir, processes)
  missing = [f'{name} ({c.num_seeds} seeds x {c.num_epochs} epochs)'
             for name, c in cells.items() if name not in results]
  return results, missing


def table2_cells(table: ml_collections.ConfigDict, quick: bool = False
                 ) -> dict[str, ml_collections.ConfigDict]:
  """``{'<experiment>-<protocol>[-<variant>]': config}``, every paper-protocol cell
  first, then variant by variant. A variant (``table.variants``: name -> ``{'a__b': value}`` overrides) other
  than ``faithful`` (no overrides) adds its name to the cell's and runs on the
  protocols of ``table.variant_protocols`` (optional; default all); ``table.num_epochs``
  (optional, experiment -> epochs) shortens an experiment's cells."""
  cells = {}
  for protocol in table.protocols:
    for variant, overrides in table.get('variants', {'faithful': {}}).items():
      if variant != 'faithful' and protocol not in table.get('variant_protocols', table.protocols):
        continue
      for name in table.experiments:
        config = load_experiment(name)
        config.protocol, config.num_seeds = protocol, table.num_seeds
        config.seed = table.get('seed', 0)
        shorten(config, table.get('num_epochs', {}).get(name))
        apply_overrides(config, dict(overrides))
        cell = f'{name}-{protocol}' + ('' if variant == 'faithful' else f'-{variant}')
        cells[cell] = quick_config(config) if quick else config
  return cells


def write_table2(table: ml_collections.ConfigDict, workdir: str | pathlib.Path,
                 quick: bool = False, report_only: bool = False, processes: int = 1) -> str:
  """Runs (or resumes) every experiment x protocol (x variant) cell of ``table``
  (``experiments/table2.py``), writes ``workdir/table2.md`` and returns its text.
  With ``report_only`` the table shows the finished cells and lists the others.
  ``table.exploration`` (optional): directories of the same cells on other seeds,
  from which each cell's scorer is chosen (``reports.tables.per_cell_choice``)."""
  cells = table2_cells(table, quick)
  exploration = [finished(cells, d) for d in table.get('exploration', ())]
  text = tables.table2_markdown(*collect(cells, workdir, report_only, processes), quick=quick,
                                exploration=exploration)
  files.write_text(pathlib.Path(workdir) / 'table2.md', text)
  return text
