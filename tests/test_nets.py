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
