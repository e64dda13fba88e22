"""The scorers of a run, in one registry (``SCORERS``).

A scorer is one way of turning a chunk's trained networks into a per-seed row of
metrics: the trained networks (best of R with restarts), restart 0 alone (the
plain run's initialisation), the rank-averaged ensemble of the R members, best
of R with the mixture refitted by EM, and the networks at initialisation. Each
entry says how to compute its rows (``score``, from a chunk's ``Trained``), where
a run's row keeps it (``store``/``row``) and how tables and plots name it;
``reports/tables.py``, ``reports/plots.py`` and the per-cell rule iterate the
registry, so a new scorer is one function and one entry.
"""
import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from dagmm_jax.core import metrics, objective, yardsticks
from dagmm_jax.scoring import evalset as evalset_lib
from dagmm_jax.scoring.evalset import EvalSet
from dagmm_jax.training import distributed, restarts, sharding, train

Row = dict[str, Any]
"""A scorer's row of one seed (a results.json run, or its ``ensemble``, ``em``,
``untrained`` field, or one of its ``members``): ``precision``, ``recall``,
``f1``, ``auroc``, ``auprc``, ``threshold`` (None each when it failed),
``failed``, ``failure`` (why, or None), then the scorer's own fields
(``n_members``; ``restart``, ``member_train_energy``, ``member_f1``;
``failed_at`` [epoch, step] of a seed that failed in training). A run also has
``seed``, ``n_train``, ``n_test`` and, with restarts, ``restart`` and
``member_train_energy`` of its selection."""


def metric_row(found: dict[str, float] | None, reason: str | None, **extra: Any) -> Row:
  """A scorer's row of one seed: the metrics (None each when it failed), whether
  and why it failed, then ``extra``."""
  return {**(found or {m: None for m in metrics.NAMES}), 'failed': reason is not None or found is None,
          'failure': reason, **extra}


def failure(state: train.TrainState, i: int) -> str | None:
  """Why member ``i`` of a host-side state failed in training, or None."""
  if state.failed_step[i] < 0:
    return None
  return (f'non-finite {objective.nonfinite_name(state.failed_cause[i])} at epoch '
          f'{state.failed_epoch[i] + 1}, step {state.failed_step[i]}')


def failed_at(state: train.TrainState, i: int) -> dict[str, list[int]]:
  """``{'failed_at': [epoch, step]}`` (epoch from 1) where member ``i`` failed in
  training; ``{}`` if it did not."""
  if state.failed_step[i] < 0:
    return {}
  return {'failed_at': [int(state.failed_epoch[i]) + 1, int(state.failed_step[i])]}


@dataclasses.dataclass
class Trained:
  """What a chunk's scorers see. ``state``: the seeds' final networks (host-side);
  ``trained``/``untrained``: ``evalset.seed_metrics`` of the final networks and of
  those at initialisation, per seed. With R > 1 members trained to the end,
  ``members`` (per member, seed-major) and their device-side ``member_state``."""
  config: ml_collections.ConfigDict
  seeds: list[int]
  evalset: EvalSet
  score_fn: Callable
  state: train.TrainState
  trained: list[tuple[dict | None, str | None]]
  untrained: list[tuple[dict | None, str | None]]
  members: EvalSet | None = None
  member_state: train.TrainState | None = None

  @property
  def restarts(self) -> int:
    return int(self.config.get('restarts', 1))

  @functools.cached_property
  def member_failures(self) -> list[str | None]:
    """Per member: why it failed in training, or None."""
    on_host = distributed.gather(self.member_state)
    return [failure(on_host, i) for i in range(len(self.seeds) * self.restarts)]

  @functools.cached_property
  def member_scores(self) -> tuple[list, Any]:
    """``evalset.score_all`` of every member on its seed's test rows."""
    return evalset_lib.score_all(self.config, self.score_fn, self.member_state.params, self.members)


def _trained(t: Trained) -> list[Row]:
  return [metric_row(None, why, **failed_at(t.state, i)) if (why := failure(t.state, i))
          else metric_row(*t.trained[i]) for i in range(len(t.seeds))]


def _untrained(t: Trained) -> list[Row]:
  return [metric_row(*found) for found in t.untrained]


def _every_member(t: Trained) -> list[list[Row]] | None:
  """Per seed, every member's test metrics (for analysis only; nothing selects on them)."""
  if t.members is None:
    return None
  results, R = t.member_scores[0], t.restarts
  return [[metric_row(results[i][0], t.member_failures[i] or results[i][1])
           for i in range(s * R, (s + 1) * R)] for s in range(len(t.seeds))]


def _ensemble(t: Trained) -> list[Row] | None:
  """Per seed, the rank-averaged test energies of its members (failed members left out)."""
  if t.members is None:
    return None
  (results, scored), R, out = t.member_scores, t.restarts, []
  for s in range(len(t.seeds)):
    ok = [i for i in range(s * R, (s + 1) * R) if not (t.member_failures[i] or results[i][1])]
    n = t.members.n_test[s * R]
    if ok:
      score = restarts.rank_average(np.stack([scored.energies[i, :n] for i in ok]))
      found, reason = evalset_lib.seed_metrics(t.config, t.members.test_labels[s * R], score)
    else:
      found, reason = None, 'every member failed'
    out.append(metric_row(found, reason, n_members=len(ok)))
  return out


def _em(t: Trained) -> list[Row] | None:
  """Per seed, best of R with the mixture refitted by EM (``core/em.py``) on each
  member's training rows, picked by the lowest mean EM energy on those rows
  (``restarts.pick``: no test row, no label); its test metrics, every member's
  training energy and, for analysis only, every member's test F1."""
  if t.members is None:
    return None
  return em_rows(t.config, t.member_state.params, t.members, t.seeds, t.restarts,
                 np.asarray([f is not None for f in t.member_failures]))


def em_rows(config: ml_collections.ConfigDict, params: Any, members: EvalSet, seeds: list[int],
            R: int, failed: np.ndarray) -> list[Row]:
  """The EM-refit best-of-R rows of ``seeds`` from their members' ``params``."""
  keys = jnp.stack([jax.random.fold_in(jax.random.PRNGKey(s), r) for s in seeds for r in range(R)])
  keys = sharding.shard_seeds(keys, train.seed_mesh_of(members.test_idx))
  scored, train_energy = distributed.gather(
      evalset_lib.make_em_score_fn(config)(params, members.train, members.test_idx, keys))
  choice = restarts.pick(np.asarray(train_energy), failed, R)
  out = []
  for s in range(len(seeds)):
    idx = range(s * R, (s + 1) * R)
    per = [evalset_lib.seed_metrics(config, members.test_labels[i], scored.energies[i, :members.n_test[i]])
           for i in idx]
    found, reason = per[choice[s]]
    if failed[s * R + choice[s]]:
      found, reason = None, 'every member failed in training'
    out.append(metric_row(found, reason, restart=int(choice[s]),
                          member_train_energy=[float(train_energy[i]) for i in idx],
                          member_f1=[p[0]['f1'] if p[0] else None for p in per]))
  return out


def _put(key: str) -> Callable[[Row, Any], None]:
  def store(run: Row, value: Any) -> None:
    run[key] = value
  return store


@dataclasses.dataclass(frozen=True)
class Scorer:
  """One registry entry. ``row(run)``: the run's row of this scorer (None: the run
  has none); ``score(t)``: its per-seed values for a chunk (None: it does not
  apply), kept in the run by ``store``; ``label(R)``/``plot_label(R)``: its names
  in tables and in the metric strips (None: not drawn); ``rule``: its name as a
  candidate of the per-cell rule (``experiments/confirm.py``), None if it is none;
  ``always``: summarised even for a run without seeds."""
  row: Callable[[Row], Row | None]
  score: Callable[[Trained], list | None]
  store: Callable[[Row, Any], None]
  label: Callable[[int], str]
  plot_label: Callable[[int], str] | None = None
  rule: str | None = None
  always: bool = False


SCORERS: dict[str, Scorer] = {
    'trained': Scorer(
        row=lambda run: run, score=_trained, store=lambda run, row: run.update(row),
        label=lambda R: 'DAGMM-JAX, trained' if R == 1 else f'DAGMM-JAX, best of {R}',
        plot_label=lambda R: 'trained' if R == 1 else 'best of R', rule='best-of-R', always=True),
    'ensemble': Scorer(
        row=lambda run: run.get('ensemble'), score=_ensemble, store=_put('ensemble'),
        label=lambda R: f'DAGMM-JAX, {R}-member ensemble', plot_label=lambda R: 'ensemble',
        rule='ensemble'),
    'em': Scorer(
        row=lambda run: run.get('em'), score=_em, store=_put('em'),
        label=lambda R: f'DAGMM-JAX, best of {R}, EM-refit GMM', rule='EM-refit best-of-R'),
    'restart0': Scorer(
        row=lambda run: run['members'][0] if 'members' in run else None, score=_every_member,
        store=_put('members'), label=lambda R: 'DAGMM-JAX, restart 0 alone',
        plot_label=lambda R: 'restart 0'),
    'untrained': Scorer(
        row=lambda run: run['untrained'], score=_untrained, store=_put('untrained'),
        label=lambda R: 'untrained baseline', plot_label=lambda R: 'untrained', always=True),
}


def present(runs: list[Row]) -> dict[str, list[Row]]:
  """``{scorer name: its row of every run}`` for the scorers every run has (in
  registry order; ``always`` ones even for no runs)."""
  out = {}
  for name, s in SCORERS.items():
    rows = [s.row(r) for r in runs]
    if (runs or s.always) and all(row is not None for row in rows):
      out[name] = rows
  return out


def score_runs(t: Trained, extra: list[Row]) -> list[Row]:
  """The chunk's run rows: per seed ``{'seed', **extra[i]}`` and every scorer's
  value that applies, stored in registry order."""
  runs = [{'seed': seed, **e} for seed, e in zip(t.seeds, extra)]
  for s in SCORERS.values():
    values = s.score(t)
    if values is not None:
      for run, value in zip(runs, values):
        s.store(run, value)
  return runs


# -- the image benchmark's scorers (``image_benchmark.py``): one AUROC per cell ------------

ImageCell = dict[str, Any]


def _member_mean(cell: ImageCell) -> float:
  return float(np.mean([v['auroc'] for k, v in cell['scores'].items() if k.startswith('member_')]))


def _cell_auroc(name: str) -> Callable[[ImageCell], float]:
  return lambda cell: cell['scores'][name]['auroc']


IMAGE_SCORERS: dict[str, Callable[[ImageCell], float]] = {
    'DAGMM (one model)': _cell_auroc('member_0'),   # member 0 alone
    'members (mean)': _member_mean,                 # each member alone, averaged
    'ensemble': _cell_auroc('ensemble'),            # the members' standardised energies averaged
    **{y.name: _cell_auroc(y.name) for y in yardsticks.YARDSTICKS},   # fitted on the same images
}
"""The AUROC of an image benchmark cell (a split of one task) per scorer, in table
order; ``image_benchmark.summary`` and its table iterate it."""
