"""Covariance regularizers: the one registry that lists them.

A regularizer is a pure function of a fitted mixture covariance ``cov`` of
shape ``[..., D, D]`` (and, for data-driven ones, each component's effective
sample count ``n_eff``). Most are a *loading*: they return ``Loading(scale,
add)``, meaning ``scale * cov + diag(add)``; in that form the training objective
can also form the regularized covariance's Cholesky factor from the rows
themselves when the rounded covariance has none (``gmm.row_factors``,
docs/singularity.md). A regularizer that is no loading returns the matrix.
Adding one is one function plus one entry in ``REGULARIZERS``. Configs select
one with a spec string such as ``'jitter(eps=1e-6)'`` or ``'none'``.
"""
import ast
import functools
import inspect
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp


class Loading(NamedTuple):
  """``scale * cov + diag(add)``: ``scale [...]``, ``add [..., D]`` (both >= 0)."""
  scale: jnp.ndarray
  add: jnp.ndarray

  @classmethod
  def of(cls, cov: jnp.ndarray, scale: Any, add: Any) -> 'Loading':
    """``scale`` broadcast to ``cov``'s batch shape, ``add`` to its diagonals."""
    return cls(jnp.broadcast_to(jnp.asarray(scale, cov.dtype), cov.shape[:-2]),
               jnp.broadcast_to(jnp.asarray(add, cov.dtype), cov.shape[:-1]))


def as_matrix(loading: Loading, cov: jnp.ndarray) -> jnp.ndarray:
  """The regularized covariance ``scale * cov + diag(add)``."""
  return loading.scale[..., None, None] * cov + loading.add[..., :, None] * _eye(cov)


def _eye(cov: jnp.ndarray) -> jnp.ndarray:
  return jnp.eye(cov.shape[-1], dtype=cov.dtype)


def _mean_variance(cov: jnp.ndarray) -> jnp.ndarray:
  """``[..., 1, 1]`` mean of each covariance's diagonal."""
  return jnp.mean(jnp.diagonal(cov, axis1=-2, axis2=-1), axis=-1)[..., None, None]


def none(cov: jnp.ndarray) -> Loading:
  """Leaves the covariance as fitted (singular covariances stay singular)."""
  return Loading.of(cov, 1.0, 0.0)


def jitter(cov: jnp.ndarray, eps: float = 1e-6) -> Loading:
  """Adds ``eps * I``: the fix used by both original implementations."""
  return Loading.of(cov, 1.0, eps)


def relative_jitter(cov: jnp.ndarray, eps: float = 1e-4, floor: float = 1e-6) -> Loading:
  """Adds ``max(eps * mean variance, floor) * I``: jitter that follows the scale of
  z (and, with very different variances, swamps the smallest ones)."""
  return Loading.of(cov, 1.0, jnp.maximum(eps * _mean_variance(cov)[..., 0], floor))


def _spectral_map(cov: jnp.ndarray, f: Callable, df: Callable) -> jnp.ndarray:
  """``V f(w) V^T`` for symmetric ``cov = V diag(w) V^T``, with a derivative that
  stays finite for repeated eigenvalues (Daleckii-Krein divided differences)."""

  mm = functools.partial(jnp.matmul, precision=jax.lax.Precision.HIGHEST)   # no TF32 on GPUs

  @jax.custom_jvp
  def apply(a):
    w, v = jnp.linalg.eigh(a)
    return mm(v * f(w)[..., None, :], jnp.swapaxes(v, -1, -2))

  @apply.defjvp
  def apply_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    w, v = jnp.linalg.eigh(a)
    fw = f(w)
    out = mm(v * fw[..., None, :], jnp.swapaxes(v, -1, -2))
    gap = w[..., :, None] - w[..., None, :]
    close = jnp.abs(gap) <= 1e-6 * jnp.maximum(jnp.abs(w[..., :, None]), jnp.abs(w[..., None, :])) + 1e-30
    divided = jnp.where(close, 0.5 * (df(w)[..., :, None] + df(w)[..., None, :]),
                        (fw[..., :, None] - fw[..., None, :]) / jnp.where(close, 1.0, gap))
    vt = jnp.swapaxes(v, -1, -2)
    sym = 0.5 * (da + jnp.swapaxes(da, -1, -2))
    return out, mm(mm(v, divided * mm(mm(vt, sym), v)), vt)

  return apply(0.5 * (cov + jnp.swapaxes(cov, -1, -2)))


def eigen_floor(cov: jnp.ndarray, eps: float = 1e-5, floor: float = 1e-6) -> jnp.ndarray:
  """Clips the eigenvalues at ``max(eps * largest eigenvalue, floor)`` (symmetric
  eigendecomposition): the smallest change that bounds the condition number."""
  w_max = jnp.linalg.eigvalsh(jax.lax.stop_gradient(cov))[..., -1:]
  lo = jnp.maximum(eps * w_max, floor)                      # [..., 1], broadcasts over w [..., D]
  return _spectral_map(cov, lambda w: jnp.maximum(w, lo), lambda w: (w > lo).astype(w.dtype))


def shrinkage(cov: jnp.ndarray, intensity: float = 0.1, floor: float = 1e-6) -> Loading:
  """Convex shrinkage toward the diagonal, ``(1 - a) cov + a diag(cov) + floor * I``."""
  return Loading.of(cov, 1.0 - intensity, intensity * jnp.diagonal(cov, axis1=-2, axis2=-1) + floor)


def oas(cov: jnp.ndarray, n_eff: jnp.ndarray, floor: float = 1e-6) -> Loading:
  """Oracle Approximating Shrinkage (Chen et al. 2010) toward ``mean variance * I``,
  its intensity computed from the covariance and the component's effective
  sample count ``n_eff`` (sum of memberships in the batch), plus ``floor * I``."""
  p = cov.shape[-1]
  tr = jnp.trace(cov, axis1=-2, axis2=-1)
  tr2 = jnp.sum(cov * cov, axis=(-2, -1))                 # trace(S^2) for symmetric S
  num = (1.0 - 2.0 / p) * tr2 + tr * tr
  den = (n_eff + 1.0 - 2.0 / p) * (tr2 - tr * tr / p)
  ok = den > 0    # den = 0: all eigenvalues equal, the target is the covariance itself
  rho = jnp.where(ok, jnp.clip(num / jnp.where(ok, den, 1.0), 0.0, 1.0), 1.0)[..., None, None]
  return Loading.of(cov, 1.0 - rho[..., 0, 0], rho[..., 0] * (tr / p)[..., None] + floor)


REGULARIZERS: dict[str, Callable[..., Any]] = {
    'none': none,
    'jitter': jitter,
    'relative_jitter': relative_jitter,
    'eigen_floor': eigen_floor,
    'shrinkage': shrinkage,
    'oas': oas,
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


def check_spec(spec: str) -> tuple[str, dict[str, float]]:
  """``parse_spec(spec)`` of a registered regularizer whose parameters it takes;
  ``ValueError`` naming the known regularizers or the parameters otherwise (no JAX
  call: a config is checked with it before anything runs)."""
  name, params = parse_spec(spec)
  if name not in REGULARIZERS:
    raise ValueError(
        f'unknown covariance regularizer {name!r}; known: {sorted(REGULARIZERS)}')
  if 'n_eff' in params:
    raise ValueError(f'bad parameters for regularizer {name!r}: n_eff comes from the data')
  takes = [p for p in inspect.signature(REGULARIZERS[name]).parameters if p not in ('cov', 'n_eff')]
  if set(params) - set(takes):
    raise ValueError(f'bad parameters for regularizer {name!r}: {sorted(set(params) - set(takes))}; '
                     f'it takes {takes}')
  return name, params


class Regularizer:
  """A configured regularizer: ``reg(cov [K, D, D], n_eff [K]) -> cov``, and
  ``reg.loading(cov, n_eff)``: its ``Loading``, or None for one that is no loading.
  ``n_eff`` (each component's sum of memberships) is passed on only to
  regularizers that take it (data-driven ones such as ``oas``)."""

  def __init__(self, name: str, params: dict[str, float]):
    self.name, self.params, self._fn = name, params, REGULARIZERS[name]
    self._wants_n = 'n_eff' in inspect.signature(self._fn).parameters

  def _raw(self, cov: jnp.ndarray, n_eff: jnp.ndarray) -> Any:
    return self._fn(cov, n_eff=n_eff, **self.params) if self._wants_n else self._fn(cov, **self.params)

  def loading(self, cov: jnp.ndarray, n_eff: jnp.ndarray) -> Loading | None:
    out = self._raw(cov, n_eff)
    return out if isinstance(out, Loading) else None

  def __call__(self, cov: jnp.ndarray, n_eff: jnp.ndarray) -> jnp.ndarray:
    out = self._raw(cov, n_eff)
    return as_matrix(out, cov) if isinstance(out, Loading) else out


def get_regularizer(spec: str) -> Regularizer:
  """The ``Regularizer`` of a spec such as ``'jitter(eps=1e-6)'`` (see ``parse_spec``)."""
  reg = Regularizer(*check_spec(spec))
  try:
    reg(jnp.eye(2), jnp.asarray(10.0))   # fail now, with the name, on a wrong parameter
  except TypeError as e:
    raise ValueError(f'bad parameters for regularizer {reg.name!r}: {e}') from None
  return reg
