"""Metrics with the anomaly class positive (NumPy, on host; tiny arrays)."""
import numpy as np
from scipy.stats import rankdata


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


def auprc(labels: np.ndarray, scores: np.ndarray) -> float:
  """Average precision: sum over distinct thresholds of (R_n - R_{n-1}) P_n."""
  labels = np.asarray(labels).astype(bool)
  order = np.argsort(-np.asarray(scores), kind='stable')
  s, l = np.asarray(scores)[order], labels[order]
  last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]   # end of each run of ties
  tp = np.cumsum(l)[last]
  precision = tp / (last + 1)
  recall = tp / max(labels.sum(), 1)
  return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def evaluate_scores(labels: np.ndarray, scores: np.ndarray, k: int) -> dict[str, float]:
  """All metrics of one run: top-``k`` precision/recall/F1, AUROC, AUPRC, threshold."""
  pred, threshold = top_k_predictions(scores, k)
  p, r, f1 = precision_recall_f1(labels, pred)
  return {'precision': p, 'recall': r, 'f1': f1, 'auroc': auroc(labels, scores),
          'auprc': auprc(labels, scores), 'threshold': threshold}
