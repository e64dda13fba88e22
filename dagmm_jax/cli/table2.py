"""The paper's Table 2 in one command: every dataset, both protocols, 20 seeds.

  dagmm-table2 --config experiments/table2.py --workdir runs/table2 [--quick]

Writes WORKDIR/table2.md (and each cell's results.json under WORKDIR/<cell>).
Rerunning with the same workdir reuses finished cells and resumes the rest.
"""

from dagmm_jax.cli import common


def main() -> None:
  common.grid_main('table2', 'dagmm_jax.grid:write_table2', __doc__)


if __name__ == '__main__':
  main()
