"""Covariance regularizers: the one registry that lists them.

A regularizer is a pure function ``(cov, **params) -> cov`` applied to each
fitted mixture covariance ``cov`` of shape ``[..., D, D]``. Adding one is one
function plus one entry in ``REGULARIZERS``. Configs select one with a spec
string such as ``'jitter(eps=1e-6)'`` or ``'none'``.
"""
import ast
from typing import Callable

import jax.numpy as jnp

Regularizer = Callable[..., jnp.ndarray]


def none(cov: jnp.ndarray) -> jnp.ndarray:
  """Leaves the covariance as fitted (singular covariances stay singular)."""
  return cov


def jitter(cov: jnp.ndarray, eps: float = 1e-6) -> jnp.ndarray:
  """Adds ``eps * I``: the fix used by both original implementations."""
  return cov + eps * jnp.eye(cov.shape[-1], dtype=cov.dtype)


REGULARIZERS: dict[str, Regularizer] = {
    'none': none,
    'jitter': jitter,
}


def parse_spec(spec: str) -> tuple[str, dict[str, float]]:
  """``'jitter(eps=1e-3)'`` -> ``('jitter', {'eps': 0.001})``; ``'none'`` -> ``('none', {})``."""
  try:
    node = ast.parse(spec.strip(), mode='eval').body
    if isinstance(node, ast.Name):
      return node.id, {}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.args:
      return node.func.id, {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords}
  except (SyntaxError, ValueError):
    pass
  raise ValueError(f'bad regularizer spec {spec!r}; expected NAME or NAME(param=value, ...), '
                   f'e.g. "jitter(eps=1e-6)"')


def get_regularizer(spec: str) -> Callable[[jnp.ndarray], jnp.ndarray]:
  """``cov -> cov`` for a spec such as ``'jitter(eps=1e-6)'`` (see ``parse_spec``)."""
  name, params = parse_spec(spec)
  if name not in REGULARIZERS:
    raise ValueError(
        f'unknown covariance regularizer {name!r}; known: {sorted(REGULARIZERS)}')
  fn = REGULARIZERS[name]
  try:
    fn(jnp.eye(2), **params)   # fail now, with the name, on a wrong parameter
  except TypeError as e:
    raise ValueError(f'bad parameters for regularizer {name!r}: {e}') from None
  return lambda cov: fn(cov, **params)
