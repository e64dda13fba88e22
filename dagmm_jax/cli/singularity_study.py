"""The GMM singularity study: regularizer x dataset x dtype, 20 seeds per cell.

  dagmm-singularity-study --config experiments/singularity.py --workdir runs/singularity [--quick]

Writes WORKDIR/study.md and PNG plots; each cell's results under WORKDIR/<cell>.
Rerunning with the same workdir reuses finished cells and resumes the rest.
"""

from dagmm_jax.cli import common


def main() -> None:
  common.grid_main('singularity', 'dagmm_jax.study:write_study', __doc__)


if __name__ == '__main__':
  main()
