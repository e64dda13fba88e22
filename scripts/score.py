"""Scores an image folder or tabular rows (CSV/NPY) with a saved model. (``dagmm-score``: dagmm_jax/cli/score.py)."""
from dagmm_jax.cli.score import main

main()
