"""Issue 13 confirmation run on seeds 200-219 (never used before): the r5 cells only.

Run: python scripts/table2.py --config experiments/confirm.py --workdir runs/confirm --processes 2

Each paper-protocol cell trains 5 restarts per seed to the end (as the r5 cells of
experiments/table2.py), which gives best-of-5, the 5-member ensemble and restart 0
(the faithful run) of the same seeds. The members' final states stay in the cells'
checkpoints, so scorers fixed after this run was started but before any of its
results were read can be applied to the same networks (see experiments/restarts.py
for the rules).
"""
import ml_collections

from experiments import table2


def get_config() -> ml_collections.ConfigDict:
  config = table2.get_config()
  config.experiments = ('arrhythmia', 'thyroid', 'kdd_rev', 'kdd')   # cheapest first
  config.protocols = ('paper',)
  config.seed = 200
  config.variants = {'r5': {'restarts': 5, 'select_epoch': 0}}
  return config
