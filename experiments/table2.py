"""The paper's Table 2: every dataset under both protocols, 20 seeds each.

Run: python scripts/table2.py --config experiments/table2.py --workdir runs/table2
Smoke run: add --quick (3 seeds, 1/100 of the epochs). Cells run cheapest
first, each in WORKDIR/<experiment>-<protocol>, and resume independently.
"""
import ml_collections


def get_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.experiments = ('thyroid', 'arrhythmia', 'kdd_rev', 'kdd')   # experiments/<name>.py
  config.protocols = ('paper', 'goad')
  config.num_seeds = 20
  return config
