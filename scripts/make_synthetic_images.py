"""Writes a synthetic inspection data set: train/, val/, test/ok/, test/ng/. (``dagmm-make-synthetic-images``: dagmm_jax/cli/make_synthetic_images.py)."""
from dagmm_jax.cli.make_synthetic_images import main

main()
