"""Label-free restarts and ensembles: R members per reported seed, as scikit-learn's
``GaussianMixture(n_init=R)`` restarts EM.

Every seed trains ``R`` members in the same vmapped program (member ``s * R + r``
is restart ``r`` of seed ``s``; keys from ``train.seed_keys``): the same split and scaling, different network
initialisations, shuffles and dropout. Restart 0 uses the seed's own keys, so it
is exactly the plain run of that seed. After ``select_epoch`` epochs the member
with the lowest mean energy on its seed's training rows (exact GMM fit over the
training rows, as at test time) is kept and trained alone to the end. Nothing
here reads a test row or a label.

When ``select_epoch`` equals the number of epochs every member trains to the
end, and the R members' test energies, rank-averaged, give a second scorer of
the same run (the ensemble).
"""
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from dagmm_jax.training import train


def repeat_members(tree: Any, restarts: int) -> Any:
  """Every leaf's leading seed axis ``[S, ...]`` repeated to ``[S * R, ...]`` (seed-major)."""
  return jax.tree_util.tree_map(lambda a: jnp.repeat(a, restarts, axis=0), tree)


def member_data(data: train.TrainData, restarts: int) -> train.TrainData:
  """The seeds' training data for their members (the feature matrix is shared)."""
  return data._replace(**{f: repeat_members(getattr(data, f), restarts)
                          for f in ('train_idx', 'n_train', 'shift', 'scale')})


def pick(train_energy: np.ndarray, failed: np.ndarray, restarts: int) -> np.ndarray:
  """``[S]`` restart index per seed: the lowest mean training energy among the
  members that did not fail and whose energy is finite; restart 0 when none qualify."""
  e = np.where(np.isfinite(train_energy) & ~failed, train_energy, np.inf).reshape(-1, restarts)
  return np.where(np.isfinite(e).any(axis=1), np.argmin(e, axis=1), 0)


def select(state: train.TrainState, choice: np.ndarray, restarts: int) -> train.TrainState:
  """The chosen member of each seed: ``[S * R, ...]`` leaves -> ``[S, ...]``."""
  idx = jnp.asarray(np.arange(len(choice)) * restarts + choice)
  return train.map_seed_fields(lambda t: jax.tree_util.tree_map(lambda a: a[idx], t), state)


def rank_average(energies: np.ndarray) -> np.ndarray:
  """``[R, n]`` member energies -> ``[n]`` ensemble score: each member's energies
  turned into ranks (ties averaged) and the ranks averaged over members. A member
  with a non-finite energy is left out of the ensemble."""
  finite = np.all(np.isfinite(energies), axis=1)
  if not finite.any():
    return np.full(energies.shape[1], np.nan)
  ranks = [_ranks(e) for e in energies[finite]]
  return np.mean(ranks, axis=0)


def _ranks(v: np.ndarray) -> np.ndarray:
  order = np.argsort(v, kind='stable')
  ranks = np.empty(len(v))
  ranks[order] = np.arange(len(v), dtype=float)
  _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
  sums = np.bincount(inverse, weights=ranks)
  return sums[inverse] / counts[inverse]
