"""The networks: dense and convolutional autoencoders through image patterns."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import load_config
from PIL import Image

from dagmm_jax.training import train
from dagmm_jax.data import images as img
from dagmm_jax.core.model import build_net


# -- network shapes -------------------------------------------------------------

@pytest.mark.parametrize('pattern,channels', [
    ({'a': {'width': 32, 'height': 24, 'region': 'all', 'filters': (8, 16)}}, 1),
    ({'b': {'width': 17, 'height': 13, 'region': (2, 3, 30, 20), 'filters': (4,)}}, 3),
    ({'c': {'width': 20, 'height': 30, 'region': [(0, 0, 40, 10), (0, 20, 40, 30), (5, 5, 15, 15)],
            'filters': (4, 8, 8)}}, 3),
    ({'d': {'width': 16, 'height': 16, 'region': [(0, 0, 8, 8), (8, 8, 16, 16)], 'filters': (4,)}}, 1),
])
def test_conv_shapes_through_pattern(pattern, channels):
  regions = img.validate_pattern(pattern)
  im = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50, 3), np.uint8))
  x = img.extract_region(im.convert('L' if channels == 1 else 'RGB'), regions[0])
  r = regions[0]
  assert x.shape == (r.height, r.width, channels) and x.dtype == np.uint8
  x = img.to_unit(x)
  config = load_config('images', model__filters=r.filters)
  net = build_net(config)
  batch = jnp.stack([jnp.asarray(x)] * 3)

  def apply(key):   # traced only (jax.eval_shape): no compilation, fast on CPU
    params = train.init_params(net, key[None], x.shape)
    return net.apply(jax.tree_util.tree_map(lambda a: a[0], params), batch)
  out = jax.eval_shape(apply, jax.random.PRNGKey(0))
  assert out.x_hat.shape == batch.shape
  assert out.z.shape == (3, config.model.latent_dims + 2)
  assert out.gamma.shape == (3, config.model.n_mixtures)


def test_conv_forward_values():
  config = load_config('images', model__filters=(4,))
  net = build_net(config)
  x = jnp.asarray(np.random.default_rng(0).uniform(size=(3, 9, 7, 1)), jnp.float32)
  variables = net.init(jax.random.PRNGKey(0), x)
  out = net.apply(variables, x)
  assert out.x_hat.shape == x.shape and bool(jnp.all(jnp.isfinite(out.z)))
  np.testing.assert_allclose(np.sum(out.gamma, axis=1), 1.0, rtol=1e-5)


def test_init_params_int_unchanged():
  config = load_config('kdd')
  keys = jax.random.split(jax.random.PRNGKey(1), 2)
  shapes = lambda n: jax.tree_util.tree_map(
      lambda a: a.shape, jax.eval_shape(lambda k: train.init_params(build_net(config), k, n), keys))
  assert shapes(7) == shapes((7,)) == shapes(np.int64(7))
  assert shapes(7)['params']['compression']['encoder']['dense_0']['kernel'] == (2, 7, 60)


def test_unknown_model_kind():
  with pytest.raises(ValueError, match="unknown config.model.kind 'cnn'"):
    build_net(load_config('images', model__kind='cnn'))


# -- strided convolutions (nets.conv_same, nets.conv_transpose_same) -------------

def _correlate(xp: np.ndarray, kernel: np.ndarray, stride: int, out: tuple[int, int]) -> np.ndarray:
  """float64 NumPy: ``out[n, a, b, o] = sum_ijc xp[n, s a + i, s b + j, c] kernel[i, j, c, o]``."""
  k = kernel.shape[0]
  y = np.zeros((xp.shape[0], *out, kernel.shape[-1]))
  for a in range(out[0]):
    for b in range(out[1]):
      patch = xp[:, stride * a:stride * a + k, stride * b:stride * b + k, :]
      y[:, a, b] = np.einsum('nijc,ijco->no', patch, kernel)
  return y


def reference_conv(x, kernel, stride):
  """'SAME' strided correlation by its definition (TensorFlow's and lax's padding)."""
  k, (h, w) = kernel.shape[0], x.shape[1:3]
  pads = [(lambda o, t: (o, (t // 2, t - t // 2)))(-(-s // stride), max((-(-s // stride) - 1) * stride + k - s, 0))
          for s in (h, w)]
  xp = np.pad(x, ((0, 0), pads[0][1], pads[1][1], (0, 0)))
  return _correlate(xp, kernel, stride, (pads[0][0], pads[1][0]))


def reference_conv_transpose(x, kernel, stride):
  """'SAME' transposed convolution as lax defines it: the input dilated by ``stride``,
  padded by (k - 1 if stride > k - 1 else ceil((k + stride - 2) / 2), the rest of
  k + stride - 2), then correlated with the (unflipped) kernel at stride 1."""
  k, (n, h, w, c) = kernel.shape[0], x.shape
  d = np.zeros((n, (h - 1) * stride + 1, (w - 1) * stride + 1, c))
  d[:, ::stride, ::stride] = x
  low = k - 1 if stride > k - 1 else -(-(k + stride - 2) // 2)
  high = k + stride - 2 - low
  dp = np.pad(d, ((0, 0), (low, high), (low, high), (0, 0)))
  return _correlate(dp, kernel, 1, (h * stride, w * stride))


@pytest.mark.parametrize('shape,k,out', [((2, 28, 28, 1), 3, 16), ((2, 7, 9, 16), 3, 8),
                                         ((1, 13, 6, 3), 5, 4), ((2, 1, 4, 2), 3, 2), ((1, 8, 8, 2), 1, 3)])
def test_strided_convolutions_match_their_float64_definitions_and_flax(shape, k, out):
  import flax.linen as nn
  from dagmm_jax.core import nets
  rng = np.random.default_rng(0)
  x = rng.normal(size=shape)
  kernel, bias = rng.normal(size=(k, k, shape[-1], out)), rng.normal(size=out)
  f32 = lambda *a: [jnp.asarray(v, jnp.float32) for v in a]
  for ours, flax_module, reference in [
      (nets.conv_same, nn.Conv, reference_conv),
      (nets.conv_transpose_same, nn.ConvTranspose, reference_conv_transpose)]:
    want = reference(x, kernel, 2) + bias
    got = np.asarray(ours(*f32(x, kernel, bias), 2))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    flax_out = flax_module(out, (k, k), strides=(2, 2), padding='SAME').apply(
        {'params': {'kernel': f32(kernel)[0], 'bias': f32(bias)[0]}}, f32(x)[0])
    np.testing.assert_allclose(np.asarray(flax_out), want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize('transpose', [False, True])
def test_strided_conv_gradients_match_lax_and_parameters_match_flax(transpose):
  """Same parameters as nn.Conv / nn.ConvTranspose for the same key (saved models
  load), and the same gradients as lax's convolutions."""
  import flax.linen as nn
  from dagmm_jax.core import nets
  x = jax.random.normal(jax.random.PRNGKey(1), (3, 11, 10, 4))
  ours = nets.StridedConv(5, 3, transpose=transpose)
  theirs = (nn.ConvTranspose if transpose else nn.Conv)(5, (3, 3), strides=(2, 2), padding='SAME')
  p_ours, p_theirs = ours.init(jax.random.PRNGKey(0), x), theirs.init(jax.random.PRNGKey(0), x)
  assert jax.tree_util.tree_all(jax.tree_util.tree_map(lambda a, b: bool(jnp.all(a == b)), p_ours, p_theirs))
  loss = lambda module: lambda p, x: jnp.sum(jnp.sin(module.apply(p, x)))
  g_ours = jax.grad(loss(ours), argnums=(0, 1))(p_ours, x)
  g_theirs = jax.grad(loss(theirs), argnums=(0, 1))(p_theirs, x)
  for a, b in zip(jax.tree_util.tree_leaves(g_ours), jax.tree_util.tree_leaves(g_theirs)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)
