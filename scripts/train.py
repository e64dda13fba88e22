"""One DAGMM run (one seed unless --seeds says otherwise). (``dagmm-train``: dagmm_jax/cli/train.py)."""
from dagmm_jax.cli.train import main

main()
