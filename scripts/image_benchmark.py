"""The offline image benchmark (``dagmm-image-benchmark``: dagmm_jax/cli/image_benchmark.py)."""
from dagmm_jax.cli.image_benchmark import main

main()
