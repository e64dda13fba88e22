"""One DAGMM model with the scikit-learn / PyOD interface.

  model = DAGMM(config, contamination=0.01).fit(X)   # X: [N, D] rows or [N, H, W, C] images
  model.decision_function(X)    # energies: higher = more anomalous (PyOD's convention)
  model.score_samples(X)        # minus the energy: lower = more anomalous (scikit-learn's)
  model.predict(X)              # 0/1, 1 = anomaly: energy above ``threshold_`` (PyOD's 0/1)
  model.decision_scores_, model.labels_, model.threshold_   # of the training rows, after fit
  model.save('runs/m'); same = DAGMM.load('runs/m')

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

On CPU, call ``training.cpu.unroll_threefry_on_cpu()`` once first (the commands
do): the same random bits, drawn faster.

A reproduction (``experiment.train_and_evaluate``) saves each seed's model in
this format too (``WORKDIR/models/seed_<s>``), so every scorer loads either.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import time
from typing import Any, Callable, NamedTuple

import flax.serialization
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from dagmm_jax import config_check, files
from dagmm_jax.errors import UserError
from dagmm_jax.core import gmm, inference, regularizers
from dagmm_jax.training import checkpoint, train
from dagmm_jax.data.images import PIXEL_SCALES, pixel_scale
from dagmm_jax.data.protocols import fit_scaler
from dagmm_jax.core.model import DAGMMNet, build_net, squared_error

FORMAT_VERSION = 1
FILES = ('config.json', 'model.json', 'params.msgpack')


class ModelError(UserError, ValueError):
  """A saved model is missing, incomplete or corrupt, or the model is not fitted."""


def _first_seed(tree: Any) -> Any:
  return jax.tree_util.tree_map(lambda a: a[0], tree)


class Programs(NamedTuple):
  """The compiled programs of one model (``programs``); each takes the model's
  ``(params, ..., shift, scale)`` and scores every row it is given."""
  fit_gmm: Callable    # (params, x, shift, scale) -> (GMMParams over x, energies of x)
  energies: Callable   # (params, GMMParams, x, shift, scale) -> energies of x
  validate: Callable   # (params, x, x_val, shift, scale) -> (energies, squared errors) of x_val


def programs(net: DAGMMNet, regularizer: Callable) -> Programs:
  """The jitted programs of ``net`` (the GMM fitted exactly over all given rows,
  as ``inference.fit_and_score`` does for the reproductions)."""
  everything = lambda x: jnp.arange(x.shape[0])

  def fit_gmm(params, x, shift, scale):
    g, z = inference.fit_gmm(net, regularizer, params, x, everything(x), x.shape[0], shift, scale)
    return g, gmm.energy(z, g)   # the rows' energies from the same embedding

  def energies(params, g, x, shift, scale):
    return inference.energies(net, params, g, x, everything(x), shift, scale)

  def validate(params, x, x_val, shift, scale):
    g, _ = inference.fit_gmm(net, regularizer, params, x, everything(x), x.shape[0], shift, scale)
    xs = inference.scaled(x_val, shift, scale)
    out = net.apply(params, xs, train=False)   # one pass gives both the energies and the errors
    return gmm.energy(out.z, g), squared_error(xs, out.x_hat)

  return Programs(jax.jit(fit_gmm), jax.jit(energies), jax.jit(validate))


def threshold(energies: np.ndarray, contamination: float) -> float:
  """The energy above which a share ``contamination`` of ``energies`` lies
  (their ``100 (1 - contamination)`` percentile)."""
  return float(np.percentile(energies, 100.0 - 100.0 * contamination))


def _fingerprint(x: np.ndarray, x_val: np.ndarray | None) -> dict[str, Any]:
  """Shapes and sha256 digests of the training (and validation) arrays: a resumed
  run must see the same data."""
  digest = lambda a: {'shape': list(a.shape), 'sha256': hashlib.sha256(np.ascontiguousarray(a)).hexdigest()}
  return {'train': digest(x), 'val': None if x_val is None else digest(x_val)}


class DAGMM:
  """One DAGMM model; ``config`` as in ``experiments/*.py`` (one seed: ``config.seed``).

  ``contamination``: the share of the training rows above the threshold
  (default ``config.contamination``, else 0.01).
  """

  def __init__(self, config: ml_collections.ConfigDict, contamination: float | None = None,
               verbose: bool = False):
    self.config = ml_collections.ConfigDict(config.to_dict())
    self.contamination = float(config.get('contamination', 0.01) if contamination is None
                               else contamination)
    if not 0.0 <= self.contamination < 1.0:
      raise ValueError(f'contamination must be in [0, 1), got {self.contamination}')
    self.verbose = verbose
    self.params_: Any = None
    self.gmm_: gmm.GMMParams | None = None
    self.shift_: np.ndarray | None = None
    self.scale_: np.ndarray | None = None
    self.threshold_: float | None = None
    self.input_shape_: tuple[int, ...] | None = None
    self.input_dtype_: str | None = None    # 'float32', or 'uint8' / 'uint16' images
    self.decision_scores_: np.ndarray | None = None   # energies of the training rows
    self.labels_: np.ndarray | None = None            # 0/1 of the training rows
    self.history_: list[dict[str, float]] = []
    self._programs: Programs | None = None

  # -- training ---------------------------------------------------------------
  def _check_x(self, x: np.ndarray, what: str) -> np.ndarray:
    """``x`` as float32, or as it is for uint8/uint16 image batches (never copied
    to float on the host); checks its shape and dtype against the model's."""
    x = np.asarray(x)
    if x.ndim not in (2, 4) or x.shape[0] == 0:
      raise ValueError(f'{what} must be a non-empty [N, D] array or [N, H, W, C] image batch, '
                       f'got shape {x.shape}')
    given = x.dtype
    if not (x.ndim == 4 and x.dtype in PIXEL_SCALES):
      x = np.asarray(x, np.float32)
    if self.input_shape_ is not None and tuple(x.shape[1:]) != self.input_shape_:
      raise ValueError(f'{what} has sample shape {tuple(x.shape[1:])}, the model expects '
                       f'{self.input_shape_}')
    if self.input_dtype_ is not None and x.dtype != np.dtype(self.input_dtype_):
      raise ValueError(
          f'{what} has dtype {given}{"" if given == x.dtype else f" (taken as {x.dtype})"} but the '
          f'model was trained on {self.input_dtype_} images and expects dtype {self.input_dtype_}; '
          'data.images.to_unit turns uint8/uint16 images into float32 in [0, 1], images of '
          'another bit depth need a model trained on them')
    if x.dtype not in PIXEL_SCALES and not np.isfinite(x).all():
      raise ValueError(f'{what} contains NaN or inf')
    return x

  @config_check.checks_config   # before anything is written (the lock's file too)
  @files.holds_workdir_lock
  def fit(self, x: np.ndarray, y: Any = None, *, x_val: np.ndarray | None = None,
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
    if y is not None and np.ndim(y) > 1:
      raise ValueError(f'y (shape {np.shape(y)}) is ignored: training is unsupervised. Validation '
                       'rows go in as fit(X, x_val=X_val)')
    config = self.config
    self.input_shape_ = self.input_dtype_ = None
    x = self._check_x(x, 'X')
    self.input_shape_, self.input_dtype_ = tuple(x.shape[1:]), x.dtype.name
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
    n = x.shape[0]
    xd = jnp.asarray(x)
    data = train.TrainData(xd, jnp.arange(n, dtype=jnp.int32)[None], jnp.asarray([n], jnp.int32),
                           jnp.asarray(self.shift_)[None], jnp.asarray(self.scale_)[None])
    state = train.init_state(config, [int(config.seed)], self.input_shape_)
    shift, scale = jnp.asarray(self.shift_), jnp.asarray(self.scale_)
    val_every = int(config.get('val_every', 1)) if x_val is not None else 0
    xv = None if x_val is None else jnp.asarray(x_val)

    mngr, log_path, self.history_ = None, None, []
    if workdir is not None:
      workdir = pathlib.Path(workdir)
      files.claim_workdir(workdir, config.to_dict())
      files.claim_workdir(workdir, _fingerprint(x, x_val), name='data.json')
      mngr = checkpoint.manager(workdir / 'checkpoints', config.get('checkpoints_to_keep', 2) or None)
      state = checkpoint.restore(mngr, state) or state
      log_path = workdir / 'metrics.jsonl'
      done = int(state.epoch)
      if done and self.verbose:
        print(f'resuming from the checkpoint at epoch {done} in {workdir}', flush=True)
      self.history_ = [r for r in files.read_jsonl(log_path) if r['epoch'] <= done]

    started, first_epoch = time.perf_counter(), int(state.epoch)

    def on_epoch(epoch, m, seconds, st):
      row = {'epoch': epoch, 'seconds_per_epoch': seconds,
             'images_per_second' if x.ndim == 4 else 'rows_per_second': n / seconds,
             'loss': float(m.loss[0]), 'reconstruction': float(m.reconstruction[0]),
             'energy': float(m.energy[0]), 'penalty': float(m.penalty[0]),
             'n_nonfinite': int(m.n_nonfinite[0]), 'min_eig': float(np.min(m.min_eig[0]))}
      if val_every and (epoch % val_every == 0 or epoch == config.num_epochs):
        e, r = jax.device_get(self.programs.validate(_first_seed(st.params), xd, xv, shift, scale))
        row.update(val_energy=float(np.mean(e)), val_reconstruction=float(np.mean(r)))
      self.history_.append(row)
      if log_path is not None:
        files.append_jsonl(log_path, row)
      if self.verbose:
        print(' '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}' for k, v in row.items()),
              f'({train.progress(time.perf_counter() - started, epoch - first_epoch, config.num_epochs - epoch)})',
              flush=True)

    state = train.fit(config, state, data, on_epoch=on_epoch, ckpt_mngr=mngr, report_every=val_every)
    failed = int(jax.device_get(state.failed_epoch)[0])
    if failed >= 0:
      raise FloatingPointError(f'training failed: non-finite loss or gradients at epoch {failed + 1} '
                               '(try a smaller learning rate or a stronger gmm.regularizer)')
    return self._finish(_first_seed(state.params), xd, x_val)

  def _finish(self, params: Any, x: np.ndarray | jnp.ndarray, x_val: np.ndarray | None) -> 'DAGMM':
    """Sets the networks, fits the GMM exactly over ``x`` and sets the threshold."""
    self.params_ = jax.device_get(params)
    g, energies = self.programs.fit_gmm(self.params_, jnp.asarray(x), jnp.asarray(self.shift_),
                                        jnp.asarray(self.scale_))
    self.gmm_ = gmm.GMMParams(*(np.asarray(a) for a in jax.device_get(g)))
    self.decision_scores_ = np.asarray(energies)
    if self.config.get('threshold_source', 'train') == 'val':
      if x_val is None:
        raise ValueError("config.threshold_source='val' needs validation data (x_val)")
      energies = self.decision_function(x_val)
    self.threshold_ = threshold(energies, self.contamination)
    self.labels_ = self.predict_from_scores(self.decision_scores_)
    return self

  def restore_epoch(self, checkpoints: str | os.PathLike, step: int, x: np.ndarray,
                    x_val: np.ndarray | None = None) -> 'DAGMM':
    """This model with the networks checkpointed at epoch ``step`` of its training
    (``fit(..., workdir)`` saves them in ``workdir/checkpoints``; which epochs are
    kept is ``config.checkpoints_to_keep``'s), its GMM and threshold refitted on
    the training data ``x`` (and ``x_val``) as ``fit`` does at the end."""
    self._require_fitted()
    x = self._check_x(x, 'X')
    x_val = None if x_val is None else self._check_x(x_val, 'X_val')
    like = train.init_state(self.config, [int(self.config.seed)], self.input_shape_)
    try:
      with checkpoint.opened(checkpoints, None) as mngr:
        state = checkpoint.restore(mngr, like, step)
    except FileNotFoundError as e:
      raise ModelError(str(e)) from None
    return self._finish(_first_seed(state.params), x, x_val)

  # -- scoring ----------------------------------------------------------------
  def _require_fitted(self) -> None:
    if self.params_ is None:
      raise ModelError('this DAGMM is not fitted: call fit(X) or DAGMM.load(path) first')

  @property
  def programs(self) -> Programs:
    """This model's compiled programs (built on first use)."""
    if self._programs is None:
      self._programs = programs(build_net(self.config),
                                regularizers.get_regularizer(self.config.gmm.regularizer))
    return self._programs

  def decision_function(self, x: np.ndarray) -> np.ndarray:
    """Sample energies ``[N]`` (float32): higher = more anomalous."""
    self._require_fitted()
    x = self._check_x(x, 'X')
    n = x.shape[0]
    bucket = max(16, 1 << (n - 1).bit_length())   # few distinct shapes: few compilations
    xp = np.concatenate([x, np.zeros((bucket - n, *x.shape[1:]), x.dtype)]) if bucket > n else x
    energies = self.programs.energies(self.params_, self.gmm_, jnp.asarray(xp),
                                      jnp.asarray(self.shift_), jnp.asarray(self.scale_))
    return np.asarray(jax.device_get(energies))[:n]

  def score_samples(self, x: np.ndarray) -> np.ndarray:
    """Minus the energies (scikit-learn's sign: lower = more anomalous)."""
    return -self.decision_function(x)

  def predict(self, x: np.ndarray) -> np.ndarray:
    """``[N]`` int: 1 where the energy is above ``threshold_``, else 0."""
    return self.predict_from_scores(self.decision_function(x))

  def fit_predict(self, x: np.ndarray, y: Any = None, **fit_kwargs) -> np.ndarray:
    """``fit(x)``, then ``labels_``: 0/1 of the training rows."""
    return self.fit(x, y, **fit_kwargs).labels_

  def predict_from_scores(self, energies: np.ndarray) -> np.ndarray:
    """``[N]`` int 0/1 labels of energies already computed."""
    self._require_fitted()
    return (np.asarray(energies) > self.threshold_).astype(np.int64)

  def embed(self, x: np.ndarray) -> np.ndarray:
    """``[N, latent + 2]``: the rows ``z`` the GMM sees (code, relative distance, cosine)."""
    self._require_fitted()
    x = self._check_x(x, 'X')
    z, _ = inference.embed(build_net(self.config), self.params_, jnp.asarray(x), jnp.arange(x.shape[0]),
                           jnp.asarray(self.shift_), jnp.asarray(self.scale_))
    return np.asarray(jax.device_get(z))

  # -- persistence ------------------------------------------------------------
  def save(self, path: str | os.PathLike) -> None:
    """Writes the model folder ``path`` atomically (a temporary folder renamed into place)."""
    self._require_fitted()
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = files.temp_dir(path.parent, prefix=f'.{path.name}.tmp-')
    try:
      (tmp / 'config.json').write_text(self.config.to_json(indent=2) + '\n')
      meta = {'format_version': FORMAT_VERSION, 'input_shape': list(self.input_shape_),
              'input_dtype': self.input_dtype_, 'threshold': self.threshold_,
              'contamination': self.contamination, 'history': self.history_}
      (tmp / 'model.json').write_text(json.dumps(meta, indent=2) + '\n')
      tree = {'params': self.params_, 'gmm': self.gmm_._asdict(),
              'shift': self.shift_, 'scale': self.scale_}
      tree = jax.tree_util.tree_map(np.asarray, tree)
      (tmp / 'params.msgpack').write_bytes(flax.serialization.msgpack_serialize(tree))
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
  def load(cls, path: str | os.PathLike) -> 'DAGMM':
    """The model saved at ``path``; ``ModelError`` says what is missing or corrupt."""
    path = pathlib.Path(path)
    if not path.is_dir():
      raise ModelError(f'no saved DAGMM model at {path}: folder does not exist')
    missing = [f for f in FILES if not (path / f).is_file()]
    if missing:
      raise ModelError(f'incomplete DAGMM model at {path}: missing {missing} (expected {list(FILES)})')
    try:
      config = ml_collections.ConfigDict(json.loads((path / 'config.json').read_text()))
      meta = json.loads((path / 'model.json').read_text())
      tree = flax.serialization.msgpack_restore((path / 'params.msgpack').read_bytes())
      if meta.get('format_version') != FORMAT_VERSION:
        raise ValueError(f'format_version {meta.get("format_version")!r}, expected {FORMAT_VERSION}')
      model = cls(config, meta.get('contamination'))
      model.params_ = tree['params']
      model.gmm_ = gmm.GMMParams(tree['gmm']['phi'], tree['gmm']['mu'], tree['gmm']['cov'])
      model.shift_, model.scale_ = tree['shift'], tree['scale']
      model.input_shape_ = tuple(int(d) for d in meta['input_shape'])
      model.input_dtype_ = np.dtype(meta.get('input_dtype', 'float32')).name   # older models: float32
      model.threshold_ = float(meta['threshold'])
      model.history_ = meta.get('history', [])
    except Exception as e:   # noqa: BLE001 -- any parse failure means a corrupt model
      raise ModelError(f'corrupt DAGMM model at {path}: {type(e).__name__}: {e}') from None
    return model
