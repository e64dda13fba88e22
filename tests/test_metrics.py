"""Metrics against hand-computed values and SciPy."""
import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from dagmm_jax.core import metrics
from dagmm_jax.reports import tables


def test_top_k_and_prf_by_hand():
  scores = np.array([0.1, 0.9, 0.8, 0.3, 0.7])
  labels = np.array([0, 1, 0, 0, 1])
  pred, thr = metrics.top_k_predictions(scores, 2)
  assert pred.tolist() == [False, True, True, False, False] and thr == 0.8
  p, r, f1 = metrics.precision_recall_f1(labels, pred)
  assert (p, r) == (0.5, 0.5) and f1 == pytest.approx(0.5)
  with pytest.raises(ValueError, match='k must be'):
    metrics.top_k_predictions(scores, 0)


def test_auroc_matches_mann_whitney_with_ties():
  rng = np.random.default_rng(0)
  labels = rng.random(500) < 0.2
  scores = np.round(rng.normal(size=500) + labels, 1)   # many ties
  u = mannwhitneyu(scores[labels], scores[~labels]).statistic
  assert metrics.auroc(labels, scores) == pytest.approx(u / (labels.sum() * (~labels).sum()))


def test_auprc_by_hand_and_bounds():
  # Ranked: 1 (pos), 0.8 (neg), 0.6 (pos), 0.4 (neg): AP = 0.5 * 1 + 0.5 * 2/3.
  assert metrics.auprc(np.array([1, 0, 1, 0]), np.array([1, .8, .6, .4])) == pytest.approx(5 / 6)
  assert metrics.auprc(np.array([1, 1, 0]), np.array([3., 2., 1.])) == pytest.approx(1.0)
  # All scores tied: one threshold, precision = prevalence.
  assert metrics.auprc(np.array([1, 0, 0, 0]), np.zeros(4)) == pytest.approx(0.25)


def test_curves_agree_with_the_areas_and_with_thresholds():
  """ROC's trapezoid area is AUROC (ties included), PR's step sum is AUPRC, and each
  point is the rates of flagging every score >= its threshold."""
  rng = np.random.default_rng(1)
  labels = rng.random(400) < 0.25
  scores = np.round(rng.normal(size=400) + labels, 1)
  fpr, tpr = metrics.roc_curve(labels, scores)
  assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
  assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
  assert np.trapezoid(tpr, fpr) == pytest.approx(metrics.auroc(labels, scores), abs=1e-12)
  recall, precision, thresholds = metrics.pr_curve(labels, scores)
  assert np.sum(np.diff(np.r_[0.0, recall]) * precision) == metrics.auprc(labels, scores)
  for i in (0, 7, len(thresholds) - 1):
    flagged = scores >= thresholds[i]
    assert recall[i] == np.mean(flagged[labels]) and fpr[i + 1] == np.mean(flagged[~labels])


def test_threshold_for_reaches_the_asked_recall_or_false_positive_rate():
  rng = np.random.default_rng(0)
  labels = np.r_[np.zeros(200, bool), np.ones(50, bool)]
  scores = np.r_[rng.normal(0, 1, 200), rng.normal(2, 1, 50)]
  for r in (0.5, 0.8, 0.9, 1.0):
    t = metrics.threshold_for(labels, scores, target_recall=r)
    recall = np.mean(scores[labels] > t)
    assert recall >= r
    # the highest such threshold: the next anomaly down would drop below r
    assert np.mean(scores[labels] > np.sort(scores[labels])[::-1][int(np.ceil(r * 50)) - 1]) < r
  for f in (0.0, 0.01, 0.1, 0.5):
    t = metrics.threshold_for(labels, scores, max_fpr=f)
    assert np.mean(scores[~labels] > t) <= f
    assert np.mean(scores[~labels] >= t) > f    # lowering it any further exceeds f
  with pytest.raises(ValueError, match='exactly one'):
    metrics.threshold_for(labels, scores)
  with pytest.raises(ValueError, match='target_recall must be'):
    metrics.threshold_for(labels, scores, target_recall=0.0)


def test_spread_is_the_sample_convention_and_every_table_uses_it():
  v = [0.5, 0.7, 0.9, 0.6]
  s = metrics.spread(v)
  assert s['n'] == 4 and s['mean'] == pytest.approx(0.675)
  std = np.sqrt(sum((x - 0.675) ** 2 for x in v) / 3)               # ddof=1, by hand
  assert s['std'] == pytest.approx(std) and s['se'] == pytest.approx(std / 2)
  assert np.isnan(metrics.spread([0.5])['se']) and metrics.spread([])['n'] == 0
  assert metrics.paired([1.0, 2.0, 4.0], [0.0, 0.0, 0.0]) == pytest.approx((7 / 3, metrics.spread([1, 2, 4])['se']))
  # A results table recomputes the spread from the runs, whatever results.json stored.
  runs = [{'seed': i, 'failed': False, **dict.fromkeys(metrics.NAMES, f),
           'untrained': {'failed': False, **dict.fromkeys(metrics.NAMES, 0.1)}} for i, f in enumerate(v)]
  results = {'dataset': 'thyroid', 'protocol': 'paper', 'config': {}, 'runs': runs,
             'summary': {'trained': {'f1': {'mean': 0.675, 'std': float(np.std(v))}}}}   # population std
  row = tables.summary_rows(results)[0]
  assert f'0.6750 ± {std:.4f} ({std / 2:.4f})' in row and f'{np.std(v):.4f}' not in row
