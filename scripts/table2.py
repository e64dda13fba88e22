"""The paper's Table 2 in one command: every dataset, both protocols, 20 seeds. (``dagmm-table2``: dagmm_jax/cli/table2.py)."""
from dagmm_jax.cli.table2 import main

main()
