"""JAX's default CPU paths against dagmm_jax/training/cpu.py's, timed in one process.

  python -m benchmarks.bench_cpu_paths --out runs/bench_cpu_paths

Times an epoch's KDDCUP-sized dropout masks with JAX's rolled Threefry CPU
lowering and with the unrolled one, and the epoch shuffle's stable argsort with
XLA's sort and with NumPy, and checks that each pair computes the same bits.
Writes OUT/cpu_paths.json and OUT/cpu_paths.md.
"""
import pathlib

from absl import flags

from benchmarks import lib
from dagmm_jax.cli import common

OUT = flags.DEFINE_string('out', 'runs/bench_cpu_paths', 'Output directory.')
SEEDS = flags.DEFINE_integer('seeds', 10, 'Seeds (one worker of a 20-seed --processes 2 run).')
REPEATS = flags.DEFINE_integer('repeats', 3, 'Timed calls per path (the best is reported).')


def main():
  common.setup()   # as the commands: the CPU lowering they train with
  result = lib.cpu_paths(SEEDS.value, repeats=REPEATS.value)
  lib.write_report(pathlib.Path(OUT.value), 'cpu_paths', result,
                         lib.cpu_paths_markdown(result))
  return 0 if result['masks_identical'] and result['sort_identical'] else 1


if __name__ == '__main__':
  common.run(main)
