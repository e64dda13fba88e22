"""Multi-seed reproduction: all seeds train together; results beside the paper. (``dagmm-reproduce``: dagmm_jax/cli/reproduce.py)."""
from dagmm_jax.cli.reproduce import main

main()
