"""Inspection report of a trained image inspector on OK and NG test folders. (``dagmm-report``: dagmm_jax/cli/report.py)."""
from dagmm_jax.cli.report import main

main()
