"""Multi-seed reproduction: all seeds train together; results beside the paper.

  dagmm-reproduce --config experiments/kdd.py --workdir runs/kdd --seeds 20
  dagmm-reproduce --config experiments/kdd.py --workdir runs/kdd_seed3 --seeds 1 --config.seed=3

Writes WORKDIR/results.json, WORKDIR/results.md and WORKDIR/metrics.jsonl.
Rerunning with the same workdir resumes an interrupted run.
"""

from dagmm_jax.cli import common


def main() -> None:
  common.experiment_main(doc=__doc__)


if __name__ == '__main__':
  main()
