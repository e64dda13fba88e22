"""Metrics with the anomaly class positive (NumPy, on host; tiny arrays)."""
from typing import Any

import numpy as np
from scipy.stats import rankdata

# What every run reports per seed (``evaluate_scores``), in table order.
NAMES = ('precision', 'recall', 'f1', 'auroc', 'auprc')


def top_k_predictions(scores: np.ndarray, k: int) -> tuple[np.ndarray, float]:
  """Flags the ``k`` highest scores; returns ``(pred [N] bool, threshold)``,
  where the threshold is the lowest flagged score."""
  scores = np.asarray(scores)
  if not 0 < k <= scores.size:
    raise ValueError(f'k must be in [1, {scores.size}], got {k}')
  order = np.argsort(-scores, kind='stable')
  pred = np.zeros(scores.shape, bool)
  pred[order[:k]] = True
  return pred, float(scores[order[k - 1]])


def precision_recall_f1(labels: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
  """Precision, recall and F1 of ``pred`` with label 1 (anomaly) positive."""
  labels, pred = np.asarray(labels).astype(bool), np.asarray(pred).astype(bool)
  tp = np.sum(labels & pred)
  precision = tp / max(np.sum(pred), 1)
  recall = tp / max(np.sum(labels), 1)
  f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
  return float(precision), float(recall), float(f1)


def auroc(labels: np.ndarray, scores: np.ndarray) -> float:
  """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
  labels = np.asarray(labels).astype(bool)
  n_pos, n_neg = labels.sum(), (~labels).sum()
  if n_pos == 0 or n_neg == 0:
    raise ValueError('AUROC needs both classes')
  ranks = rankdata(scores)
  return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _counts(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """At each distinct score, highest first, flagging every score >= it:
  ``(threshold, true positives, false positives)``."""
  labels = np.asarray(labels).astype(bool)
  order = np.argsort(-np.asarray(scores), kind='stable')
  s, l = np.asarray(scores)[order], labels[order]
  last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]   # end of each run of ties
  tp = np.cumsum(l)[last]
  return s[last], tp, last + 1 - tp


def auprc(labels: np.ndarray, scores: np.ndarray) -> float:
  """Average precision: sum over distinct thresholds of (R_n - R_{n-1}) P_n."""
  recall, precision, _ = pr_curve(labels, scores)
  return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def pr_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """``(recall, precision, threshold)`` at every distinct score, highest first."""
  threshold, tp, fp = _counts(labels, scores)
  return tp / max(np.asarray(labels).astype(bool).sum(), 1), tp / (tp + fp), threshold


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """``(false-positive rate, true-positive rate)`` from (0, 0) through every
  distinct score, highest first, to (1, 1); its trapezoid area is ``auroc``."""
  labels = np.asarray(labels).astype(bool)
  _, tp, fp = _counts(labels, scores)
  return np.r_[0.0, fp / max((~labels).sum(), 1)], np.r_[0.0, tp / max(labels.sum(), 1)]


def evaluate_scores(labels: np.ndarray, scores: np.ndarray, k: int) -> dict[str, float]:
  """All metrics of one run: top-``k`` precision/recall/F1, AUROC, AUPRC, threshold."""
  pred, threshold = top_k_predictions(scores, k)
  p, r, f1 = precision_recall_f1(labels, pred)
  return {'precision': p, 'recall': r, 'f1': f1, 'auroc': auroc(labels, scores),
          'auprc': auprc(labels, scores), 'threshold': threshold}


def threshold_for(labels: np.ndarray, scores: np.ndarray, target_recall: float | None = None,
                  max_fpr: float | None = None) -> float:
  """A decision threshold (anomaly: ``score > threshold``) chosen on labelled data.

  ``target_recall``: the highest threshold that flags at least that share of the
  anomalies (placed halfway to the next lower score, for some margin).
  ``max_fpr``: the lowest threshold that flags at most that share of the normal
  samples. Give exactly one.
  """
  labels, scores = np.asarray(labels, bool), np.asarray(scores, float)
  if (target_recall is None) == (max_fpr is None):
    raise ValueError('give exactly one of target_recall and max_fpr')
  if not np.all(np.isfinite(scores)):
    raise ValueError('scores must be finite to choose a threshold')
  if target_recall is not None:
    if not 0 < target_recall <= 1 or not labels.any():
      raise ValueError(f'target_recall must be in (0, 1] with anomalies present, got {target_recall}')
    pos = np.sort(scores[labels])[::-1]
    kth = pos[int(np.ceil(target_recall * pos.size - 1e-9)) - 1]   # the k-th highest anomaly
    below = scores[scores < kth]
    return float((kth + below.max()) / 2) if below.size else float(np.nextafter(kth, -np.inf))
  if not 0 <= max_fpr < 1 or labels.all():
    raise ValueError(f'max_fpr must be in [0, 1) with normal samples present, got {max_fpr}')
  neg = np.sort(scores[~labels])[::-1]
  return float(neg[int(np.floor(max_fpr * neg.size + 1e-9))])


def f1_failed_as_zero(rows: list[dict]) -> np.ndarray:
  """Per-row F1 (a seed, a restart member or an ensemble), a failed row as 0: how
  means that never drop a failure count them."""
  return np.asarray([0.0 if r['failed'] else r['f1'] for r in rows], float)


def spread(values: Any) -> dict[str, float]:
  """``{'mean', 'std', 'se', 'n'}`` of per-seed values: the one convention of every
  table here, the sample standard deviation (ddof=1) and the standard error
  ``std / sqrt(n)``; ``std`` and ``se`` are NaN for fewer than two values, all but
  ``n`` for none."""
  v = np.asarray(values, float).ravel()
  nan = float('nan')
  std = float(v.std(ddof=1)) if v.size > 1 else nan
  return {'mean': float(v.mean()) if v.size else nan, 'std': std,
          'se': std / float(np.sqrt(v.size)) if v.size > 1 else nan, 'n': int(v.size)}


def paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
  """Mean and standard error (``spread``) of the per-seed difference ``a - b``."""
  s = spread(np.asarray(a, float) - np.asarray(b, float))
  return s['mean'], s['se']
