"""The update's noise moments as a fixed tree of single-direction terms, so the rebuild can be
split over any power-of-two group of devices and still give the same bits.

``moments_from_keys`` adds chunk after chunk, an order that only one device can follow. Here
every direction's term ``w_j * eps_j ** k`` is a leaf (one IEEE product: the same bits in any
program), the ``n`` leaves padded with zero terms to ``K``, the next power of two (decided by
``n`` alone, never by the layout), and they are added as one pairwise tree (level by level,
left + right). A group of ``S`` devices (``S`` a power of two up to ``K``) takes ``K / S``
consecutive leaves each: a subtree, summed here a block of up to ``noise_chunk`` directions
at a time (their noise drawn at once, as ``--comm returns`` does); the levels above are
finished across devices (core/step.py, a butterfly exchange). Blocks wholly past ``n`` are
skipped: their terms are zeros. The result is the same tree on 1 device or on any such split.
It is not the chunk-after-chunk sum of ``--comm returns``: the two differ in the last bits.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from esjax.perturbations.base import Perturbation


def leaves(num_directions: int) -> int:
  """``K``: the tree's leaf count, the next power of two of the directions."""
  return 1 << (max(num_directions, 1) - 1).bit_length()


def max_split(num_directions: int) -> int:
  """The largest group a rebuild of ``num_directions`` can be split over (a power of two)."""
  return leaves(num_directions)


def share_moments(perturbation: Perturbation, gen_key: jax.Array, weights: Sequence[jax.Array],
                  powers: Sequence[int], num_params: int, noise_chunk: int, share: jax.Array,
                  shares: int) -> tuple[jax.Array, ...]:
  """This device's subtree: the moments of leaves ``[share * K/shares, (share+1) * K/shares)``,
  each (num_params,). ``share`` may be traced (an axis index); ``shares`` divides ``K``."""
  n = weights[0].shape[0]
  count = leaves(n)
  if count % shares:
    raise ValueError(f"{shares} shares do not divide the update's {count} leaves")
  mine = count // shares
  block = min(1 << (max(noise_chunk, 1).bit_length() - 1), mine)  # a power of two
  first = share * mine
  own = tuple(jax.lax.dynamic_slice_in_dim(jnp.zeros((count,), w.dtype).at[:n].set(w), first,
                                           mine).reshape(mine // block, block) for w in weights)
  index = (first + jnp.arange(mine)).reshape(mine // block, block)
  zeros = tuple(jnp.zeros((num_params,), jnp.float32) for _ in weights)

  def terms(idx, ws):  # one direction: ``0 + w * eps ** k`` (a -0 product becomes +0)
    return perturbation.moments_from_keys(gen_key, tuple(w[None] for w in ws), powers,
                                          num_params, 1, idx[None])

  def block_sum(xs):
    idx, ws = xs

    def compute(_):
      return tuple(_pairwise(t) for t in jax.vmap(terms)(idx, ws))  # (block, P) each

    return jax.lax.cond(idx[0] < n, compute, lambda _: zeros, None)

  return _streamed_tree(block_sum, (index, own), mine // block, len(weights), num_params)


def _pairwise(x: jax.Array) -> jax.Array:
  """The pairwise tree of (2**k, P) rows, level by level."""
  while x.shape[0] > 1:
    x = x[0::2] + x[1::2]
  return x[0]


def _streamed_tree(leaf_sum, xs, count: int, moments: int, num_params: int):
  """The pairwise tree of ``count`` (a power of two) leaf sums, computed one leaf at a time:
  a stack of one pending left subtree per level, carried as a binary counter carries (leaf i
  closes as many levels as i has trailing one bits), so only ``log2(count)`` partial sums
  exist at once, not ``count``, and each leaf costs one addition on average."""
  levels = count.bit_length() - 1
  if levels == 0:
    return leaf_sum(jax.tree.map(lambda x: x[0], xs))

  def body(state, i_xs):
    stack, _ = state
    i, x = i_xs

    def closes(c):
      return (c[0] < levels) & (((i >> c[0]) & 1) == 1)

    def merge(c):  # the pending left subtree of this level, plus this right one
      return c[0] + 1, tuple(s[c[0]] + v for s, v in zip(stack, c[1]))

    level, carry = jax.lax.while_loop(closes, merge, (jnp.zeros((), jnp.int32), leaf_sum(x)))
    # Parked at the first level it did not close (after the last leaf it is the root, and the
    # stack is not read again).
    at = jnp.minimum(level, levels - 1)
    stack = tuple(jax.lax.dynamic_update_index_in_dim(s, v, at, 0) for s, v in zip(stack, carry))
    return (stack, carry), None

  stack = tuple(jnp.zeros((levels, num_params), jnp.float32) for _ in range(moments))
  root = tuple(jnp.zeros((num_params,), jnp.float32) for _ in range(moments))
  (_, root), _ = jax.lax.scan(body, (stack, root), (jnp.arange(count), xs))
  return root
