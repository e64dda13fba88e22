"""The covariance regularizer registry."""
import jax.numpy as jnp
import numpy as np
import pytest

from dagmm_jax import regularizers


def test_spec_parsing_and_jitter():
  reg = regularizers.get_regularizer('jitter(eps=0.5)')
  np.testing.assert_allclose(reg(jnp.zeros((2, 3, 3))), 0.5 * np.broadcast_to(np.eye(3), (2, 3, 3)))
  assert regularizers.parse_spec('none') == ('none', {})
  assert regularizers.parse_spec(' jitter(eps=1e-6) ') == ('jitter', {'eps': 1e-6})


def test_unknown_name_lists_known_ones():
  with pytest.raises(ValueError, match=r"unknown covariance regularizer 'ridge'.*'jitter'.*'none'"):
    regularizers.get_regularizer('ridge(eps=1)')


@pytest.mark.parametrize('spec', ['jitter(1e-6)', 'jitter(eps=)', '3'])
def test_malformed_spec(spec):
  with pytest.raises(ValueError, match='bad regularizer spec'):
    regularizers.get_regularizer(spec)


def test_wrong_parameter_names_the_regularizer():
  with pytest.raises(ValueError, match="bad parameters for regularizer 'jitter'"):
    regularizers.get_regularizer('jitter(epsilon=1e-6)')
