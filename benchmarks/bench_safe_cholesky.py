"""The training loss with rows-formed Cholesky factors against the plain factor, timed in one process.

  python -m benchmarks.bench_safe_cholesky --out runs/bench_safe_cholesky

Times the jitted, seed-vmapped loss and gradient of a KDDCUP-sized step (the
KDDCUP config's networks, a batch of 1024 rows of 118 features per seed) as
``objective.dagmm_loss`` computes it (``gmm.safe_cholesky``: the plain factor,
and the rows' factor for a component that has none) and with the plain factor
only (the objective before the fix), interleaved so that both see the same
machine load. Reports medians and their ratio (docs/singularity.md).
Writes OUT/safe_cholesky.json and OUT/safe_cholesky.md.
"""
import pathlib

import jax
from absl import flags

from benchmarks import lib
from dagmm_jax.cli import common
from dagmm_jax.core import gmm, objective, regularizers
from dagmm_jax.core.model import build_net
from dagmm_jax.experiments import kdd

OUT = flags.DEFINE_string('out', 'runs/bench_safe_cholesky', 'Output directory.')
SEEDS = flags.DEFINE_integer('seeds', 20, 'Seeds vmapped in one program.')
ROUNDS = flags.DEFINE_integer('rounds', 15, 'Interleaved rounds (each times both paths).')
CALLS = flags.DEFINE_integer('calls', 5, 'Calls per path and round.')


def _program(net, reg, plain: bool):
  """The jitted, vmapped loss and gradient; ``plain`` factors every covariance with ``cho_factor``."""
  def loss(params, x, key):
    real = objective._cholesky
    if plain:
      objective._cholesky = lambda r, fit, p, out, w, n: gmm.cholesky(p.cov)
    try:
      return objective.dagmm_loss(params, net, x, key, reg, 0.1, 0.005)[0]
    finally:
      objective._cholesky = real
  return jax.jit(jax.vmap(jax.value_and_grad(loss)))


def main():
  common.setup()
  config = kdd.get_config()
  net, reg = build_net(config), regularizers.get_regularizer(config.gmm.regularizer)
  s = SEEDS.value
  x = jax.random.uniform(jax.random.PRNGKey(0), (s, config.batch_size, 118))
  params = jax.vmap(lambda k: net.init({'params': k}, x[0, :1], train=False))(
      jax.random.split(jax.random.PRNGKey(1), s))
  keys = jax.random.split(jax.random.PRNGKey(2), s)
  programs = {'safe': _program(net, reg, False), 'plain': _program(net, reg, True)}
  for f in programs.values():
    jax.block_until_ready(f(params, x, keys))   # compiled outside the timing
  med = lib.interleaved_medians({k: (lambda f=f: jax.block_until_ready(f(params, x, keys)))
                                 for k, f in programs.items()}, ROUNDS.value, CALLS.value)
  result = {'seeds': s, 'batch': config.batch_size, 'device': str(jax.devices()[0]),
            'median_ms': {k: 1e3 * v for k, v in med.items()}, 'ratio_safe_to_plain': med['safe'] / med['plain'],
            'rounds': ROUNDS.value, 'calls': CALLS.value}
  text = (f"# Rows-formed Cholesky factors: cost in the training loss\n\n"
          f"KDDCUP networks, {s} seeds vmapped, batch {config.batch_size}, {result['device']}; "
          f"median of {ROUNDS.value} interleaved rounds of {CALLS.value} calls.\n\n"
          f"| loss and gradient | ms per call |\n|---|---|\n"
          f"| plain `cho_factor` (before) | {result['median_ms']['plain']:.1f} |\n"
          f"| `safe_cholesky` (now) | {result['median_ms']['safe']:.1f} |\n\n"
          f"Ratio now / before: **{result['ratio_safe_to_plain']:.3f}**.\n")
  lib.write_report(pathlib.Path(OUT.value), 'safe_cholesky', result, text)


if __name__ == '__main__':
  common.run(main)
