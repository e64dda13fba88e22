"""Visual inspection: one convolutional DAGMM per region of a pattern.

Multi-region choice: every region of the pattern gets its own model (its own
compression network with the region's ``filters``, its own GMM); an image's
energy is the SUM of its regions' energies, and the decision threshold is the
summed training energy above which a share ``config.contamination`` of the
training images lies.
Per-region energies are kept too (``Scores.region_energies``) for reports.

Workdir layout::

  inspector.json          pattern, regions, channels, threshold, training folders
  metrics.json            per region, the training history
  regions/<name>/         one ``estimator.DAGMM`` model folder per region
  training/<name>/        its training checkpoints (``config.checkpoints_to_keep``:
                          0 keeps every one, for ``Inspector.load(workdir, step=N)``)
"""
from __future__ import annotations

import json
import os
import pathlib
from typing import NamedTuple

import ml_collections
import numpy as np

from dagmm_jax import config_check, files
from dagmm_jax.estimator import DAGMM, ModelError, threshold
from dagmm_jax.data import read_rows
from dagmm_jax.data.images import Region, get_pattern, load_folder, tile_scores, to_tiles, validate_pattern

FORMAT_VERSION = 1


class Scores(NamedTuple):
  """Scores of one image folder."""
  names: list[str]
  energies: np.ndarray                     # [N] summed over regions (members: standardised mean)
  region_energies: dict[str, np.ndarray]   # [N] per region (of the first member)
  is_anomaly: np.ndarray                   # [N] 0/1 at the stored threshold
  out_of_range: np.ndarray                 # [N] bool: a region's mean intensity outside its training range
  member_energies: list[np.ndarray]        # [R] per member, its image energies [N] (energies combines them)


def region_config(config: ml_collections.ConfigDict, region: Region) -> ml_collections.ConfigDict:
  """``config`` with the region's encoder filters."""
  c = ml_collections.ConfigDict(config.to_dict())
  c.model.filters = tuple(region.filters)
  return c


def member_seeds(config: ml_collections.ConfigDict) -> list[int]:
  """The seeds of an inspector's members: ``config.seed`` and the ``config.num_seeds - 1`` after it."""
  return [int(config.seed) + i for i in range(int(config.get('num_seeds', 1)))]


def standardised_mean(energies: list[np.ndarray], standardise: list[tuple[float, float]]) -> np.ndarray:
  """The members' ensemble score: each member's energies minus its training median,
  over its training IQR (``standardise``, one pair per member), averaged."""
  return np.mean([(e - med) / iqr for e, (med, iqr) in zip(energies, standardise)], axis=0)


class Inspector:
  """The models of every region of one pattern plus the image-level threshold.

  With ``config.num_seeds = R > 1`` every region has R models (members, seeds
  ``member_seeds``), trained together in one compiled program; an image's score is
  then the mean over members of its member energy standardised by that member's
  training images (``(e - median) / IQR``), so that a single image can be scored.
  With one member the score is the energy itself.
  """

  def __init__(self, config: ml_collections.ConfigDict, regions: list[Region]):
    self.config = config
    self.regions = regions
    self.members: list[dict[str, DAGMM]] = []   # per seed, per region
    self.standardise: list[tuple[float, float]] = []   # per member: (median, IQR) of its training images
    self.threshold: float | None = None
    self.folders: dict[str, str | None] = {'train': None, 'val': None}   # what fit() read
    self.step: int | None = None   # the training epoch of the networks (None: final)

  @property
  def models(self) -> dict[str, DAGMM]:
    """The first member's model of each region."""
    return self.members[0] if self.members else {}

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict) -> 'Inspector':
    return cls(config, get_pattern(config.patterns, config.pattern))

  def load_images(self, folder: str | os.PathLike, skip_bad_images: bool | None = None):
    """``data.images.ImageSet`` of ``folder`` for this pattern; ``skip_bad_images``
    (None: ``config.skip_bad_images``) skips unreadable files with a warning."""
    skip = self.config.get('skip_bad_images', False) if skip_bad_images is None else skip_bad_images
    return load_folder(folder, self.regions, int(self.config.channels), bool(skip))

  @config_check.checks_config   # before anything is written (the lock's file too)
  @files.holds_workdir_lock
  def fit(self, train_dir: str | os.PathLike, val_dir: str | os.PathLike | None = None,
          verbose: bool = False, workdir: str | os.PathLike | None = None) -> 'Inspector':
    """Trains every member's model of each region on the OK images of ``train_dir``
    (a tiled region on their tiles). With ``workdir``, each region's training is
    checkpointed in ``workdir/training/<region>`` and an interrupted fit resumes there."""
    train_set = self.load_images(train_dir)
    val_set = self.load_images(val_dir) if val_dir is not None else None
    self.folders = {'train': str(pathlib.Path(train_dir).resolve()),
                    'val': None if val_dir is None else str(pathlib.Path(val_dir).resolve())}
    seeds = member_seeds(self.config)
    self.members = [{} for _ in seeds]
    for r in self.regions:
      x = region_input(train_set.arrays[r.name], r)
      if verbose:
        print(f'region {r.name!r}: {len(train_set.names)} images, model input {x.shape[1:]}'
              f'{f" ({r.tiles} x {r.tiles} tiles each)" if r.tiles > 1 else ""}, seeds {seeds}', flush=True)
      models = DAGMM(region_config(self.config, r), verbose=verbose).fit_seeds(
          x, seeds, x_val=None if val_set is None else region_input(val_set.arrays[r.name], r),
          workdir=None if workdir is None else pathlib.Path(workdir) / 'training' / r.name)
      for member, model in zip(self.members, models):
        member[r.name] = model
        if verbose:
          print(health_line(f'{r.name}, seed {model.config.seed}', model.health_), flush=True)
    self._set_threshold(train_set, val_set)
    return self

  def _member_energies(self, member: dict[str, DAGMM], arrays: dict[str, np.ndarray] | None
                       ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``(image energies [N], out of range [N], per region [N])`` of one member: its
    regions' energies (a tiled region's reduced over tiles, ``config.tile_top_k``)
    summed. ``arrays`` None: the training images (the models' ``decision_scores_``)."""
    total, outside, per_region = 0.0, False, {}
    for r in self.regions:
      model = member[r.name]
      if arrays is None:
        e, out = model.decision_scores_, np.zeros(len(model.decision_scores_), bool)
      else:
        e = model.decision_function(region_input(arrays[r.name], r))
        out = model.out_of_range_
      per_region[r.name] = tile_scores(e, r.tiles, int(self.config.get('tile_top_k', 1)))
      total = total + per_region[r.name]
      outside = outside | np.any(np.reshape(out, (-1, r.tiles * r.tiles)), axis=1)
    return np.asarray(total), np.asarray(outside, bool), per_region

  def _combine(self, energies: list[np.ndarray]) -> np.ndarray:
    """The image scores: one member's energies, or the mean of the members' standardised ones."""
    if len(energies) == 1:
      return energies[0]
    return standardised_mean(energies, self.standardise)

  def _set_threshold(self, train_set, val_set) -> None:
    """Each member's standardisation (median and IQR of its training image energies)
    and the image score above which a share ``config.contamination`` of the
    training (or validation) images lies."""
    train = [self._member_energies(m, None)[0] for m in self.members]
    q = [np.percentile(e, [25, 50, 75]) for e in train]
    self.standardise = [(float(b), float(max(c - a, np.finfo(np.float32).tiny))) for a, b, c in q]
    if self.config.get('threshold_source', 'train') == 'val':
      scores = self._combine([self._member_energies(m, val_set.arrays)[0] for m in self.members])
    else:
      scores = self._combine(train)
    self.threshold = threshold(scores, self.config.get('contamination', 0.01))

  def score_arrays(self, arrays: dict[str, np.ndarray], names: list[str]) -> Scores:
    if not self.members:
      raise ModelError('the inspector is not fitted: call fit() or Inspector.load() first')
    per_member = [self._member_energies(m, arrays) for m in self.members]
    energies = self._combine([e for e, _, _ in per_member])
    outside = np.any([o for _, o, _ in per_member], axis=0)
    flagged = energies > self.threshold
    if self.config.get('flag_out_of_range', False):   # images: reported, not flagged by default
      flagged |= outside
    return Scores(names, energies, per_member[0][2], flagged.astype(np.int64), outside,
                  [e for e, _, _ in per_member])

  def embed(self, region: str, images: np.ndarray) -> np.ndarray:
    """``[N, latent + 2]`` the first member's ``z`` of each image of ``region``; of
    a tiled region, the ``z`` of the image's highest-energy tile."""
    r = next(r for r in self.regions if r.name == region)
    model, x = self.models[region], region_input(images, r)
    z = model.embed(x)
    if r.tiles == 1:
      return z
    worst = np.argmax(model.decision_function(x).reshape(-1, r.tiles * r.tiles), axis=1)
    return z.reshape(len(images), r.tiles * r.tiles, -1)[np.arange(len(images)), worst]

  def score_folder(self, folder: str | os.PathLike, skip_bad_images: bool | None = None) -> Scores:
    """Energies of every image of ``folder`` (``skip_bad_images`` as in ``load_images``)."""
    s = self.load_images(folder, skip_bad_images)
    return self.score_arrays(s.arrays, s.names)

  def metrics_log(self) -> dict[str, list[dict]]:
    """Per region (and seed, with several members), the training history."""
    if len(self.members) == 1:
      return {name: m.history_ for name, m in self.models.items()}
    return {f'{name}/seed_{m.config.seed}': m.history_ for member in self.members for name, m in member.items()}

  def _model_dir(self, workdir: pathlib.Path, region: str, seed: int) -> pathlib.Path:
    """``regions/<region>`` (one member) or ``members/seed_<s>/<region>``."""
    if len(self.members) == 1:
      return workdir / 'regions' / region
    return workdir / 'members' / f'seed_{seed}' / region

  def save(self, workdir: str | os.PathLike) -> None:
    """Writes every region model, then ``inspector.json`` (atomically, last)."""
    workdir = pathlib.Path(workdir)
    for member in self.members:
      for name, m in member.items():
        m.save(self._model_dir(workdir, name, int(m.config.seed)))
    files.write_json(workdir / 'metrics.json', self.metrics_log())
    self.save_threshold(workdir)

  def save_threshold(self, workdir: str | os.PathLike) -> None:
    """(Re)writes ``inspector.json`` (config, regions, threshold) atomically; the
    region models already saved in ``workdir`` stay as they are."""
    files.write_json(pathlib.Path(workdir) / 'inspector.json', {
        'format_version': FORMAT_VERSION, 'config': json.loads(self.config.to_json()),
        'regions': [r.name for r in self.regions], 'threshold': self.threshold,
        'standardise': self.standardise, 'folders': self.folders})

  @classmethod
  def load(cls, workdir: str | os.PathLike, step: int | None = None,
           train_dir: str | os.PathLike | None = None) -> 'Inspector':
    """The inspector saved in ``workdir``; ``ModelError`` when missing or corrupt.

    With ``step`` (one member only), every region's networks are those
    checkpointed at that epoch of training (``workdir/training/<region>``), and
    their GMMs and the threshold are refitted on the training images
    (``train_dir``, default the folder ``fit`` read) the way ``fit`` did at the
    end: the inspector as it was at that epoch."""
    path = pathlib.Path(workdir) / 'inspector.json'
    if not path.is_file():
      raise ModelError(f'no image inspector in {workdir}: {path} does not exist '
                       '(train one with scripts/train_images.py)')
    try:
      meta = json.loads(path.read_text())
      config = ml_collections.ConfigDict(meta['config'])
      regions = validate_pattern(config.patterns[config.pattern])
      threshold = float(meta['threshold'])
    except Exception as e:   # noqa: BLE001
      raise ModelError(f'corrupt inspector file {path}: {type(e).__name__}: {e}') from None
    inspector = cls(config, regions)
    inspector.threshold = threshold
    inspector.folders = meta.get('folders', inspector.folders)
    inspector.standardise = [tuple(v) for v in meta.get('standardise', [])]
    seeds = member_seeds(config)
    inspector.members = [{} for _ in seeds]
    for member, seed in zip(inspector.members, seeds):
      for r in regions:
        member[r.name] = DAGMM.load(inspector._model_dir(pathlib.Path(workdir), r.name, seed))
    if step is None:
      return inspector
    if len(seeds) > 1:
      raise ModelError(f'{path}: --step scores one member; this inspector has {len(seeds)} (seeds {seeds})')
    train_dir = train_dir or inspector.folders['train']
    if train_dir is None:
      raise ModelError(f'{path} does not record its training folder: give train_dir (--train)')
    use_val = config.get('threshold_source', 'train') == 'val'
    if use_val and inspector.folders['val'] is None:
      raise ModelError(f"threshold_source='val' but {path} does not record its validation folder")
    train_set = inspector.load_images(train_dir)
    val_set = inspector.load_images(inspector.folders['val']) if use_val else None
    for r in regions:
      inspector.models[r.name].restore_epoch(
          pathlib.Path(workdir) / 'training' / r.name / 'checkpoints', step,
          region_input(train_set.arrays[r.name], r),
          None if val_set is None else region_input(val_set.arrays[r.name], r))
    inspector._set_threshold(train_set, val_set)
    inspector.step = step
    return inspector


def region_input(images: np.ndarray, region: Region) -> np.ndarray:
  """What a region's model sees: its images, or their tiles (``data.images.to_tiles``)."""
  return images if region.tiles == 1 else to_tiles(images, region.tiles)


def health_line(region: str, h: dict | None) -> str:
  """One log line on a region model's ``health_`` (``core.health.check``)."""
  if h is None:
    return f'region {region!r}: code health not recorded (a model saved before it was)'
  state = '; '.join(f'WARNING: {w}' for w in h['warnings']) or 'healthy'
  return (f"region {region!r}: code std {' '.join(f'{s:.3g}' for s in h['code_std'])}, reconstruction "
          f"error {h['reconstruction_ratio']:.2f} x the mean image's: {state}")


def is_inspector(workdir: str | os.PathLike) -> bool:
  """Whether ``workdir`` holds an image inspector (else, maybe a tabular ``DAGMM``)."""
  return (pathlib.Path(workdir) / 'inspector.json').is_file()


class ScoreSummary(NamedTuple):
  """What ``score_to_csv`` wrote: row counts."""
  rows: int
  anomalies: int
  out_of_range: int
  range_known: bool   # False: the model records no training range (format 1): nothing checked


def score_to_csv(workdir: str | os.PathLike, input_path: str | os.PathLike, out_csv: str | os.PathLike,
                 skip_bad_images: bool | None = None) -> ScoreSummary:
  """Scores an image folder (inspector workdir) or tabular rows (``estimator.DAGMM`` folder)
  and writes ``id,energy,is_anomaly,out_of_range`` (id: the file name, or the
  row's 0-based number among the data rows: one output row per input row, in
  order). ``skip_bad_images`` (None: the stored config's) skips unreadable images.
  A CSV with a header is checked against the model's ``feature_names_in_``."""
  if is_inspector(workdir):
    inspector = Inspector.load(workdir)
    s = inspector.score_folder(input_path, skip_bad_images)
    ids, energies, flags, outside = s.names, s.energies, s.is_anomaly, s.out_of_range
    known = all(m.feature_min_ is not None for m in inspector.models.values())
  else:
    model = DAGMM.load(workdir)
    rows = read_rows(input_path)
    if rows.header is not None and model.feature_names_in_ is not None:
      model._check_names(rows.header, f'{input_path} (header line)')
    energies = model.decision_function(rows.x)
    outside = model.out_of_range_
    ids, flags = [str(i) for i in range(len(energies))], model.predict_from_scores(energies, outside)
    known = model.feature_min_ is not None
  lines = ['id,energy,is_anomaly,out_of_range'] + [
      f'{i},{e:.9g},{int(f)},{int(o)}' for i, e, f, o in zip(ids, energies, flags, outside)]
  files.write_text(out_csv, '\n'.join(lines) + '\n')
  return ScoreSummary(len(ids), int(np.sum(flags)), int(np.sum(outside)), known)
