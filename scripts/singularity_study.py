"""The GMM singularity study: regularizer x dataset x dtype, 20 seeds per cell.

  python scripts/singularity_study.py --config experiments/singularity.py --workdir runs/singularity [--quick]

Writes WORKDIR/study.md and PNG plots; each cell's results under WORKDIR/<cell>.
Rerunning with the same workdir reuses finished cells and resumes the rest.
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from dagmm_jax import cli, study  # noqa: E402

if __name__ == '__main__':
  cli.run_grid('experiments/singularity.py', study.write_study)
