"""One DAGMM model with the scikit-learn / PyOD interface.

  model = DAGMM(config, contamination=0.01).fit(X)   # X: [N, D] rows or [N, H, W, C] images
  model = DAGMM(n_mixtures=2, num_epochs=50)         # experiments/base.py's config, fields overridden
  model.decision_function(X)    # energies: higher = more anomalous (PyOD's convention)
  model.score_samples(X)        # minus the energy: lower = more anomalous (scikit-learn's)
  model.predict(X)              # 0/1, 1 = anomaly: energy above ``threshold_`` (PyOD's 0/1)
  model.predict_proba(X)        # [N, 2] PyOD's outlier probability ('linear' or 'unify')
  model.predict_confidence(X)   # [N] PyOD's confidence in predict's label (Perini et al. 2020)
  model.decision_scores_, model.labels_, model.threshold_   # of the training rows, after fit
  model.save('runs/m'); same = DAGMM.load('runs/m')

A scikit-learn estimator: ``__init__`` stores its arguments as given
and does nothing else; ``fit`` builds the config it trains with (``config_``):
``config`` (an experiment's ConfigDict, used as it is; a dict, laid over
``experiments/base.py``'s defaults; None, those defaults) with the keyword
hyperparameters that are not None set on it (``KEYWORDS``: ``n_mixtures`` is
``config.model.n_mixtures``, ...), then checks it (``config_check``). So
``clone``, ``get_params`` / ``set_params``, ``Pipeline`` and ``GridSearchCV``
work (``sklearn.utils.estimator_checks.check_estimator`` passes but for the
checks ``tests/test_sklearn.py`` names, with why). Before ``fit`` (or ``load``)
every scoring method raises ``NotFittedError`` (scikit-learn's, and a
``ModelError``). A fitted model pickles (``pickle``, ``joblib``); its compiled
programs are not pickled but shared: one per network config in this process
(``_SCORING``), and the training epoch one per config and batch shape
(``_EPOCHS``), so equal models fitted on equal shapes compile once.

``fit(X, y=None)`` ignores ``y`` (unsupervised: every row is taken as normal).
One seed (``config.seed``) is trained with the library's compiled epoch
(``training.train``). Tabular rows are scaled with ``config.scaling`` ('minmax'
by default) fitted on the training rows. Images are uint8 or uint16 batches (as
``data.images.load_folder`` gives them) or float in [0, 1]: integer images stay
integer on the device and each batch is divided by ``pixel_scale`` (255 or
65535: ``scale_``) as it is gathered; float images are not scaled. A model takes
images of the dtype it was trained on only (``input_dtype_``). After training
the GMM is fitted exactly over the whole training set and stored with the
model, together with the threshold: the training energy above which a share
``contamination`` of the training rows lies (or of the validation rows', with
``config.threshold_source = 'val'``). ``fit(..., workdir=DIR)`` checkpoints the
training state with orbax and resumes an interrupted fit.

Nothing silently wrong:

- ``fit`` refuses fewer than ``min_rows(config)`` rows (``latent_dims + 3``: the
  GMM's full covariance over z, ``latent_dims + 2`` dims, is singular with fewer
  than ``dims + 1`` rows; one or two rows gave energies of ~5e6 for every other row).
- NaN / inf values, and cells that are not numbers (``pd.NA``, None), raise
  ``ValueError`` naming the first bad row and column (a cell of a type that is
  no number, a dict or None, a ``TypeError`` too); complex values and sparse
  matrices are refused, not cast (``X.toarray()`` densifies the latter).
- Fitted on a DataFrame (anything with ``.columns``), the model records
  ``feature_names_in_`` (as scikit-learn does) and refuses a DataFrame whose
  columns differ in names or order, naming them. Arrays are taken by position.
- The training range: per feature, the min and max over the training rows
  (images: of each image's mean intensity in [0, 1]), saved with the model.
  ``out_of_range(X)`` gives ``bool [N]``: rows with a feature outside it;
  ``out_of_range_`` is that of the rows last scored (``decision_function``,
  ``score_samples``, ``predict``). The networks saturate far from the training
  data: on Thyroid (features in [0, 1]) a test row with one feature set to 1e6
  gets the energy of a normal row for 5 of the 6 features. With
  ``flag_out_of_range`` ``predict`` labels such rows 1 whatever their energy:
  by default (``config.flag_out_of_range`` unset) for tabular rows, not for
  images. Measured on Thyroid (paper protocol, seeds 0-2): 0.22-0.49% of the
  normal test rows and 46-51% of the anomalous ones lie outside the training
  range. A row drawn from the training distribution lies outside the range of
  n training rows in one of F features with probability at most 2F / (n + 1):
  small for tabular training sets (Thyroid: 6 features, 1,840 rows, 0.65%), but
  3.3% of OK images for 60 training images, three times the default
  contamination, so images are only reported (``out_of_range_``).
- ``DAGMM.load`` checks the folder before any use: sha256 digests of
  ``config.json`` and ``params.msgpack`` recorded in ``model.json`` at save
  (an edited file is named), the parameter tree against the networks
  ``config.json`` describes (shapes, via ``jax.eval_shape``), the GMM and scaler
  shapes, and a finite threshold; each failure is one ``ModelError`` naming the
  file. Folders of format 1 (no digests) load without the digest check
  and without a training range (``out_of_range`` is then all False).
  ``load`` restores every fitted attribute: ``params.msgpack`` saved by ``fit``-ted
  models holds the training rows' energies too (``decision_scores_``; ``labels_`` are
  recomputed from them and the threshold). Folders saved before, and the
  reproductions' models (``run_report.save_models`` has no training energies),
  load without ``decision_scores_`` and ``labels_`` (absent, not None);
  ``predict_proba`` and ``predict_confidence`` then raise a ``ModelError``
  saying so, everything else works.
- ``save`` refuses a path that is a file, or a non-empty folder that holds no
  model, and changes nothing there.

On CPU, call ``training.cpu.unroll_threefry_on_cpu()`` once first (the commands
do): the same random bits, drawn faster.

A reproduction (``experiment.train_and_evaluate``) saves each seed's model in
this format too (``WORKDIR/models/seed_<s>``), so every scorer loads either.
"""
from __future__ import annotations

import collections
import copy
import hashlib
import importlib
import json
import os
import pathlib
import shutil
import threading
from typing import Any, Callable, NamedTuple

import flax.serialization
import jax
from absl import logging
import jax.numpy as jnp
import ml_collections
import numpy as np
import scipy.sparse
import sklearn.base
import sklearn.exceptions

from dagmm_jax import config_check, files
from dagmm_jax.errors import ConfigError, UserError
from dagmm_jax.data.download import DataError
from dagmm_jax.core import gmm, health, inference, objective, regularizers
from dagmm_jax.training import checkpoint, progress, train
from dagmm_jax.data.images import PIXEL_SCALES, pixel_scale, to_unit
from dagmm_jax.data.protocols import fit_scaler
from dagmm_jax.core.model import DAGMMNet, build_net

# 2: training range, feature names, sha256 digests; 1 (none of these) still loads.
# params.msgpack may hold 'decision_scores' too (optional: readers that predate it ignore it).
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
FILES = ('config.json', 'model.json', 'params.msgpack')
DIGESTED = ('config.json', 'params.msgpack')   # their sha256 digests are recorded in model.json


class ModelError(UserError, ValueError):
  """A saved model is missing, incomplete or corrupt, or the model is not fitted."""


class NotFittedError(ModelError, sklearn.exceptions.NotFittedError):
  """The model is not fitted (nor loaded): scikit-learn's ``NotFittedError`` (a
  ``ValueError`` and an ``AttributeError``) and this module's ``ModelError``."""


class NotANumber(DataError, TypeError):
  """A cell of a type that is no number (a dict, None): a ``TypeError`` as numpy
  raises it, and a ``DataError`` (``ValueError``) naming the cell."""


# The keyword hyperparameters of ``DAGMM`` and the config fields they set.
KEYWORDS: dict[str, str] = {
    'n_mixtures': 'model.n_mixtures',
    'latent_dims': 'model.latent_dims',
    'hidden': 'model.hidden',
    'estimation_hidden': 'model.estimation_hidden',
    'activation': 'model.activation',
    'dropout_rate': 'model.dropout_rate',
    'regularizer': 'gmm.regularizer',
    'lambda_energy': 'lambda_energy',
    'lambda_cov': 'lambda_cov',
    'learning_rate': 'learning_rate',
    'batch_size': 'batch_size',
    'num_epochs': 'num_epochs',
    'seed': 'seed',
    'scaling': 'scaling',
}


def default_config() -> ml_collections.ConfigDict:
  """``experiments/base.py``'s config: what ``DAGMM()`` trains with."""
  return importlib.import_module('dagmm_jax.experiments.base').get_config()


def make_config(config: Any = None, **fields: Any) -> ml_collections.ConfigDict:
  """A new ConfigDict: ``config`` (a ConfigDict, copied as it is; a dict, laid over
  ``default_config()``, nested dicts field by field; None, ``default_config()``),
  then each of ``fields`` (``KEYWORDS``) that is not None set on it. Nothing
  given is changed. ``ConfigError`` for another type of ``config``, or a value
  the field cannot take."""
  if config is None:
    out = default_config()
  elif isinstance(config, ml_collections.ConfigDict):
    out = ml_collections.ConfigDict(config.to_dict())
  elif isinstance(config, dict):
    out = default_config()
    try:
      out.update(copy.deepcopy(config))
    except (TypeError, ValueError, KeyError, AttributeError) as e:
      raise ConfigError(f"config (a dict) does not fit experiments/base.py's config: {e}") from None
  else:
    raise ConfigError(f'config must be an ml_collections.ConfigDict, a dict or None, got '
                      f'{type(config).__name__}')
  for name, value in fields.items():
    if value is None:
      continue
    *path, leaf = KEYWORDS[name].split('.')
    target = out
    for part in path:
      if part not in target:
        target[part] = ml_collections.ConfigDict()
      target = target[part]
    if isinstance(value, list):
      value = tuple(value)
    elif isinstance(value, np.generic):   # e.g. np.int64 from a parameter grid
      value = value.item()
    try:
      target[leaf] = value
    except (TypeError, ValueError) as e:
      raise ConfigError(f'{name}={value!r} (config.{KEYWORDS[name]}): {e}') from None
  return out


def _seed(tree: Any, i: int = 0) -> Any:
  """Seed ``i``'s slice of a tree with a leading seed axis."""
  return jax.tree_util.tree_map(lambda a: a[i], tree)


class Programs(NamedTuple):
  """The compiled programs of one model (``programs``); each takes the model's
  ``(params, ..., shift, scale)`` and scores every row it is given."""
  fit_gmm: Callable    # (params, x, shift, scale) -> (GMMParams over x, energies of x)
  energies: Callable   # (params, GMMParams, x, shift, scale) -> energies of x
  validate: Callable   # (params, x, x_val, shift, scale) -> (energies, squared errors) of x_val
  embed_errors: Callable   # (params, x, shift, scale) -> (z, squared errors) of x


def programs(net: DAGMMNet, regularizer: Callable) -> Programs:
  """The jitted programs of ``net`` (the GMM fitted exactly over all given rows,
  as ``inference.fit_and_score`` does for the reproductions)."""
  everything = lambda x: jnp.arange(x.shape[0])

  def fit_gmm(params, x, shift, scale):
    g, z = inference.fit_on_rows(net, regularizer, params, x, everything(x), x.shape[0], shift, scale)
    return g, gmm.energy(z, g)   # the rows' energies from the same embedding

  def energies(params, g, x, shift, scale):
    return inference.energies(net, params, g, x, everything(x), shift, scale)

  def validate(params, x, x_val, shift, scale):
    g, _ = inference.fit_on_rows(net, regularizer, params, x, everything(x), x.shape[0], shift, scale)
    z, errors = inference.embed_and_errors(net, params, x_val, everything(x_val), shift, scale)
    return gmm.energy(z, g), errors

  def embed_errors(params, x, shift, scale):
    return inference.embed_and_errors(net, params, x, everything(x), shift, scale)

  return Programs(jax.jit(fit_gmm), jax.jit(energies), jax.jit(validate), jax.jit(embed_errors))


# -- compiled programs shared by the models of this process -------------------------
# jax.jit compiles a program once per function and argument shapes; building the
# function anew for every model compiled it anew (a tiny model's training epoch:
# ~6 s on one CPU core, and it has host callbacks, so the persistent cache keeps
# none). These caches hand every model the same function for the same config.
_CACHE_SIZE = 32                      # functions kept per cache (oldest dropped first)
_LOCK = threading.RLock()
_SCORING: collections.OrderedDict = collections.OrderedDict()   # network config -> Programs
_EPOCHS: collections.OrderedDict = collections.OrderedDict()    # (config, batch, steps, mesh) -> epoch
# Config fields train.make_epoch_fn does not read (the seed enters through the
# training state, the epochs through the loop): models differing only in these share it.
_NOT_IN_THE_EPOCH = ('seed', 'num_seeds', 'seed_chunk', 'num_epochs', 'checkpoint_every',
                     'checkpoints_to_keep', 'val_every', 'contamination', 'threshold_source',
                     'flag_out_of_range')


def _remember(cache: collections.OrderedDict, key: Any, build: Callable[[], Any]) -> Any:
  """``cache[key]``, built by ``build()`` the first time."""
  with _LOCK:
    if key in cache:
      cache.move_to_end(key)
      return cache[key]
    value = cache[key] = build()
    while len(cache) > _CACHE_SIZE:
      cache.popitem(last=False)
    return value


def _key(tree: Any) -> str:
  """The JSON text of ``tree``: the cache key of a config's fields."""
  return json.dumps(tree, sort_keys=True, default=repr)


def shared_programs(config: ml_collections.ConfigDict) -> Programs:
  """``programs`` of ``config``'s networks and regularizer, the same object for
  every model with equal ``config.model`` and ``config.gmm.regularizer`` (all
  ``programs`` reads), so a second such model compiles nothing for the shapes
  the first one scored."""
  spec = config.gmm.regularizer
  return _remember(_SCORING, _key({'model': config.model.to_dict(), 'regularizer': spec}),
                   lambda: programs(build_net(config), regularizers.get_regularizer(spec)))


def _shared_epoch_fn(config: ml_collections.ConfigDict, batch: int, steps: int, mesh: Any = None) -> Callable:
  """``train.make_epoch_fn``, the same function for equal configs (but for
  ``_NOT_IN_THE_EPOCH``) and equal batch plan and mesh."""
  fields = {k: v for k, v in config.to_dict().items() if k not in _NOT_IN_THE_EPOCH}
  return _remember(_EPOCHS, (_key(fields), batch, steps, mesh),
                   lambda: train.make_epoch_fn(config, batch, steps, mesh))


def threshold(energies: np.ndarray, contamination: float) -> float:
  """The energy above which a share ``contamination`` of ``energies`` lies
  (their ``100 (1 - contamination)`` percentile)."""
  return float(np.percentile(energies, 100.0 - 100.0 * contamination))


def _fmt(key: str, value: Any) -> str:
  """``key=value`` for a log line (floats and lists of floats to 4 digits)."""
  if isinstance(value, float):
    return f'{key}={value:.4g}'
  if isinstance(value, list):
    return f"{key}=[{' '.join(f'{v:.3g}' for v in value)}]"
  return f'{key}={value}'


def min_rows(config: ml_collections.ConfigDict) -> int:
  """The fewest training rows ``fit`` takes: ``latent_dims + 3``. The GMM fits a full
  covariance over z (``latent_dims + 2`` dims: the code, the relative distance
  and the cosine); n rows span at most an ``n - 1`` dimensional subspace, so
  with fewer than ``dims + 1`` rows every covariance is singular and the energy
  of any other row is huge (one or two rows gave ~5e6)."""
  return int(config.model.latent_dims) + 3


def range_features(x: np.ndarray) -> np.ndarray:
  """``[N, F]``: the values the training range is kept of. Tabular rows as they
  are; images (``[N, H, W, C]``) their mean intensity in [0, 1] (``F = 1``)."""
  if x.ndim == 2:
    return x
  mean = x.reshape(x.shape[0], -1).mean(axis=1, dtype=np.float64)
  return (mean / pixel_scale(x.dtype))[:, None]


def column_names(x: Any) -> list[str] | None:
  """The column names of a DataFrame-like ``x`` (anything with ``.columns``), else None."""
  columns = getattr(x, 'columns', None)
  return None if columns is None else [str(c) for c in columns]


def _first_bad_cell(x: Any, what: str, names: list[str] | None) -> str:
  """Where the first cell of ``x`` that is not a number is (row-major), for an error."""
  cells = np.asarray(x, dtype=object)
  if cells.ndim != 2:
    return f'{what} holds values that are not numbers'
  bad = np.zeros(cells.shape, bool)
  for j in range(cells.shape[1]):
    try:
      np.asarray(cells[:, j], np.float32)
    except (TypeError, ValueError):
      bad[:, j] = [not _is_number(v) for v in cells[:, j]]
  if not bad.any():
    return f'{what} holds values that are not numbers'
  i, j = (int(k) for k in np.argwhere(bad)[0])
  return f'{what} {_cell(x, i, j, names)} is {cells[i, j]!r}, not a number'


def _is_number(v: Any) -> bool:
  try:
    float(v)
  except (TypeError, ValueError):
    return False
  return True


def _cell(x: Any, i: int, j: int, names: list[str] | None) -> str:
  """``row i, column j`` (0-based), with the DataFrame's index label and column name."""
  index = getattr(x, 'index', None)
  row = f'row {i}' + ('' if index is None else f' (index {index[i]!r})')
  return f'{row}, column {j}' + ('' if names is None else f' ({names[j]!r})') + ' (0-based)'


def _fingerprint(x: np.ndarray, x_val: np.ndarray | None) -> dict[str, Any]:
  """Shapes and sha256 digests of the training (and validation) arrays: a resumed
  run must see the same data."""
  digest = lambda a: {'shape': list(a.shape), 'sha256': hashlib.sha256(np.ascontiguousarray(a)).hexdigest()}
  return {'train': digest(x), 'val': None if x_val is None else digest(x_val)}


class DAGMM(sklearn.base.OutlierMixin, sklearn.base.BaseEstimator):
  """One DAGMM model (one seed), a scikit-learn estimator and PyOD detector.

  ``config``: an experiment's config (``experiments/*.py``, used as it is), a
  dict (laid over ``experiments/base.py``'s) or None (base's). The keyword
  hyperparameters (``KEYWORDS``), when not None, override its fields:
  ``n_mixtures``, ``latent_dims``, ``hidden``, ``estimation_hidden``,
  ``activation``, ``dropout_rate`` (``config.model.*``), ``regularizer``
  (``config.gmm.regularizer``), ``lambda_energy``, ``lambda_cov``,
  ``learning_rate``, ``batch_size``, ``num_epochs``, ``seed``, ``scaling``.
  ``contamination``: the share of the training rows above the threshold
  (default ``config.contamination``, else 0.01; in [0, 1)). ``flag_out_of_range``:
  whether ``predict`` labels rows outside the training range 1 whatever their
  energy (default ``config.flag_out_of_range``, else True for tabular rows and
  False for images; see the module doc). Nothing is checked before ``fit``.

  Fitted attributes (absent before ``fit`` or ``load``): ``config_`` (the config
  trained with), ``contamination_``, ``flag_out_of_range_``, ``params_``,
  ``gmm_``, ``shift_``, ``scale_``, ``threshold_``, ``decision_scores_``,
  ``labels_``, ``input_shape_``, ``input_dtype_``, ``n_features_in_`` (values
  per sample: D, or H * W * C), ``feature_names_in_`` (a DataFrame's columns,
  else None), ``feature_min_`` / ``feature_max_``, ``history_``, ``health_``.
  """

  def __init__(self, config: ml_collections.ConfigDict | dict | None = None,
               contamination: float | None = None, verbose: bool = False,
               flag_out_of_range: bool | None = None, *,
               n_mixtures: int | None = None, latent_dims: int | None = None,
               hidden: tuple[int, ...] | None = None, estimation_hidden: tuple[int, ...] | None = None,
               activation: str | None = None, dropout_rate: float | None = None,
               regularizer: str | None = None, lambda_energy: float | None = None,
               lambda_cov: float | None = None, learning_rate: float | None = None,
               batch_size: int | None = None, num_epochs: int | None = None,
               seed: int | None = None, scaling: str | None = None):
    self.config = config
    self.contamination = contamination
    self.verbose = verbose
    self.flag_out_of_range = flag_out_of_range
    self.n_mixtures = n_mixtures
    self.latent_dims = latent_dims
    self.hidden = hidden
    self.estimation_hidden = estimation_hidden
    self.activation = activation
    self.dropout_rate = dropout_rate
    self.regularizer = regularizer
    self.lambda_energy = lambda_energy
    self.lambda_cov = lambda_cov
    self.learning_rate = learning_rate
    self.batch_size = batch_size
    self.num_epochs = num_epochs
    self.seed = seed
    self.scaling = scaling

  # -- scikit-learn ---------------------------------------------------------------
  def __sklearn_tags__(self):
    tags = super().__sklearn_tags__()   # OutlierMixin: estimator_type 'outlier_detector'
    tags.input_tags.allow_nan = False
    tags.input_tags.sparse = False
    tags.non_deterministic = False      # one seed (config.seed): the same model every fit
    return tags

  def __sklearn_is_fitted__(self) -> bool:
    return 'params_' in self.__dict__

  def __getstate__(self) -> dict[str, Any]:
    """Pickles everything but the compiled programs (rebuilt, or taken from the
    shared cache, on first use)."""
    state = super().__getstate__()
    state.pop('_programs', None)
    return state

  # -- settings -------------------------------------------------------------------
  def make_config(self) -> ml_collections.ConfigDict:
    """The config ``fit`` trains with: ``config`` with the keyword hyperparameters
    that are not None set on it (a new ConfigDict; ``make_config``)."""
    return make_config(self.config, **{k: getattr(self, k) for k in KEYWORDS})

  def _trained_config(self) -> ml_collections.ConfigDict:
    """``config_``, or (a model whose attributes were set by hand, as
    ``run_report.save_models`` does) ``make_config()``."""
    config = self.__dict__.get('config_')
    return self.make_config() if config is None else config

  def _resolved_contamination(self, config: ml_collections.ConfigDict) -> float:
    c = self.contamination if self.contamination is not None else config.get('contamination', 0.01)
    try:
      c = float(c)
    except (TypeError, ValueError):
      raise ValueError(f'contamination must be a number in [0, 1), got {c!r}') from None
    if not 0.0 <= c < 1.0:
      raise ValueError(f'contamination must be in [0, 1), got {c}')
    return c

  def _contamination(self) -> float:
    c = self.__dict__.get('contamination_')
    return self._resolved_contamination(self._trained_config()) if c is None else c

  def _flag(self, config: ml_collections.ConfigDict, sample_ndim: int) -> bool:
    """Whether ``predict`` flags rows outside the training range (``flag_out_of_range``)."""
    flag = self.__dict__.get('flag_out_of_range_')
    if flag is None:
      flag = self.flag_out_of_range if self.flag_out_of_range is not None else config.get('flag_out_of_range')
    return bool(sample_ndim == 1 if flag is None else flag)

  # -- input ------------------------------------------------------------------------
  def _check_names(self, names: list[str] | None, what: str) -> None:
    """Refuses a DataFrame whose columns are not those the model was fitted on."""
    expected = self.__dict__.get('feature_names_in_')
    if names is None or expected is None or names == expected:
      return
    missing = [n for n in expected if n not in names]
    extra = [n for n in names if n not in expected]
    if not missing and not extra:
      raise DataError(f'{what} has the columns the model was fitted on in another order: got {names}, '
                       f'fitted on {expected}; reorder them with X[model.feature_names_in_]')
    raise DataError(f'{what} has other columns than the model was fitted on: missing {missing}, '
                     f'unexpected {extra} (fitted on {expected})')

  def _check_x(self, x: Any, what: str, fitted: bool = True) -> np.ndarray:
    """``x`` as float32, or as it is for uint8/uint16 image batches (never copied
    to float on the host); checks that every value is a finite real number
    (naming the first bad row and column) and, when ``fitted``, its shape and
    dtype against the model's and its column names (a DataFrame) against
    ``feature_names_in_``."""
    if scipy.sparse.issparse(x):
      raise TypeError(f'{what} is a sparse matrix ({type(x).__name__}); DAGMM takes dense input only: '
                      'pass X.toarray()')
    names = column_names(x)
    if fitted:
      self._check_names(names, what)
    raw = x
    try:
      x = np.asarray(x)
      if x.dtype == object:
        x = np.asarray(x, np.float32)
    except (TypeError, ValueError) as e:
      error = NotANumber if isinstance(e, TypeError) else DataError
      raise error(f'{_first_bad_cell(raw, what, names)} ({e})') from None
    if np.iscomplexobj(x):
      raise DataError(f'Complex data not supported: {what} has dtype {x.dtype}; DAGMM takes real numbers '
                       '(pass the real part, the magnitude, or both as features)')
    if x.ndim not in (2, 4) or x.shape[0] == 0:
      hint = ('; Reshape your data: X.reshape(-1, 1) if it holds one feature, X.reshape(1, -1) if it '
              'holds one sample' if x.ndim == 1 else '')
      raise DataError(f'{what} must be a non-empty [N, D] array or [N, H, W, C] image batch, '
                       f'got shape {x.shape}{hint}')
    if x.ndim == 2 and x.shape[1] == 0:
      raise DataError(f'{what} has 0 feature(s) (shape={x.shape}) while a minimum of 1 is required.')
    given = x.dtype
    if not (x.ndim == 4 and x.dtype in PIXEL_SCALES):
      x = np.asarray(x, np.float32)
    shape, dtype = (self.__dict__.get('input_shape_'), self.__dict__.get('input_dtype_')) if fitted else (None, None)
    if shape is not None and tuple(x.shape[1:]) != shape:
      if x.ndim == 2 and len(shape) == 1:   # scikit-learn's words, then ours
        raise DataError(f'X has {x.shape[1]} features, but DAGMM is expecting {shape[0]} features as input '
                         f'({what} has sample shape {tuple(x.shape[1:])}, the model expects {shape})')
      raise DataError(f'{what} has sample shape {tuple(x.shape[1:])}, the model expects {shape}')
    if dtype is not None and x.dtype != np.dtype(dtype):
      raise DataError(
          f'{what} has dtype {given}{"" if given == x.dtype else f" (taken as {x.dtype})"} but the '
          f'model was trained on {dtype} images and expects dtype {dtype}; '
          'data.images.to_unit turns uint8/uint16 images into float32 in [0, 1], images of '
          'another bit depth need a model trained on them')
    if x.dtype not in PIXEL_SCALES and not np.isfinite(x).all():
      first = tuple(int(k) for k in np.argwhere(~np.isfinite(x))[0])
      where = (_cell(raw, *first, names) if x.ndim == 2
               else f'image {first[0]}, pixel (y, x, channel) {first[1:]} (0-based)')
      raise DataError(f'{what} contains NaN or inf: first at {where}, value {x[first]}')
    return x

  # -- training ---------------------------------------------------------------------
  def fit(self, x: Any, y: Any = None, *, x_val: Any = None,
          workdir: str | os.PathLike | None = None) -> 'DAGMM':
    """Trains on ``x``, every row taken as normal (``y`` is ignored: unsupervised).

    ``x_val`` adds the validation energy and reconstruction error to
    ``history_`` every ``config.val_every`` epochs (default 1). With ``workdir``
    the training state is checkpointed there with orbax every
    ``config.checkpoint_every`` epochs, each ``history_`` row is appended to
    ``workdir/metrics.jsonl``, and calling ``fit`` again with the same workdir,
    config and data resumes from the latest checkpoint (another config or other
    data is refused).
    """
    if y is not None and np.asarray(y, dtype=object).ndim > 1:
      raise ValueError(f'y (shape {np.asarray(y, dtype=object).shape}) is ignored: training is unsupervised. Validation '
                       'rows go in as fit(X, x_val=X_val)')
    self.fit_seeds(x, None, x_val=x_val, workdir=workdir)
    return self

  def fit_seeds(self, x: Any, seeds: list[int] | None, *, x_val: Any = None,
                workdir: str | os.PathLike | None = None) -> list['DAGMM']:
    """One model per seed, trained together in one compiled program (``vmap`` over
    seeds): the same models as ``fit`` with ``config.seed`` set to each seed
    (None: ``[config.seed]``). This model becomes the first seed's; the others
    are new models with this one's settings and ``config`` the seed's config.
    ``workdir`` as in ``fit`` (its metrics.jsonl rows carry their seed). Raises
    ``FloatingPointError`` naming every seed whose training failed."""
    config = config_check.validate_config(self.make_config())   # before anything is written
    contamination = self._resolved_contamination(config)
    seeds = [int(config.seed)] if seeds is None else [int(s) for s in seeds]
    return self._fit_seeds(config, contamination, x, seeds, x_val=x_val, workdir=workdir)

  @files.holds_workdir_lock
  def _fit_seeds(self, config: ml_collections.ConfigDict, contamination: float, x: Any, seeds: list[int], *,
                 x_val: Any = None, workdir: str | os.PathLike | None = None) -> list['DAGMM']:
    if not seeds or len(set(seeds)) != len(seeds):
      raise ValueError(f'seeds must be distinct and at least one, got {seeds}')
    config.seed = seeds[0]
    names = column_names(x)
    x = self._check_x(x, 'X', fitted=False)
    if x.shape[0] < min_rows(config):
      raise ValueError(f'X has {x.shape[0]} row(s); DAGMM needs at least {min_rows(config)} '
                       f'(config.model.latent_dims + 3): the GMM fits a full covariance over z '
                       f'({int(config.model.latent_dims) + 2} dims), singular with fewer rows '
                       f'(n_samples={x.shape[0]})')
    for attr in [a for a in self.__dict__ if a.endswith('_') and not a.startswith('_')] + ['_programs']:
      self.__dict__.pop(attr, None)   # a refit starts afresh (perhaps with other settings)
    self.config_, self.contamination_ = config, contamination
    self.input_shape_, self.input_dtype_ = tuple(x.shape[1:]), x.dtype.name
    self.n_features_in_ = int(np.prod(self.input_shape_))
    self.feature_names_in_ = names
    self.flag_out_of_range_ = self._flag(config, x.ndim - 1)
    self._set_range(x)
    if x_val is not None:
      x_val = self._check_x(x_val, 'X_val')
    source = config.get('threshold_source', 'train')
    if source not in ('train', 'val'):
      raise ValueError(f"config.threshold_source must be 'train' or 'val', got {source!r}")
    if source == 'val' and x_val is None:
      raise ValueError("config.threshold_source='val' needs validation data (x_val)")
    if x.ndim == 2:
      scaler = fit_scaler(x, config.get('scaling', 'minmax'), config.get('constant_columns', 'shift'))
      self.shift_, self.scale_ = scaler.shift, scaler.scale
    else:   # images: uint8 / uint16 are divided by 255 / 65535 per batch, floats kept
      self.shift_ = np.zeros(1, np.float32)
      self.scale_ = np.full(1, pixel_scale(x.dtype), np.float32)
    n, n_seeds = x.shape[0], len(seeds)
    xd = jnp.asarray(x)
    per_seed = lambda a: jnp.broadcast_to(jnp.asarray(a)[None], (n_seeds, *np.shape(a)))
    data = train.TrainData(xd, per_seed(jnp.arange(n, dtype=jnp.int32)), jnp.full((n_seeds,), n, jnp.int32),
                           per_seed(self.shift_), per_seed(self.scale_))
    state = train.init_state(config, seeds, self.input_shape_)
    shift, scale = jnp.asarray(self.shift_), jnp.asarray(self.scale_)
    val_every = int(config.get('val_every', 1)) if x_val is not None else 0
    xv = None if x_val is None else jnp.asarray(x_val)

    mngr, log_path, histories = None, None, [[] for _ in seeds]
    if workdir is not None:
      workdir = pathlib.Path(workdir)
      files.claim_workdir(workdir, {**config.to_dict(), **({'seeds': list(seeds)} if n_seeds > 1 else {})})
      files.claim_workdir(workdir, _fingerprint(x, x_val), name='data.json')
      mngr = checkpoint.manager(workdir / 'checkpoints', config.get('checkpoints_to_keep', 2) or None)
      state = checkpoint.restore(mngr, state) or state
      log_path = workdir / 'metrics.jsonl'
      done = int(state.epoch)
      if done and self.verbose:
        print(f'resuming from the checkpoint at epoch {done} in {workdir}', flush=True)
      logged = [r for line in files.read_jsonl(log_path, key=('seed', 'epoch')) for r in progress.seed_rows(line)]
      histories = [[r for r in logged if r['epoch'] <= done and r.get('seed', seeds[0]) == s]
                   for s in seeds]

    def extra(epoch, seconds, st):
      out = {'images_per_second' if x.ndim == 4 else 'rows_per_second': n * n_seeds / seconds}
      if val_every and (epoch % val_every == 0 or epoch == config.num_epochs):
        e, r = zip(*(jax.device_get(self.programs.validate(_seed(st.params, i), xd, xv, shift, scale))
                     for i in range(n_seeds)))
        out.update(val_energy=[float(np.mean(v)) for v in e], val_reconstruction=[float(np.mean(v)) for v in r])
      return out

    def on_line(line, time_left):
      rows = progress.seed_rows(line)
      for history, row in zip(histories, rows):
        history.append(row)
      if self.verbose:
        print(' '.join(_fmt(k, v) for k, v in rows[0].items()), f'({time_left})', flush=True)

    on_epoch = progress.epoch_logger(log_path, seeds, int(config.num_epochs), int(state.epoch),
                                     extra=extra, on_line=on_line)
    state = train.fit(config, state, data, on_epoch=on_epoch, ckpt_mngr=mngr, report_every=val_every,
                      epoch_fn=_shared_epoch_fn)
    failed, step, cause = jax.device_get((state.failed_epoch, state.failed_step, state.failed_cause))
    if np.any(failed >= 0):
      raise FloatingPointError(
          'training failed: ' + ', '.join(
              f'non-finite {objective.nonfinite_name(c)} at epoch {e + 1}, step {t} of seed {s}'
              for s, e, t, c in zip(seeds, failed, step, cause) if e >= 0)
          + ' (try a smaller learning rate or a stronger gmm.regularizer)')
    models = [self] + [self._sibling(s) for s in seeds[1:]]
    for i, m in enumerate(models):
      for attr in ('contamination_', 'flag_out_of_range_', 'shift_', 'scale_', 'input_shape_', 'input_dtype_',
                   'n_features_in_', 'feature_names_in_', 'feature_min_', 'feature_max_'):
        setattr(m, attr, getattr(self, attr))
      m.history_ = histories[i]
      m._finish(_seed(state.params, i), xd, x_val)
    return models

  def _sibling(self, seed: int) -> 'DAGMM':
    """A new model with this one's settings, trained with ``config_`` but for the
    seed: its ``config`` is that config (``model.config.seed`` names its seed)."""
    config = ml_collections.ConfigDict(self.config_.to_dict())
    config.seed = int(seed)
    model = type(self)(config, self.contamination, self.verbose, self.flag_out_of_range)
    model.config_ = ml_collections.ConfigDict(config.to_dict())
    return model

  @classmethod
  def from_trained(cls, config: ml_collections.ConfigDict, params: Any, gmm_params: gmm.GMMParams,
                   shift: np.ndarray, scale: np.ndarray, threshold: float,
                   x_train: np.ndarray | None = None) -> 'DAGMM':
    """A fitted model from networks trained elsewhere (a reproduction's seed,
    ``run_report.save_models``): their test-time mixture, scaler and evaluated
    threshold (NaN: none); ``x_train`` sets the training range (``out_of_range``)."""
    model = cls(config, contamination=0.0)
    model.params_, model.gmm_ = params, gmm_params
    model.shift_, model.scale_ = shift, scale
    model.input_shape_, model.input_dtype_ = (int(shift.shape[0]),), 'float32'
    model.threshold_ = threshold
    if x_train is not None:
      model._set_range(x_train)
    return model

  def _set_range(self, x: np.ndarray) -> None:
    """The training range: per feature of ``range_features(x)``, its min and max."""
    f = range_features(x)
    self.feature_min_, self.feature_max_ = f.min(axis=0).astype(np.float64), f.max(axis=0).astype(np.float64)

  def _finish(self, params: Any, x: np.ndarray | jnp.ndarray, x_val: np.ndarray | None) -> 'DAGMM':
    """Sets the networks, fits the GMM exactly over ``x`` and sets the threshold."""
    config = self._trained_config()
    self.params_ = jax.device_get(params)
    g, energies = self.programs.fit_gmm(self.params_, jnp.asarray(x), jnp.asarray(self.shift_),
                                        jnp.asarray(self.scale_))
    self.gmm_ = gmm.GMMParams(*(np.asarray(a) for a in jax.device_get(g)))
    self.decision_scores_ = np.asarray(energies)
    if config.get('threshold_source', 'train') == 'val':
      if x_val is None:
        raise ValueError("config.threshold_source='val' needs validation data (x_val)")
      energies = self.decision_function(x_val)
    self.threshold_ = threshold(energies, self._contamination())
    self.labels_ = self.predict_from_scores(self.decision_scores_)
    self.health_ = self._health(x)
    for w in self.health_['warnings']:
      logging.warning('DAGMM (seed %s): %s', config.seed, w)
    return self

  def _health(self, x: np.ndarray | jnp.ndarray) -> dict[str, Any]:
    """``core.health.check`` of the fitted networks on the training rows ``x``."""
    z, err = jax.device_get(self.programs.embed_errors(self.params_, jnp.asarray(x),
                                                       jnp.asarray(self.shift_), jnp.asarray(self.scale_)))
    x = np.asarray(jax.device_get(x))
    xs = to_unit(x) if x.ndim == 4 else (x - self.shift_) / self.scale_
    return health.check(z, int(self._trained_config().model.latent_dims), err, health.mean_image_error(xs))

  def restore_epoch(self, checkpoints: str | os.PathLike, step: int, x: np.ndarray,
                    x_val: np.ndarray | None = None) -> 'DAGMM':
    """This model with the networks checkpointed at epoch ``step`` of its training
    (``fit(..., workdir)`` saves them in ``workdir/checkpoints``; which epochs are
    kept is ``config.checkpoints_to_keep``'s), its GMM and threshold refitted on
    the training data ``x`` (and ``x_val``) as ``fit`` does at the end."""
    self._require_fitted()
    config = self._trained_config()
    x = self._check_x(x, 'X')
    x_val = None if x_val is None else self._check_x(x_val, 'X_val')
    self._set_range(x)
    like = train.init_state(config, [int(config.seed)], self.input_shape_)
    try:
      with checkpoint.opened(checkpoints, None) as mngr:
        state = checkpoint.restore(mngr, like, step)
    except FileNotFoundError as e:
      raise ModelError(str(e)) from None
    return self._finish(_seed(state.params), x, x_val)

  # -- scoring ----------------------------------------------------------------------
  def _require_fitted(self) -> None:
    if 'params_' not in self.__dict__:
      raise NotFittedError('this DAGMM is not fitted: call fit(X) or DAGMM.load(path) first')

  @property
  def programs(self) -> Programs:
    """The compiled programs of this model's networks (``shared_programs``)."""
    found = self.__dict__.get('_programs')
    if found is None:
      found = self._programs = shared_programs(self._trained_config())
    return found

  def _out_of_range(self, x: np.ndarray) -> np.ndarray:
    if self.__dict__.get('feature_min_') is None:
      return np.zeros(x.shape[0], bool)
    f = range_features(x)
    return np.any((f < self.feature_min_) | (f > self.feature_max_), axis=1)

  def out_of_range(self, x: Any) -> np.ndarray:
    """``bool [N]``: rows with a feature outside the training range (images: a mean
    intensity outside that of the training images). All False for a model
    saved without a range (format 1)."""
    self._require_fitted()
    return self._out_of_range(self._check_x(x, 'X'))

  def decision_function(self, x: Any) -> np.ndarray:
    """Sample energies ``[N]`` (float32): higher = more anomalous. Sets
    ``out_of_range_`` (``bool [N]``) of these rows."""
    self._require_fitted()
    x = self._check_x(x, 'X')
    self.out_of_range_ = self._out_of_range(x)
    n = x.shape[0]
    bucket = max(16, 1 << (n - 1).bit_length())   # few distinct shapes: few compilations
    xp = np.concatenate([x, np.zeros((bucket - n, *x.shape[1:]), x.dtype)]) if bucket > n else x
    energies = self.programs.energies(self.params_, self.gmm_, jnp.asarray(xp),
                                      jnp.asarray(self.shift_), jnp.asarray(self.scale_))
    return np.asarray(jax.device_get(energies))[:n]

  def score_samples(self, x: Any) -> np.ndarray:
    """Minus the energies (scikit-learn's sign: lower = more anomalous)."""
    return -self.decision_function(x)

  def predict(self, x: Any, return_confidence: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """``[N]`` int: 1 where the energy is above ``threshold_`` (or, with
    ``flag_out_of_range``, the row is outside the training range), else 0.
    ``return_confidence``: ``(labels, predict_confidence)`` as PyOD gives them."""
    energies = self.decision_function(x)
    labels = self.predict_from_scores(energies, self.out_of_range_)
    return (labels, self._confidence(energies, labels)) if return_confidence else labels

  def fit_predict(self, x: Any, y: Any = None, **fit_kwargs) -> np.ndarray:
    """``fit(x)``, then ``labels_``: 0/1 of the training rows."""
    return self.fit(x, y, **fit_kwargs).labels_

  def predict_from_scores(self, energies: np.ndarray, out_of_range: np.ndarray | None = None) -> np.ndarray:
    """``[N]`` int 0/1 labels of energies already computed; rows flagged in
    ``out_of_range`` (``bool [N]``, e.g. ``out_of_range_``) are 1 with ``flag_out_of_range``."""
    self._require_fitted()
    if not np.isfinite(self.threshold_):
      raise ModelError(f'this model has no finite threshold ({self.threshold_}): it cannot label rows')
    labels = np.asarray(energies) > self.threshold_
    if out_of_range is not None and self._flag(self._trained_config(), len(self.input_shape_)):
      labels = labels | np.asarray(out_of_range, bool)
    return labels.astype(np.int64)

  def _training_scores(self, what: str) -> np.ndarray:
    scores = self.__dict__.get('decision_scores_')
    if scores is None:
      raise ModelError(f"{what} needs the training rows' energies (decision_scores_), which this model "
                       'does not have: it was saved without them (by an older version) or by a reproduction '
                       '(run_report.save_models). Fit it again (DAGMM(config).fit(X_train)) to use ' + what)
    return np.asarray(scores, np.float64)

  def predict_proba(self, x: Any, method: str = 'linear',
                    return_confidence: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """``[N, 2]``: (1 - p, p), p the probability that a row is an anomaly, as PyOD
    computes it from the energies (``decision_function``): ``method='linear'``, the
    energy min-max scaled by the range of ``decision_scores_`` and clipped to
    [0, 1]; ``'unify'`` (Kriegel et al. 2011), ``erf((e - mean) / (std sqrt 2))``
    of ``decision_scores_``' mean and std, clipped to [0, 1]. Out-of-range
    flags do not enter. ``return_confidence``: ``(proba, predict_confidence)``."""
    self._require_fitted()
    if method not in ('linear', 'unify'):
      raise ValueError(f"method must be 'linear' or 'unify', got {method!r}")
    train_scores = self._training_scores('predict_proba')
    energies = self.decision_function(x)
    e = energies.astype(np.float64)
    if method == 'linear':
      low, span = train_scores.min(), np.ptp(train_scores)
      p = (e - low) / (span if span > 0 else 1.0)   # scikit-learn's MinMaxScaler, as PyOD uses it
    else:
      import scipy.special   # noqa: PLC0415 -- only this method needs it
      sigma = train_scores.std()
      p = scipy.special.erf((e - train_scores.mean()) / (max(sigma, np.finfo(np.float64).tiny) * np.sqrt(2)))
    p = np.clip(p, 0.0, 1.0)
    proba = np.stack([1.0 - p, p], axis=1)
    if not return_confidence:
      return proba
    labels = self.predict_from_scores(energies, self.out_of_range_)
    return proba, self._confidence(energies, labels)

  def predict_confidence(self, x: Any) -> np.ndarray:
    """``[N]`` in [0, 1]: the confidence that ``predict``'s label would stay the same
    had the model been trained on another sample of the same size (ExCeeD, Perini
    et al. 2020, as PyOD's ``predict_confidence``). From the energy's rank among
    ``decision_scores_`` (n rows): the outlier probability ``p = (1 + #{training
    energies <= e}) / (2 + n)``, then ``P(label 1) = 1 - BinomCDF(n - floor(n *
    contamination); n, p)``; a row labelled 0 gets ``1 - P(label 1)``. A row
    labelled 1 only for lying outside the training range gets its energy's
    (low) confidence."""
    energies = self.decision_function(x)
    return self._confidence(energies, self.predict_from_scores(energies, self.out_of_range_))

  def _confidence(self, energies: np.ndarray, labels: np.ndarray) -> np.ndarray:
    import scipy.stats   # noqa: PLC0415 -- only the confidence needs it
    train_scores = np.sort(self._training_scores('predict_confidence'))
    n = len(train_scores)
    below = np.searchsorted(train_scores, np.asarray(energies, np.float64), side='right')
    p = (1.0 + below) / (2.0 + n)
    outlier = 1.0 - scipy.stats.binom.cdf(n - int(n * self._contamination()), n, p)
    return np.where(np.asarray(labels) == 1, outlier, 1.0 - outlier)

  def embed(self, x: Any) -> np.ndarray:
    """``[N, latent + 2]``: the rows ``z`` the GMM sees (code, relative distance, cosine)."""
    self._require_fitted()
    x = self._check_x(x, 'X')
    z, _ = inference.embed(build_net(self._trained_config()), self.params_, jnp.asarray(x),
                           jnp.arange(x.shape[0]), jnp.asarray(self.shift_), jnp.asarray(self.scale_))
    return np.asarray(jax.device_get(z))

  # -- persistence --------------------------------------------------------------------
  def save(self, path: str | os.PathLike) -> None:
    """Writes the model folder ``path`` atomically (a temporary folder renamed into
    place); an existing model folder there is replaced. A path that is a file, or
    a non-empty folder holding no model, is refused (``FileExistsError``) and left
    as it is. ``model.json`` records the sha256 digests of ``config.json`` and
    ``params.msgpack``, which ``load`` checks."""
    self._require_fitted()
    path = pathlib.Path(path)
    if path.exists() and not path.is_dir():
      raise FileExistsError(f'cannot save the model to {path}: it is a file, not a model folder; '
                            'nothing was changed (choose another path or remove the file)')
    if path.is_dir() and any(path.iterdir()) and not (path / 'model.json').is_file():
      raise FileExistsError(f'cannot save the model to {path}: it is a folder that holds no DAGMM '
                            'model (no model.json); nothing was changed (choose another path)')
    config = self._trained_config()
    got = self.__dict__.get
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = files.temp_dir(path.parent, prefix=f'.{path.name}.tmp-')
    try:
      tree = {'params': self.params_, 'gmm': self.gmm_._asdict(),
              'shift': self.shift_, 'scale': self.scale_}
      if got('decision_scores_') is not None:
        tree['decision_scores'] = self.decision_scores_
      tree = jax.tree_util.tree_map(np.asarray, tree)
      written = {'config.json': (config.to_json(indent=2) + '\n').encode(),
                 'params.msgpack': flax.serialization.msgpack_serialize(tree)}
      as_list = lambda a: None if a is None else [float(v) for v in a]
      meta = {'format_version': FORMAT_VERSION, 'input_shape': list(self.input_shape_),
              'input_dtype': self.input_dtype_, 'threshold': self.threshold_,
              'contamination': self._contamination(),
              'flag_out_of_range': self._flag(config, len(self.input_shape_)),
              'feature_names': got('feature_names_in_'), 'feature_min': as_list(got('feature_min_')),
              'feature_max': as_list(got('feature_max_')),
              'sha256': {f: hashlib.sha256(b).hexdigest() for f, b in written.items()},
              'history': got('history_', []), 'health': got('health_')}
      written['model.json'] = (json.dumps(meta, indent=2) + '\n').encode()
      for name, data in written.items():
        (tmp / name).write_bytes(data)
      old = None
      if path.exists():
        old = path.with_name(f'.{path.name}.old-{os.getpid()}')
        os.replace(path, old)
      os.replace(tmp, path)
      if old is not None:
        shutil.rmtree(old)
    except BaseException:
      shutil.rmtree(tmp, ignore_errors=True)
      raise

  @classmethod
  def load(cls, path: str | os.PathLike, require_threshold: bool = True) -> 'DAGMM':
    """The model saved at ``path``, checked before any use; ``ModelError`` names
    the file that is missing, edited or does not match (see the module doc).
    Every fitted attribute is restored; ``decision_scores_`` and ``labels_`` only
    from folders that hold the training energies (saved by ``fit``-ted models
    of this version), else they are absent.

    Format-1 folders have no digests and no training
    range: they load with the other checks. ``require_threshold=False`` loads a
    model without a finite threshold (a reproduction saves a seed whose
    training failed with threshold NaN) to look at its networks; it cannot label rows.
    """
    path = pathlib.Path(path)
    if not path.is_dir():
      raise ModelError(f'no saved DAGMM model at {path}: folder does not exist')
    missing = [f for f in FILES if not (path / f).is_file()]
    if missing:
      raise ModelError(f'incomplete DAGMM model at {path}: missing {missing} (expected {list(FILES)})')
    data = {f: (path / f).read_bytes() for f in FILES}
    meta = _parse(path, 'model.json', lambda: json.loads(data['model.json']))
    version = meta.get('format_version') if isinstance(meta, dict) else None
    if version not in READABLE_VERSIONS:
      raise ModelError(f'corrupt DAGMM model at {path}: model.json has format_version {version!r}, '
                       f'expected one of {list(READABLE_VERSIONS)}')
    for name, digest in (meta.get('sha256') or {}).items():
      if name in DIGESTED and hashlib.sha256(data[name]).hexdigest() != digest:
        raise ModelError(f'DAGMM model at {path}: {name} was changed after the model was saved (its '
                         'sha256 differs from the one model.json records); restore it or save the model again')
    config = _parse(path, 'config.json', lambda: ml_collections.ConfigDict(json.loads(data['config.json'])))
    net = _parse(path, 'config.json', lambda: build_net(config))
    tree = _parse(path, 'params.msgpack', lambda: flax.serialization.msgpack_restore(data['params.msgpack']))

    def build() -> 'DAGMM':
      model = cls(config, meta.get('contamination'), flag_out_of_range=meta.get('flag_out_of_range'))
      model.config_ = ml_collections.ConfigDict(config.to_dict())
      model.contamination_ = model._resolved_contamination(model.config_)
      model.params_ = tree['params']
      model.gmm_ = gmm.GMMParams(tree['gmm']['phi'], tree['gmm']['mu'], tree['gmm']['cov'])
      model.shift_, model.scale_ = np.asarray(tree['shift']), np.asarray(tree['scale'])
      model.input_shape_ = tuple(int(d) for d in meta['input_shape'])
      model.input_dtype_ = np.dtype(meta.get('input_dtype', 'float32')).name   # older models: float32
      model.n_features_in_ = int(np.prod(model.input_shape_))
      model.flag_out_of_range_ = model._flag(model.config_, len(model.input_shape_))
      model.threshold_ = float(meta['threshold'] if meta['threshold'] is not None else 'nan')
      model.history_ = meta.get('history', [])
      model.health_ = meta.get('health')   # None in models saved before it was recorded
      model.feature_names_in_ = meta.get('feature_names')
      model.feature_min_ = model.feature_max_ = None    # format 1: no training range
      if meta.get('feature_min') is not None:
        model.feature_min_ = np.asarray(meta['feature_min'], np.float64)
        model.feature_max_ = np.asarray(meta['feature_max'], np.float64)
      if 'decision_scores' in tree:
        model.decision_scores_ = np.asarray(tree['decision_scores'])
      return model
    model = _parse(path, 'model.json', build)
    problem = _mismatch(net, model)
    if problem:
      raise ModelError(f'DAGMM model at {path} does not match its config.json: {problem}')
    if require_threshold and not np.isfinite(model.threshold_):
      raise ModelError(f'DAGMM model at {path}: model.json has threshold {model.threshold_}, not a finite '
                       'number; this model cannot label rows (a reproduction saves a seed whose training '
                       'failed this way: DAGMM.load(path, require_threshold=False) loads its networks)')
    if 'decision_scores_' in model.__dict__ and np.isfinite(model.threshold_):
      model.labels_ = model.predict_from_scores(model.decision_scores_)
    return model


def _parse(path: pathlib.Path, name: str, read: Callable[[], Any]) -> Any:
  """``read()``, any failure turned into a ``ModelError`` naming ``path/name``."""
  try:
    return read()
  except Exception as e:   # noqa: BLE001 -- any failure means a corrupt file
    raise ModelError(f'corrupt DAGMM model at {path}: {name}: {type(e).__name__}: {e}') from None


def _shapes(tree: Any) -> dict[str, tuple[int, ...]]:
  leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
  return {jax.tree_util.keystr(k): tuple(np.shape(v)) for k, v in leaves}


def _mismatch(net: DAGMMNet, model: DAGMM) -> str | None:
  """What in a loaded model does not fit the networks ``net`` (its config.json
  describes them), or None: the parameter tree and shapes (``jax.eval_shape``
  of ``net.init``, nothing computed), the GMM's, the scaler's and the training range's."""
  sample = jax.ShapeDtypeStruct((1, *model.input_shape_), jnp.float32)
  try:
    expected, z = jax.eval_shape(lambda x: net.init_with_output({'params': jax.random.PRNGKey(0)}, x,
                                                                train=False)[::-1], sample)
  except Exception as e:   # noqa: BLE001 -- a config.json the networks cannot be built from
    return f'config.json builds no network for input shape {model.input_shape_} ({type(e).__name__}: {e})'
  want, got = _shapes(expected), _shapes(model.params_)
  if want != got:
    diff = [f'{k}: config.json gives {want.get(k, "nothing")}, params.msgpack holds {got.get(k, "nothing")}'
            for k in sorted(want.keys() | got.keys()) if want.get(k) != got.get(k)]
    return 'the networks in params.msgpack differ: ' + '; '.join(diff[:4]) + (' ...' if len(diff) > 4 else '')
  k, d = int(model.config_.model.n_mixtures), int(z.z.shape[1])
  features = model.input_shape_[0] if len(model.input_shape_) == 1 else 1
  checks = {'gmm phi': (model.gmm_.phi, (k,)), 'gmm mu': (model.gmm_.mu, (k, d)),
            'gmm cov': (model.gmm_.cov, (k, d, d)), 'scaler shift': (model.shift_, (features,)),
            'scaler scale': (model.scale_, (features,))}
  if model.feature_min_ is not None:   # range_features: a value per feature, or one per image
    checks.update({'training range min (model.json)': (model.feature_min_, (features,)),
                   'training range max (model.json)': (model.feature_max_, (features,))})
  for what, (a, shape) in checks.items():
    if np.shape(a) != shape:
      return f'{what} has shape {np.shape(a)}, config.json and input_shape give {shape}'
  return None
