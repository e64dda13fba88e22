"""Image training epochs with the convolutions of ``nets.StridedConv`` against Flax's ``nn.Conv``.

  python -m benchmarks.bench_conv --out results/bench_conv

Times the compiled training epoch (``train.make_epoch_fn``: a ``lax.scan`` over
batches, members vmapped) of the one-class MNIST benchmark's inspector config
(28 x 28 x 1, filters (16, 32), batch 16, 3 members, 512 images) with the
autoencoder's strided convolutions as ``nets.conv_same`` /
``nets.conv_transpose_same`` compute them and as ``nn.Conv`` /
``nn.ConvTranspose`` do, interleaved so both see the same machine load; and the
same loss and gradient at the top level of a program, outside any loop, where
XLA's convolutions are not slowed (jax issue 12868). Reports medians and ratios.
Writes OUT/conv.json and OUT/conv.md.
"""
import contextlib
import pathlib

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from absl import flags

from benchmarks import lib
from dagmm_jax.cli import common
from dagmm_jax.core import nets
from dagmm_jax.experiments import image_benchmark
from dagmm_jax.training import train

OUT = flags.DEFINE_string('out', 'runs/bench_conv', 'Output directory.')
MEMBERS = flags.DEFINE_integer('members', 3, 'Members (seeds) vmapped in one program.')
IMAGES = flags.DEFINE_integer('images', 512, 'Training images.')
ROUNDS = flags.DEFINE_integer('rounds', 7, 'Interleaved rounds (each times both paths).')


class FlaxStridedConv(nn.Module):
  """``nets.StridedConv``'s interface on ``nn.Conv`` / ``nn.ConvTranspose``."""
  features: int
  kernel: int
  strides: int = 2
  transpose: bool = False

  @nn.compact
  def __call__(self, x):
    layer = nn.ConvTranspose if self.transpose else nn.Conv
    return layer(self.features, (self.kernel,) * 2, strides=(self.strides,) * 2, padding='SAME')(x)


@contextlib.contextmanager
def convolutions(kind: str):
  """Builds and traces the networks with ``kind`` ('ours' or 'flax') convolutions."""
  saved = nets.StridedConv
  nets.StridedConv = saved if kind == 'ours' else FlaxStridedConv
  train._init_program.cache_clear()   # its programs were traced with the other kind's modules
  try:
    yield
  finally:
    nets.StridedConv = saved
    train._init_program.cache_clear()


def _programs(config, x, kind: str):
  """``(epoch, top_level_step)``, compiled, with their arguments bound."""
  members = list(range(MEMBERS.value))
  n, s = x.shape[0], len(members)
  per_seed = lambda a: jnp.broadcast_to(jnp.asarray(a)[None], (s, *np.shape(a)))
  data = train.TrainData(jnp.asarray(x), per_seed(jnp.arange(n, dtype=jnp.int32)), jnp.full((s,), n, jnp.int32),
                         per_seed(np.zeros(1, np.float32)), per_seed(np.full(1, 255.0, np.float32)))
  batch, steps = train.batch_plan(np.full(s, n), config.batch_size)
  with convolutions(kind):
    state = train.init_state(config, members, x.shape[1:])
    run_epochs = train.make_epoch_fn(config, batch, steps)
    net = nets.ConvAutoencoder(tuple(config.model.filters), config.model.encoded_dims,
                               config.model.latent_dims, config.model.activation)
    ae = jax.vmap(lambda k: net.init(k, jnp.zeros((1, *x.shape[1:]))))(jax.random.split(jax.random.PRNGKey(0), s))
    xb = jnp.asarray(x[:s * batch].reshape(s, batch, *x.shape[1:]), jnp.float32) / 255.0
    loss = lambda p, xb: jnp.mean((net.apply(p, xb)[1] - xb) ** 2)
    step = jax.jit(jax.vmap(jax.value_and_grad(loss)))
    jax.block_until_ready(step(ae, xb))
    state, m = run_epochs(state, data, 1)
    jax.block_until_ready(m)
  holder = [state]

  def epoch():
    holder[0], metrics = run_epochs(holder[0], data, 1)
    jax.block_until_ready(metrics)
  return epoch, lambda: jax.block_until_ready(step(ae, xb)), steps


def main():
  common.setup()
  config = image_benchmark.get_config().mnist
  config.model.filters = tuple(config.patterns.mnist.all.filters)
  x = np.random.default_rng(0).integers(0, 256, (IMAGES.value, 28, 28, 1), dtype=np.uint8)
  programs = {kind: _programs(config, x, kind) for kind in ('flax', 'ours')}
  steps = programs['ours'][2]
  timed = {f'{kind}_epoch': epoch for kind, (epoch, _, _) in programs.items()}
  timed.update({f'{kind}_step': lambda step=step: [step() for _ in range(steps)]   # as many as an epoch's
                for kind, (_, step, _) in programs.items()})
  med = lib.interleaved_medians(timed, ROUNDS.value)
  med = {k: v / steps if k.endswith('_step') else v for k, v in med.items()}
  result = {'members': MEMBERS.value, 'images': IMAGES.value, 'batch': int(config.batch_size), 'steps': steps,
            'device': str(jax.devices()[0]), 'rounds': ROUNDS.value,
            'median_s': med, 'epoch_ratio_flax_to_ours': med['flax_epoch'] / med['ours_epoch'],
            'step_ratio_flax_to_ours': med['flax_step'] / med['ours_step']}
  ms = lambda k: 1e3 * med[k]
  text = (f"# Strided convolutions: Flax's `nn.Conv` against `nets.StridedConv`\n\n"
          f"One-class MNIST inspector networks (28 x 28, filters {tuple(config.model.filters)}), "
          f"{MEMBERS.value} members vmapped, {IMAGES.value} images in batches of {config.batch_size} "
          f"({steps} steps), {result['device']}; median of {ROUNDS.value} interleaved rounds.\n\n"
          f"| | Flax `nn.Conv` | `nets.StridedConv` | ratio |\n|---|---|---|---|\n"
          f"| training epoch (`lax.scan` over the steps), ms per step | {ms('flax_epoch') / steps:.1f} | "
          f"{ms('ours_epoch') / steps:.1f} | **{result['epoch_ratio_flax_to_ours']:.2f}** |\n"
          f"| autoencoder loss and gradient alone, top level of a program, ms | {ms('flax_step'):.1f} | "
          f"{ms('ours_step'):.1f} | {result['step_ratio_flax_to_ours']:.2f} |\n")
  lib.write_report(pathlib.Path(OUT.value), 'conv', result, text)


if __name__ == '__main__':
  common.run(main)
