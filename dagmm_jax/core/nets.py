"""Flax linen networks. They know nothing about Gaussian mixtures."""
from typing import Callable, Sequence

import flax.linen as nn
import jax.numpy as jnp
import numpy as np
from jax import lax

ACTIVATIONS: dict[str, Callable[[jnp.ndarray], jnp.ndarray]] = {
    'tanh': nn.tanh, 'relu': nn.relu, 'sigmoid': nn.sigmoid, 'gelu': nn.gelu,
}


# Kernel initialisers by name. Flax's default is 'lecun_normal'; TensorFlow's (the
# framework of the paper's code) is 'glorot_uniform'. Biases start at zero in both.
INITIALIZERS: dict[str, Callable] = {
    'lecun_normal': nn.initializers.lecun_normal(),
    'glorot_uniform': nn.initializers.glorot_uniform(),
}


def get_initializer(name: str) -> Callable:
  """Looks up a kernel initialiser by name."""
  if name not in INITIALIZERS:
    raise ValueError(f'unknown kernel_init {name!r}; known: {sorted(INITIALIZERS)}')
  return INITIALIZERS[name]


def get_activation(name: str) -> Callable[[jnp.ndarray], jnp.ndarray]:
  """Looks up an activation by name."""
  if name not in ACTIVATIONS:
    raise ValueError(f'unknown activation {name!r}; known: {sorted(ACTIVATIONS)}')
  return ACTIVATIONS[name]


class MLP(nn.Module):
  """Dense layers with ``activation`` between them and a linear last layer."""
  features: Sequence[int]
  activation: str = 'tanh'
  kernel_init: str = 'lecun_normal'

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    act = get_activation(self.activation)
    init = get_initializer(self.kernel_init)
    for i, width in enumerate(self.features):
      x = nn.Dense(width, kernel_init=init, name=f'dense_{i}')(x)
      if i < len(self.features) - 1:
        x = act(x)
    return x


class DenseAutoencoder(nn.Module):
  """Compression network: ``D-h1-..-hn-latent-hn-..-h1-D`` (linear code and output)."""
  hidden: Sequence[int]
  latent_dims: int
  activation: str = 'tanh'
  kernel_init: str = 'lecun_normal'

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Returns ``(z_c, x_hat)``."""
    z_c = MLP((*self.hidden, self.latent_dims), self.activation, self.kernel_init, name='encoder')(x)
    x_hat = MLP((*reversed(self.hidden), x.shape[-1]), self.activation, self.kernel_init,
                name='decoder')(z_c)
    return z_c, x_hat


class EstimationNet(nn.Module):
  """Estimation network: MLP with dropout, softmax over ``n_mixtures`` (gamma)."""
  hidden: Sequence[int]
  n_mixtures: int
  dropout_rate: float = 0.5
  activation: str = 'tanh'
  kernel_init: str = 'lecun_normal'

  @nn.compact
  def __call__(self, z: jnp.ndarray, train: bool) -> jnp.ndarray:
    act = get_activation(self.activation)
    init = get_initializer(self.kernel_init)
    for i, width in enumerate(self.hidden):
      z = act(nn.Dense(width, kernel_init=init, name=f'dense_{i}')(z))
    z = nn.Dropout(self.dropout_rate, deterministic=not train)(z)
    return nn.softmax(nn.Dense(self.n_mixtures, kernel_init=init, name='logits')(z), axis=-1)


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, tuple[int, int]]:
  """``(out, (low, high))`` of a 'SAME' strided correlation, as ``lax`` pads it."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return out, (total // 2, total - total // 2)


def conv_same(x: jnp.ndarray, kernel: jnp.ndarray, bias: jnp.ndarray, stride: int) -> jnp.ndarray:
  """``nn.Conv(padding='SAME', strides=stride)`` on ``x [N, H, W, C]`` with ``kernel
  [k, k, C, O]``, as strided slices (one per tap) and one matrix product.

  XLA's CPU convolutions run about 2.5x slower inside a loop (``lax.scan``, where
  training runs) than at the top level of a program (jax issue 12868): this form
  runs at top-level speed in both (``benchmarks/bench_conv.py``). Equal to
  ``lax.conv_general_dilated`` up to float rounding (tests/test_nets.py).
  """
  k = kernel.shape[0]
  (oh, ph), (ow, pw) = _same_padding(x.shape[1], k, stride), _same_padding(x.shape[2], k, stride)
  xp = jnp.pad(x, ((0, 0), ph, pw, (0, 0)))
  taps = [xp[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride, :]
          for i in range(k) for j in range(k)]
  return jnp.concatenate(taps, axis=-1) @ kernel.reshape(-1, kernel.shape[-1]) + bias


def conv_transpose_same(x: jnp.ndarray, kernel: jnp.ndarray, bias: jnp.ndarray,
                        stride: int) -> jnp.ndarray:
  """``nn.ConvTranspose(padding='SAME', strides=stride)`` (output ``[N, sH, sW, O]``)
  as one matrix product and an overlap-add: each tap's products are spread
  ``stride`` apart and shifted to where ``lax.conv_transpose`` puts them. Same
  reason and check as ``conv_same``."""
  k = kernel.shape[0]
  low = k - 1 if stride > k - 1 else -(-(k + stride - 2) // 2)   # lax's 'SAME' transpose padding
  per_tap = jnp.einsum('nhwc,ijco->ijnhwo', x, kernel)
  zero = jnp.zeros((), x.dtype)
  out = 0.0
  for i in range(k):
    for j in range(k):
      out = out + lax.pad(per_tap[i, j], zero, [(0, 0, 0), (low - i, stride - 1 - low + i, stride - 1),
                                                (low - j, stride - 1 - low + j, stride - 1), (0, 0, 0)])
  return out + bias


class StridedConv(nn.Module):
  """A ``k x k`` 'SAME' convolution of stride ``strides`` (``conv_same``), or its
  transpose; parameters named, shaped and initialised as ``nn.Conv`` /
  ``nn.ConvTranspose`` (``kernel [k, k, C, O]``, ``bias [O]``), so models saved
  with those load unchanged."""
  features: int
  kernel: int
  strides: int = 2
  transpose: bool = False

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
    kernel = self.param('kernel', nn.initializers.lecun_normal(),
                        (self.kernel, self.kernel, x.shape[-1], self.features))
    bias = self.param('bias', nn.initializers.zeros_init(), (self.features,))
    return (conv_transpose_same if self.transpose else conv_same)(x, kernel, bias, self.strides)


class ConvAutoencoder(nn.Module):
  """Convolutional compression network for images ``[N, H, W, C]``.

  Encoder: one ``kernel``x``kernel`` convolution of stride 2 ('SAME') per entry of
  ``filters``, flatten, Dense ``encoded_dims``, Dense ``latent_dims`` (the linear
  code ``z_c``). Decoder: the mirror image, Dense ``latent -> encoded_dims ->``
  flattened map, then one stride-2 transposed convolution per level back to
  ``C`` channels (linear output). Odd sizes are handled by cropping each
  decoded level to the encoder's shape at that level, so ``x_hat`` always has
  the shape of ``x``.
  """
  filters: Sequence[int]
  encoded_dims: int
  latent_dims: int
  activation: str = 'tanh'
  kernel: int = 3

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Returns ``(z_c [N, latent_dims], x_hat [N, H, W, C])``."""
    if x.ndim != 4:
      raise ValueError(f'ConvAutoencoder expects images [N, H, W, C], got shape {x.shape}')
    if not self.filters:
      raise ValueError('ConvAutoencoder needs at least one entry in filters')
    act = get_activation(self.activation)
    shapes = []                                    # spatial shape entering each level
    h = x
    for i, width in enumerate(self.filters):
      shapes.append(h.shape[1:3])
      h = act(StridedConv(width, self.kernel, name=f'conv_{i}')(h))
    map_shape = h.shape[1:]
    h = act(nn.Dense(self.encoded_dims, name='enc_dense')(h.reshape(x.shape[0], -1)))
    z_c = nn.Dense(self.latent_dims, name='code')(h)

    h = act(nn.Dense(self.encoded_dims, name='dec_dense')(z_c))
    h = act(nn.Dense(int(np.prod(map_shape)), name='dec_map')(h)).reshape(x.shape[0], *map_shape)
    out_channels = (*reversed(self.filters[:-1]), x.shape[-1])
    for i, (width, (hh, ww)) in enumerate(zip(out_channels, reversed(shapes))):
      h = StridedConv(width, self.kernel, transpose=True, name=f'deconv_{i}')(h)
      h = h[:, :hh, :ww, :]
      if i < len(out_channels) - 1:
        h = act(h)
    return z_c, h
