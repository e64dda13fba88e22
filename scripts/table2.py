"""The paper's Table 2 in one command: every dataset, both protocols, 20 seeds.

  python scripts/table2.py --config experiments/table2.py --workdir runs/table2 [--quick]

Writes WORKDIR/table2.md (and each cell's results.json under WORKDIR/<cell>).
Rerunning with the same workdir reuses finished cells and resumes the rest.
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from dagmm_jax import cli, grid  # noqa: E402

if __name__ == '__main__':
  cli.run_grid('experiments/table2.py', grid.write_table2)
