"""Test-time computation: embeddings over a whole set, the final GMM fit, energies.

Each function handles one seed; callers ``vmap`` over seeds. Rows are processed
in chunks with ``lax.map`` so that memory stays bounded on large sets.
"""
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from dagmm_jax.core import em, gmm
from dagmm_jax.core.model import DAGMMNet, squared_error

CHUNK = 4096


def scaled(x: jnp.ndarray, shift: jnp.ndarray, scale: jnp.ndarray) -> jnp.ndarray:
  """``(x - shift) / scale`` for a gathered batch ``x``.

  Float ``x`` (tabular rows, float images): computed as written and cast to
  ``x``'s dtype. Integer ``x`` (uint8/uint16 images, divided here batch by
  batch by 255/65535): in the float dtype of ``shift``, with a true division.
  XLA turns ``A / broadcast(B)`` into ``A * broadcast(1 / B)``, which is 1 ulp
  off ``u / 255`` for about half of the 256 values; dividing by a broadcast it
  cannot see through (``optimization_barrier``) keeps the batch bit-identical to
  the same images passed as float32 ``u / 255`` (``data.images.to_unit``).
  """
  if jnp.issubdtype(x.dtype, jnp.floating):
    return ((x - shift) / scale).astype(x.dtype)
  dtype = shift.dtype
  xs = x.astype(dtype) - shift
  return (xs / jax.lax.optimization_barrier(jnp.broadcast_to(scale, xs.shape))).astype(dtype)


def _over_rows(fn: Callable, net: DAGMMNet, params: Any, x: jnp.ndarray, rows: jnp.ndarray,
               shift: jnp.ndarray, scale: jnp.ndarray) -> Any:
  """``fn(x[rows] scaled, NetOutput)`` (dropout off) over ``rows`` in chunks of ``CHUNK``."""
  n = rows.shape[0]
  chunk = min(CHUNK, n)
  n_chunks = -(-n // chunk)
  padded = jnp.pad(rows, (0, n_chunks * chunk - n)).reshape(n_chunks, chunk)

  def one(chunk_rows):
    xs = scaled(x[chunk_rows], shift, scale)
    return fn(xs, net.apply(params, xs, train=False))

  out = jax.lax.map(one, padded)
  return jax.tree_util.tree_map(lambda a: a.reshape(n_chunks * chunk, *a.shape[2:])[:n], out)


def embed(net: DAGMMNet, params: Any, x: jnp.ndarray, rows: jnp.ndarray,
          shift: jnp.ndarray, scale: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """``(z, gamma)`` (dropout off) for ``x[rows]`` scaled with (shift, scale)."""
  return _over_rows(lambda xs, out: (out.z, out.gamma), net, params, x, rows, shift, scale)


def embed_and_errors(net: DAGMMNet, params: Any, x: jnp.ndarray, rows: jnp.ndarray,
                     shift: jnp.ndarray, scale: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """``(z, squared reconstruction error [N])`` (dropout off) for ``x[rows]``."""
  return _over_rows(lambda xs, out: (out.z, squared_error(xs, out.x_hat)),
                    net, params, x, rows, shift, scale)


def fit_on_rows(net: DAGMMNet, regularizer: Callable, params: Any, x: jnp.ndarray, rows: jnp.ndarray,
                n_valid: jnp.ndarray | int, shift: jnp.ndarray, scale: jnp.ndarray
                ) -> tuple[gmm.GMMParams, jnp.ndarray]:
  """``(GMM fitted exactly over x[rows] and regularized, z of those rows)``: the test-time fit over
  the whole training set with the given networks (not the last batch). Positions
  ``>= n_valid`` of ``rows`` are padding, masked out."""
  z, gamma = embed(net, params, x, rows, shift, scale)
  weights = (jnp.arange(rows.shape[0]) < n_valid).astype(z.dtype)
  return gmm.regularize(gmm.fit_gmm(z, gamma, weights), regularizer, n_valid), z


def energies(net: DAGMMNet, params: Any, g: gmm.GMMParams, x: jnp.ndarray, rows: jnp.ndarray,
             shift: jnp.ndarray, scale: jnp.ndarray) -> jnp.ndarray:
  """``[len(rows)]`` sample energies of ``x[rows]`` under the GMM ``g``."""
  z, _ = embed(net, params, x, rows, shift, scale)
  return gmm.energy(z, g)


class Scored(NamedTuple):
  """A seed's fitted test-time GMM and its energies on the test rows."""
  gmm_params: gmm.GMMParams
  energies: jnp.ndarray      # [n_test]


def fit_and_score(net: DAGMMNet, regularizer: Callable, params: Any, x: jnp.ndarray,
                  train_idx: jnp.ndarray, n_train: jnp.ndarray, test_idx: jnp.ndarray,
                  shift: jnp.ndarray, scale: jnp.ndarray) -> Scored:
  """Fits the GMM over the training rows (``fit_on_rows``; padding rows of
  ``train_idx``, positions >= n_train, masked out), then scores the test rows."""
  params_gmm, _ = fit_on_rows(net, regularizer, params, x, train_idx, n_train, shift, scale)
  return Scored(params_gmm, energies(net, params, params_gmm, x, test_idx, shift, scale))


def em_fit_and_score(net: DAGMMNet, regularizer: Callable, params: Any, x: jnp.ndarray,
                     train_idx: jnp.ndarray, n_train: jnp.ndarray, test_idx: jnp.ndarray,
                     shift: jnp.ndarray, scale: jnp.ndarray, key: jax.Array,
                     n_components: int) -> tuple[Scored, jnp.ndarray]:
  """``(Scored, mean training energy)`` with the mixture refitted by EM (``em.fit``,
  ``em.ITERATIONS`` steps) on the training rows' z instead of taken from the
  estimation network's memberships; the networks are the same."""
  z, _ = embed(net, params, x, train_idx, shift, scale)
  weights = (jnp.arange(train_idx.shape[0]) < n_train).astype(z.dtype)
  g = em.fit(z, weights, key, n_components, em.ITERATIONS, regularizer)
  train_energy = jnp.sum(jnp.where(weights > 0, gmm.energy(z, g), 0.0)) / jnp.sum(weights)
  return Scored(g, energies(net, params, g, x, test_idx, shift, scale)), train_energy
