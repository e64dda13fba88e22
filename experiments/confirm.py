"""Issue 13 confirmation run on seeds 200-219 (never used before): the r5 cells only.

Run: python scripts/table2.py --config experiments/confirm.py --workdir runs/confirm --processes 2
(from the repository root: the exploration directories below are relative to it)

Each paper-protocol cell trains 5 restarts per seed to the end (as the r5 cells of
experiments/table2.py), which gives best-of-5, the 5-member ensemble, the
EM-refit best-of-5 (``core/em.py``) and restart 0 (the faithful run) of the same
seeds. Training was started at commit 3b0e56f, before the EM-refit scorer
existed; rerunning the command adds that row from the cells' final checkpoints
(``run_report.add_em_scores``).

THE RULE (written down and committed before any result of seeds 200-219 was read,
after the exploration below): per cell, the headline Part B scorer is the one of
best-of-5, the 5-member ensemble and the EM-refit best-of-5 with the highest mean
F1 (failed seeds as 0) over the exploration seeds pooled: 0-19
(``results/restarts``; KDDCUP and KDDCUP-Rev there ran 50 epochs) and 100-119
(``results/table2``); a tie goes to best-of-5, then the ensemble.
``table2.md`` applies it mechanically (``reports.tables.per_cell_choice``) and shows the
chosen scorer's F1 on seeds 200-219 beside the paper's. Every row is reported
either way. Why a per-cell choice: on the exploration seeds no scorer leads
everywhere (the EM refit loses 0.15-0.18 F1 on Thyroid, where best-of-5 leads;
on Arrhythmia only the ensemble beats the untrained network).
"""
import ml_collections

from dagmm_jax.experiments import table2


def get_config() -> ml_collections.ConfigDict:
  config = table2.get_config()
  config.experiments = ('arrhythmia', 'thyroid', 'kdd_rev', 'kdd')   # cheapest first
  config.protocols = ('paper',)
  config.seed = 200
  config.variants = {'r5': {'restarts': 5, 'select_epoch': 0}}
  config.exploration = ('results/restarts', 'results/table2')
  return config
