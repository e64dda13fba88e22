"""Ablations of the choices the paper leaves open, and the defaults they pick.

  dagmm-ablation --config experiments/ablation.py --workdir runs/ablation [--quick]

Writes WORKDIR/ablation.md (each cell's results.json under WORKDIR/<cell>).
Rerunning with the same workdir reuses finished cells and resumes the rest.
"""

from dagmm_jax.cli import common


def main() -> None:
  common.grid_main('ablation', 'dagmm_jax.ablation:write_ablation', __doc__)


if __name__ == '__main__':
  main()
