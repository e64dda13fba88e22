"""Ablations of the choices the paper leaves open, and the defaults they pick. (``dagmm-ablation``: dagmm_jax/cli/ablation.py)."""
from dagmm_jax.cli.ablation import main

main()
