"""Where a training step's time goes: traces compiled epochs and sums the XLA ops.

  python -m benchmarks.profile_step --config experiments/kdd.py --seeds 20 --epochs 1

Traces ``--epochs`` epochs of the real training program (after a warm-up call)
with ``jax.profiler`` and prints milliseconds per step by kind of op (dense dots
and YNNPACK library fusions, LAPACK calls, other XLA kernels) and the slowest
ops, with the HLO op they come from. Writes OUT/profile.json, OUT/profile.md and
the compiled program (OUT/program.hlo.txt) to look the ops up in.
"""
import pathlib

from absl import flags
from ml_collections import config_flags

from benchmarks import lib
from dagmm_jax.cli import common

CONFIG = config_flags.DEFINE_config_file('config', 'experiments/kdd.py', 'Experiment config.')
OUT = flags.DEFINE_string('out', 'runs/profile', 'Output directory (trace and summary).')
SEEDS = flags.DEFINE_integer('seeds', 20, 'Seeds trained together.')
EPOCHS = flags.DEFINE_integer('epochs', 1, 'Epochs traced.')


def main():
  common.setup()   # as the commands: the CPU lowering they train with
  out = pathlib.Path(OUT.value)
  result = lib.profile_steps(CONFIG.value, SEEDS.value, EPOCHS.value, out)
  lib.write_report(out, 'profile', result, lib.profile_markdown(result))


if __name__ == '__main__':
  common.run(main)
