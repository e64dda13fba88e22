"""One DAGMM run (one seed unless --seeds says otherwise).

  dagmm-train --config experiments/kdd.py --workdir runs/kdd_seed0
  dagmm-train --config experiments/kdd.py --workdir runs/x --config.seed=3 --config.num_epochs=20
"""

from dagmm_jax.cli import common


def main() -> None:
  common.experiment_main(default_seeds=1, doc=__doc__)


if __name__ == '__main__':
  main()
