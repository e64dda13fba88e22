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
from dagmm_jax.data import load_rows
from dagmm_jax.data.images import Region, get_pattern, load_folder, validate_pattern

FORMAT_VERSION = 1


class Scores(NamedTuple):
  """Scores of one image folder."""
  names: list[str]
  energies: np.ndarray                     # [N] summed over regions
  region_energies: dict[str, np.ndarray]   # [N] per region
  is_anomaly: np.ndarray                   # [N] 0/1 at the stored threshold


def region_config(config: ml_collections.ConfigDict, region: Region) -> ml_collections.ConfigDict:
  """``config`` with the region's encoder filters."""
  c = ml_collections.ConfigDict(config.to_dict())
  c.model.filters = tuple(region.filters)
  return c


class Inspector:
  """The models of every region of one pattern plus the image-level threshold."""

  def __init__(self, config: ml_collections.ConfigDict, regions: list[Region]):
    self.config = config
    self.regions = regions
    self.models: dict[str, DAGMM] = {}
    self.threshold: float | None = None
    self.folders: dict[str, str | None] = {'train': None, 'val': None}   # what fit() read
    self.step: int | None = None   # the training epoch of the networks (None: final)

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict) -> 'Inspector':
    return cls(config, get_pattern(config.patterns, config.pattern))

  def load_images(self, folder: str | os.PathLike):
    """``data.images.ImageSet`` of ``folder`` for this pattern."""
    return load_folder(folder, self.regions, int(self.config.channels),
                       bool(self.config.get('skip_bad_images', False)))

  @config_check.checks_config   # before anything is written (the lock's file too)
  @files.holds_workdir_lock
  def fit(self, train_dir: str | os.PathLike, val_dir: str | os.PathLike | None = None,
          verbose: bool = False, workdir: str | os.PathLike | None = None) -> 'Inspector':
    """Trains one model per region on the OK images of ``train_dir``. With
    ``workdir``, each region's training is checkpointed in
    ``workdir/training/<region>`` and an interrupted fit resumes there."""
    train_set = self.load_images(train_dir)
    val_set = self.load_images(val_dir) if val_dir is not None else None
    self.folders = {'train': str(pathlib.Path(train_dir).resolve()),
                    'val': None if val_dir is None else str(pathlib.Path(val_dir).resolve())}
    for r in self.regions:
      if verbose:
        print(f'region {r.name!r}: {len(train_set.names)} images of shape '
              f'{train_set.arrays[r.name].shape[1:]}', flush=True)
      model = DAGMM(region_config(self.config, r), verbose=verbose)
      model.fit(train_set.arrays[r.name], x_val=None if val_set is None else val_set.arrays[r.name],
                workdir=None if workdir is None else pathlib.Path(workdir) / 'training' / r.name)
      self.models[r.name] = model
    self._set_threshold(val_set)
    return self

  def _set_threshold(self, val_set) -> None:
    """The summed training (or validation) energy above which a share
    ``config.contamination`` of those images lies."""
    if self.config.get('threshold_source', 'train') == 'val':
      total = sum(self.models[r.name].decision_function(val_set.arrays[r.name]) for r in self.regions)
    else:
      total = sum(self.models[r.name].decision_scores_ for r in self.regions)
    self.threshold = threshold(total, self.config.get('contamination', 0.01))

  def score_arrays(self, arrays: dict[str, np.ndarray], names: list[str]) -> Scores:
    if not self.models:
      raise ModelError('the inspector is not fitted: call fit() or Inspector.load() first')
    per_region = {r.name: self.models[r.name].decision_function(arrays[r.name]) for r in self.regions}
    energies = np.sum(np.stack(list(per_region.values())), axis=0)
    return Scores(names, energies, per_region, (energies > self.threshold).astype(np.int64))

  def score_folder(self, folder: str | os.PathLike) -> Scores:
    """Energies of every image of ``folder``."""
    s = self.load_images(folder)
    return self.score_arrays(s.arrays, s.names)

  def metrics_log(self) -> dict[str, list[dict]]:
    """Per region, the training history (loss terms, validation energy/reconstruction)."""
    return {name: m.history_ for name, m in self.models.items()}

  def save(self, workdir: str | os.PathLike) -> None:
    """Writes every region model, then ``inspector.json`` (atomically, last)."""
    workdir = pathlib.Path(workdir)
    for name, m in self.models.items():
      m.save(workdir / 'regions' / name)
    files.write_json(workdir / 'metrics.json', self.metrics_log())
    self.save_threshold(workdir)

  def save_threshold(self, workdir: str | os.PathLike) -> None:
    """(Re)writes ``inspector.json`` (config, regions, threshold) atomically; the
    region models already saved in ``workdir`` stay as they are."""
    files.write_json(pathlib.Path(workdir) / 'inspector.json', {
        'format_version': FORMAT_VERSION, 'config': json.loads(self.config.to_json()),
        'regions': [r.name for r in self.regions], 'threshold': self.threshold,
        'folders': self.folders})

  @classmethod
  def load(cls, workdir: str | os.PathLike, step: int | None = None,
           train_dir: str | os.PathLike | None = None) -> 'Inspector':
    """The inspector saved in ``workdir``; ``ModelError`` when missing or corrupt.

    With ``step``, every region's networks are those checkpointed at that epoch of
    training (``workdir/training/<region>``), and their GMMs and the threshold are
    refitted on the training images (``train_dir``, default the folder ``fit``
    read) the way ``fit`` did at the end: the inspector as it was at that epoch."""
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
    for r in regions:
      inspector.models[r.name] = DAGMM.load(pathlib.Path(workdir) / 'regions' / r.name)
    if step is None:
      return inspector
    train_dir = train_dir or inspector.folders['train']
    if train_dir is None:
      raise ModelError(f'{path} does not record its training folder: give train_dir (--train)')
    use_val = config.get('threshold_source', 'train') == 'val'
    if use_val and inspector.folders['val'] is None:
      raise ModelError(f"threshold_source='val' but {path} does not record its validation folder")
    train_set = inspector.load_images(train_dir)
    val_set = inspector.load_images(inspector.folders['val']) if use_val else None
    for r in regions:
      inspector.models[r.name].restore_epoch(pathlib.Path(workdir) / 'training' / r.name / 'checkpoints',
                                             step, train_set.arrays[r.name],
                                             None if val_set is None else val_set.arrays[r.name])
    inspector._set_threshold(val_set)
    inspector.step = step
    return inspector


def is_inspector(workdir: str | os.PathLike) -> bool:
  """Whether ``workdir`` holds an image inspector (else, maybe a tabular ``DAGMM``)."""
  return (pathlib.Path(workdir) / 'inspector.json').is_file()


def score_to_csv(workdir: str | os.PathLike, input_path: str | os.PathLike,
                 out_csv: str | os.PathLike) -> int:
  """Scores an image folder (inspector workdir) or tabular rows (``estimator.DAGMM`` folder)
  and writes ``id,energy,is_anomaly`` (id: file name or row number). Returns the
  number of anomalies."""
  if is_inspector(workdir):
    s = Inspector.load(workdir).score_folder(input_path)
    ids, energies, flags = s.names, s.energies, s.is_anomaly
  else:
    model = DAGMM.load(workdir)
    energies = model.decision_function(load_rows(input_path))
    ids, flags = [str(i) for i in range(len(energies))], model.predict_from_scores(energies)
  lines = ['id,energy,is_anomaly'] + [f'{i},{e:.9g},{int(f)}' for i, e, f in zip(ids, energies, flags)]
  files.write_text(out_csv, '\n'.join(lines) + '\n')
  return int(np.sum(flags))
