"""Multi-seed reproduction: all seeds train together; results beside the paper.

  python scripts/reproduce.py --config experiments/kdd.py --workdir runs/kdd --seeds 20

Writes WORKDIR/results.json, WORKDIR/results.md and WORKDIR/metrics.jsonl.
Rerunning with the same workdir resumes an interrupted run.
"""
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from dagmm_jax import cli  # noqa: E402

if __name__ == '__main__':
  cli.run(default_seeds=20)
