"""The paper's Table 2 in one command: every dataset, both protocols, 20 seeds.

  python scripts/table2.py --config experiments/table2.py --workdir runs/table2 [--quick]

Writes WORKDIR/table2.md (and each cell's results.json under WORKDIR/<cell>).
Rerunning with the same workdir reuses finished cells and resumes the rest.
"""
import pathlib
import sys

from absl import app, flags, logging
from ml_collections import config_flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from dagmm_jax import checkpoint, cli, grid, report  # noqa: E402

CONFIG = config_flags.DEFINE_config_file('config', 'experiments/table2.py', 'Table config file.')
WORKDIR = flags.DEFINE_string('workdir', None, 'Output directory (rerun to resume).')
QUICK = flags.DEFINE_bool('quick', False, 'Smoke run: 3 seeds, 1/100 of the epochs.')
flags.mark_flags_as_required(['workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  cli.setup_logging()
  table = CONFIG.value
  cells = {}
  for name in table.experiments:
    for protocol in table.protocols:
      config = grid.load_experiment(name)
      config.protocol, config.num_seeds = protocol, table.num_seeds
      cells[f'{name}-{protocol}'] = grid.quick(config) if QUICK.value else config
  results = grid.run_grid(cells, WORKDIR.value)
  text = report.table2_markdown(results, quick=QUICK.value)
  checkpoint.write_text(pathlib.Path(WORKDIR.value) / 'table2.md', text)
  logging.info('wrote %s', pathlib.Path(WORKDIR.value) / 'table2.md')
  print(text)


if __name__ == '__main__':
  app.run(main)
