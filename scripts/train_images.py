"""Trains the image inspector (one convolutional DAGMM per region of the pattern). (``dagmm-train-images``: dagmm_jax/cli/train_images.py)."""
from dagmm_jax.cli.train_images import main

main()
