"""The GMM singularity study: regularizer x dataset x dtype, 20 seeds per cell. (``dagmm-singularity-study``: dagmm_jax/cli/singularity_study.py)."""
from dagmm_jax.cli.singularity_study import main

main()
