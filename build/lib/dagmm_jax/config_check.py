"""``validate_config``: every config field with a fixed set of values or a range,
checked before anything is loaded, trained or written.

The valid values come from the registries that use them (``data``,
``core.nets``, ``core.model``, ``core.regularizers``); the few that have no
registry elsewhere are defined here. A field the config lacks is not checked
(older configs and saved models predate some fields; the code's default applies).
"""
import functools
import numbers
from typing import Any, Callable, Iterable

import ml_collections

from dagmm_jax.core import model, nets, regularizers
from dagmm_jax.data import DATASETS, PROTOCOLS, SCALING_METHODS
from dagmm_jax.data.kddcup99 import SYMBOLIC_ENCODINGS
from dagmm_jax.data.protocols import CONSTANT_COLUMNS
from dagmm_jax.errors import ConfigError

DTYPES: tuple[str, ...] = ('float32', 'float64')          # experiment.precision: float64 or not
THRESHOLD_SOURCES: tuple[str, ...] = ('train', 'val')     # estimator.DAGMM: whose energies set it

# field -> the valid values
CHOICES: dict[str, Iterable[str]] = {
    'scaling': SCALING_METHODS,
    'protocol': PROTOCOLS,
    'constant_columns': CONSTANT_COLUMNS,
    'kdd_symbolic': SYMBOLIC_ENCODINGS,
    'dtype': DTYPES,
    'threshold_source': THRESHOLD_SOURCES,
    'model.kind': model.MODEL_KINDS,
    'model.activation': nets.ACTIVATIONS,
    'model.kernel_init': nets.INITIALIZERS,
}

# field -> (test, what the test asks), for numbers
RANGES: dict[str, tuple[Callable[[float], bool], str]] = {
    'seed': (lambda v: v >= 0, '>= 0'),
    'num_seeds': (lambda v: v >= 1, '>= 1'),
    'seed_chunk': (lambda v: v >= 0, '>= 0 (0: all seeds at once)'),
    'num_epochs': (lambda v: v >= 0, '>= 0'),
    'batch_size': (lambda v: v >= 1, '>= 1'),
    'learning_rate': (lambda v: v > 0, '> 0'),
    'checkpoint_every': (lambda v: v >= 1, '>= 1'),
    'lambda_energy': (lambda v: v >= 0, '>= 0'),
    'lambda_cov': (lambda v: v >= 0, '>= 0'),
    'contamination': (lambda v: 0 <= v < 1, 'in [0, 1)'),
    'rho': (lambda v: 0 < v < 1, 'in (0, 1)'),
    'max_anomalies': (lambda v: v >= 0, '>= 0 (0: all)'),
    'restarts': (lambda v: v >= 1, '>= 1'),
    'select_epoch': (lambda v: v >= 0, '>= 0 (0: the last epoch)'),
    'val_every': (lambda v: v >= 0, '>= 0 (0: never)'),
    'model.latent_dims': (lambda v: v >= 1, '>= 1'),
    'model.n_mixtures': (lambda v: v >= 1, '>= 1'),
    'model.dropout_rate': (lambda v: 0 <= v < 1, 'in [0, 1)'),
    'tile_top_k': (lambda v: v >= 1, '>= 1 (1: the worst tile)'),
}


def _get(config: ml_collections.ConfigDict, field: str) -> Any:
  """``config.a.b`` for ``'a.b'``; ``KeyError`` when the config lacks it."""
  value = config
  for part in field.split('.'):
    if not hasattr(value, 'keys') or part not in value:
      raise KeyError(field)
    value = value[part]
  return value


def _fields(config: ml_collections.ConfigDict, names: Iterable[str]) -> Iterable[tuple[str, Any]]:
  """``(field, value)`` of each of ``names`` the config has."""
  for name in names:
    try:
      yield name, _get(config, name)
    except KeyError:
      pass


def problems(config: ml_collections.ConfigDict, experiment_run: bool = False) -> list[str]:
  """One line per bad field of ``config`` (none when it is valid). An
  ``experiment_run`` (``experiment.train_and_evaluate``, a grid cell) also needs
  a registered ``config.dataset`` and ``num_epochs >= 1``; an estimator may fit
  0 epochs (the untrained networks, scored)."""
  out = []
  for field, value in _fields(config, CHOICES):
    if value not in CHOICES[field]:
      out.append(f'config.{field}={value!r} is not one of {", ".join(map(repr, CHOICES[field]))}')
  for field, value in _fields(config, RANGES):
    test, wanted = RANGES[field]
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not test(value):
      out.append(f'config.{field}={value!r} must be {wanted}')
  for field, value in _fields(config, ['gmm.regularizer']):
    try:
      regularizers.check_spec(value)
    except (ValueError, TypeError, AttributeError) as e:
      out.append(f'config.{field}={value!r}: {e}')
  num_epochs, select = config.get('num_epochs'), config.get('select_epoch')
  if isinstance(num_epochs, int) and isinstance(select, int) and select > num_epochs >= 1:
    out.append(f'config.select_epoch={select} must be at most config.num_epochs={num_epochs}')
  if experiment_run:
    if num_epochs == 0:
      out.append(f'config.num_epochs={num_epochs} must be >= 1')
    dataset = config.get('dataset')
    if dataset not in DATASETS:
      out.append(f'config.dataset={dataset!r} is not one of {", ".join(map(repr, DATASETS))}')
    elif config.get('kdd_symbolic', 'strings') != 'strings' and not dataset.startswith('kddcup99'):
      out.append(f'config.kdd_symbolic={config.kdd_symbolic!r} applies to the KDDCUP sets only, '
                 f'not {dataset!r}')
  return out


def validate_config(config: ml_collections.ConfigDict,
                    experiment_run: bool = False) -> ml_collections.ConfigDict:
  """``config`` itself when every checked field is valid (``problems``); else
  ``ConfigError`` naming each bad field with its valid values."""
  found = problems(config, experiment_run)
  if found:
    raise ConfigError('; '.join(found))
  return config


def checks_config(method: Callable) -> Callable:
  """Decorates a method of an object with a ``config`` (``DAGMM.fit``,
  ``Inspector.fit``): each call first runs ``validate_config(self.config)``."""
  @functools.wraps(method)
  def call(self, *args, **kwargs):
    validate_config(self.config)
    return method(self, *args, **kwargs)
  return call
