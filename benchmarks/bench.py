"""Training / scoring throughput against the machine's matmul FLOP/s.

  python -m benchmarks.bench --config experiments/kdd.py --out runs/bench [--seeds 20] [--processes 2]

Prints a markdown table and writes OUT/bench.json and OUT/bench.md.
"""
import pathlib

from absl import flags
from ml_collections import config_flags

from benchmarks import lib
from dagmm_jax.cli import common

CONFIG = config_flags.DEFINE_config_file('config', 'experiments/kdd.py', 'Experiment config.')
OUT = flags.DEFINE_string('out', 'runs/bench', 'Output directory.')
SEEDS = flags.DEFINE_integer('seeds', 20, 'Seeds trained together (also measured: 1).')
EPOCHS = flags.DEFINE_integer('epochs', 2, 'Epochs per timed call.')
REPEATS = flags.DEFINE_integer('repeats', 3, 'Timed calls (the best is kept).')
PROCESSES = flags.DEFINE_integer('processes', 1, 'Also measure the seeds in this many processes '
                                 "of JAX's multi-controller runtime (as dagmm-reproduce --processes).")


def main():
  common.setup()   # as the commands: the CPU lowering they train with
  result = lib.run(CONFIG.value, SEEDS.value, EPOCHS.value, REPEATS.value, PROCESSES.value)
  lib.write_report(pathlib.Path(OUT.value), 'bench', result, lib.markdown(result))


if __name__ == '__main__':
  common.run(main)
