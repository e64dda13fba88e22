"""One DAGMM run (one seed unless --seeds says otherwise).

  python scripts/train.py --config experiments/kdd.py --workdir runs/kdd_seed0
  python scripts/train.py --config experiments/kdd.py --workdir runs/x --config.seed=3 --config.num_epochs=20
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from dagmm_jax import cli  # noqa: E402

if __name__ == '__main__':
  cli.run(default_seeds=1)
