"""``mock``: a small synthetic tabular data set for tests and smoke runs (as
``tfds.testing.mock_data`` stands in for a real set), generated in memory, the
same on every machine; no file, no download.

Normal rows (y = 0) lie near a 2-dimensional plane in 6 features with a little
noise; anomalies (y = 1, 10% of the rows) are drawn off that plane. Nothing
measured on it is a claim about DAGMM: it exists so that the training, scoring
and reporting path can run without the benchmark files.
"""
import numpy as np

N_ROWS, N_FEATURES, ANOMALY_RATE = 600, 6, 0.1


def mock_tabular(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """``(x [600, 6] float32, y [600] int8)``; the anomalies are the last 10% of rows."""
  rng = np.random.default_rng(seed)
  n_anomalies = int(N_ROWS * ANOMALY_RATE)
  basis = rng.normal(size=(2, N_FEATURES))
  normal = rng.normal(size=(N_ROWS - n_anomalies, 2)) @ basis + 0.05 * rng.normal(size=(N_ROWS - n_anomalies, N_FEATURES))
  anomalies = rng.normal(size=(n_anomalies, N_FEATURES)) * 1.5
  x = np.concatenate([normal, anomalies]).astype(np.float32)
  y = np.concatenate([np.zeros(N_ROWS - n_anomalies), np.ones(n_anomalies)]).astype(np.int8)
  return x, y
