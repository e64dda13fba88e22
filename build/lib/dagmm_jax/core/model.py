"""DAGMMNet: compression -> z = [z_c, relative distance, cosine] -> gamma."""
from typing import NamedTuple

import flax.linen as nn
import jax.numpy as jnp
import ml_collections

from dagmm_jax.core import nets

MODEL_KINDS: tuple[str, ...] = ('dense', 'conv')   # config.model.kind


class NetOutput(NamedTuple):
  x_hat: jnp.ndarray   # reconstruction, same shape as x
  z: jnp.ndarray       # [N, latent + 2]
  gamma: jnp.ndarray   # [N, K] memberships


def squared_error(x: jnp.ndarray, x_hat: jnp.ndarray) -> jnp.ndarray:
  """``[N]`` squared L2 reconstruction error per sample (summed over features, as
  the paper's objective has it, not averaged)."""
  return jnp.sum((x - x_hat).reshape(x.shape[0], -1) ** 2, axis=1)


def reconstruction_features(x: jnp.ndarray, x_hat: jnp.ndarray) -> jnp.ndarray:
  """``[N, 2]``: relative Euclidean distance and cosine similarity, guarded.

  Both denominators are floored at the dtype's epsilon, so an all-zero input
  row gives finite features (and finite gradients).
  """
  x, x_hat = x.reshape(x.shape[0], -1), x_hat.reshape(x.shape[0], -1)
  eps = jnp.finfo(x.dtype).eps
  norm_x = jnp.sqrt(jnp.sum(x * x, axis=1) + eps)
  norm_xh = jnp.sqrt(jnp.sum(x_hat * x_hat, axis=1) + eps)
  diff = x - x_hat
  rel_dist = jnp.sqrt(jnp.sum(diff * diff, axis=1) + eps) / norm_x
  cosine = jnp.sum(x * x_hat, axis=1) / (norm_x * norm_xh)
  return jnp.stack([rel_dist, cosine], axis=1)


class DAGMMNet(nn.Module):
  """The two DAGMM networks; the GMM itself lives in ``gmm.py``."""
  compression: nn.Module
  estimation: nets.EstimationNet

  def __call__(self, x: jnp.ndarray, train: bool = False) -> NetOutput:
    z_c, x_hat = self.compression(x)
    z = jnp.concatenate([z_c.reshape(x.shape[0], -1), reconstruction_features(x, x_hat)], axis=1)
    return NetOutput(x_hat, z, self.estimation(z, train=train))


def build_net(config: ml_collections.ConfigDict) -> DAGMMNet:
  """Builds the network described by ``config.model`` (``kind`` 'dense', the default, or 'conv')."""
  m = config.model
  kind = m.get('kind', 'dense')
  init = m.get('kernel_init', 'lecun_normal')
  if kind == 'conv':
    compression = nets.ConvAutoencoder(tuple(m.filters), m.encoded_dims, m.latent_dims,
                                       m.activation)
  elif kind == 'dense':
    compression = nets.DenseAutoencoder(tuple(m.hidden), m.latent_dims, m.activation, init)
  else:
    raise ValueError(f'unknown config.model.kind {kind!r}; known: {list(MODEL_KINDS)}')
  estimation = nets.EstimationNet(tuple(m.estimation_hidden), m.n_mixtures,
                                  m.dropout_rate, m.activation, init)
  return DAGMMNet(compression, estimation)
