"""The update's noise moments as a fixed tree of fixed-size partial sums, so the rebuild can be
split over any power-of-two group of devices and still give the same bits.

``moments_from_keys`` adds chunk after chunk, an order that only one device can follow. Here
the ``n`` directions (padded with zero weights) are cut into ``K`` leaves of ``leaf``
directions, ``K`` a power of two decided by ``n`` and the noise chunk alone, never by the
layout; each leaf is one ``moments_from_keys`` call of one chunk, and the leaves are added as a
pairwise tree (level by level, left + right). A group of ``S`` devices (``S`` a power of two
dividing ``K``) takes ``K / S`` consecutive leaves each: a subtree, summed here; the levels
above are finished across devices (core/step.py, a butterfly exchange). The result is the same
tree on 1 device or on any such split. It is not the chunk-after-chunk sum of ``--comm
returns``: the two differ in the last bits.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from esjax.perturbations.base import Perturbation

# At least this many leaves (when there are as many directions), so a split over up to 1,024
# devices (a TPU slice, 32 hosts of 32 cores) fits the tree; more when the noise chunk asks
# for smaller leaves. Small leaves cost nothing extra: the noise is drawn per direction either
# way, and the streamed tree keeps only log2(leaves) partial sums.
MIN_LEAVES = 1024


def leaves(num_directions: int, noise_chunk: int) -> tuple[int, int]:
  """``(K, leaf)``: the tree's leaf count (a power of two) and directions per leaf."""
  n = max(num_directions, 1)
  need = -(-n // max(noise_chunk, 1))  # leaves of at most noise_chunk directions
  floor = 1 << (min(n, MIN_LEAVES).bit_length() - 1)  # a power of two <= n
  count = max(1 << (need - 1).bit_length(), floor)
  return count, -(-n // count)


def max_split(num_directions: int, noise_chunk: int) -> int:
  """The largest group a rebuild of ``num_directions`` can be split over (a power of two)."""
  return leaves(num_directions, noise_chunk)[0]


def share_moments(perturbation: Perturbation, gen_key: jax.Array, weights: Sequence[jax.Array],
                  powers: Sequence[int], num_params: int, noise_chunk: int, share: jax.Array,
                  shares: int) -> tuple[jax.Array, ...]:
  """This device's subtree: the moments of leaves ``[share * K/shares, (share+1) * K/shares)``,
  each (num_params,). ``share`` may be traced (an axis index); ``shares`` divides ``K``."""
  count, leaf = leaves(weights[0].shape[0], noise_chunk)
  if count % shares:
    raise ValueError(f"{shares} shares do not divide the update's {count} leaves")
  mine = count // shares
  n = weights[0].shape[0]
  padded = tuple(jnp.zeros((count * leaf,), w.dtype).at[:n].set(w).reshape(count, leaf)
                 for w in weights)
  first = share * mine
  own = tuple(jax.lax.dynamic_slice_in_dim(w, first, mine) for w in padded)  # (mine, leaf)
  index = (first + jnp.arange(mine))[:, None] * leaf + jnp.arange(leaf)  # (mine, leaf)

  def leaf_sum(xs):
    idx, ws = xs
    return perturbation.moments_from_keys(gen_key, ws, powers, num_params, leaf, idx)

  return _streamed_tree(leaf_sum, (index, own), mine, len(weights), num_params)


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
