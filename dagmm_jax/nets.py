"""Flax linen networks. They know nothing about Gaussian mixtures."""
from typing import Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp

ACTIVATIONS: dict[str, Callable[[jnp.ndarray], jnp.ndarray]] = {
    'tanh': nn.tanh, 'relu': nn.relu, 'sigmoid': nn.sigmoid, 'gelu': nn.gelu,
}


def get_activation(name: str) -> Callable[[jnp.ndarray], jnp.ndarray]:
  """Looks up an activation by name."""
  if name not in ACTIVATIONS:
    raise ValueError(f'unknown activation {name!r}; known: {sorted(ACTIVATIONS)}')
  return ACTIVATIONS[name]


class MLP(nn.Module):
  """Dense layers with ``activation`` between them and a linear last layer."""
  features: Sequence[int]
  activation: str = 'tanh'

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    act = get_activation(self.activation)
    for i, width in enumerate(self.features):
      x = nn.Dense(width, name=f'dense_{i}')(x)
      if i < len(self.features) - 1:
        x = act(x)
    return x


class DenseAutoencoder(nn.Module):
  """Compression network: ``D-h1-..-hn-latent-hn-..-h1-D`` (linear code and output)."""
  hidden: Sequence[int]
  latent_dims: int
  activation: str = 'tanh'

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Returns ``(z_c, x_hat)``."""
    z_c = MLP((*self.hidden, self.latent_dims), self.activation, name='encoder')(x)
    x_hat = MLP((*reversed(self.hidden), x.shape[-1]), self.activation, name='decoder')(z_c)
    return z_c, x_hat


class EstimationNet(nn.Module):
  """Estimation network: MLP with dropout, softmax over ``n_mixtures`` (gamma)."""
  hidden: Sequence[int]
  n_mixtures: int
  dropout_rate: float = 0.5
  activation: str = 'tanh'

  @nn.compact
  def __call__(self, z: jnp.ndarray, train: bool) -> jnp.ndarray:
    act = get_activation(self.activation)
    for i, width in enumerate(self.hidden):
      z = act(nn.Dense(width, name=f'dense_{i}')(z))
    z = nn.Dropout(self.dropout_rate, deterministic=not train)(z)
    return nn.softmax(nn.Dense(self.n_mixtures, name='logits')(z), axis=-1)
