"""Ablations of the choices the paper leaves open, and the defaults they pick.

  python scripts/ablation.py --config experiments/ablation.py --workdir runs/ablation [--quick]

Writes WORKDIR/ablation.md (each cell's results.json under WORKDIR/<cell>).
Rerunning with the same workdir reuses finished cells and resumes the rest.
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from dagmm_jax import ablation, cli  # noqa: E402

if __name__ == '__main__':
  cli.run_grid('experiments/ablation.py', ablation.write_ablation)
