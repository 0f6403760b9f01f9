"""Rank-based member weights with tied returns sharing one weight.

SNES and sep-CMA-ES both weigh members by rank through a table (``table[k]`` is the weight of
the (k+1)-th best return). Ranks alone would hand two equal returns different weights by their
index, an arbitrary preference the returns do not support; so every group of tied returns gets
the mean of the table entries its ranks span. The mean keeps the table's sum, which both
strategies rely on (NES utilities sum to 0, recombination weights to 1).

Non-finite returns (NaN, +-inf) rank last and, being indistinguishable, tie with each other.
+inf included: it comes from an overflowing reward, not from a good policy.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def rank_weights(returns: jax.Array, table: jax.Array) -> jax.Array:
  """Member weights (pop,): ``table`` indexed by each return's rank, best first, ties averaged."""
  x = jnp.asarray(returns, jnp.float32)
  x = jnp.where(jnp.isfinite(x), x, -jnp.inf)
  n = x.shape[0]
  order = jnp.argsort(-x, stable=True)  # best first; -inf (the non-finite ones) last
  xs = x[order]
  # A new tie group starts wherever the sorted return changes (-inf == -inf: one group).
  starts = jnp.concatenate([jnp.ones((1,), bool), xs[1:] != xs[:-1]])
  group = jnp.cumsum(starts) - 1
  total = jax.ops.segment_sum(table, group, num_segments=n)
  count = jax.ops.segment_sum(jnp.ones_like(table), group, num_segments=n)
  shared = (total / jnp.maximum(count, 1.0))[group]
  return jnp.zeros_like(table).at[order].set(shared)


def nes_utilities(population_size: int) -> jax.Array:
  """The NES rank utilities (Wierstra et al. 2014, eq. 19), best first: ``max(0, log(n/2 + 1)
  - log k) / sum(...) - 1/n``; they sum to 0, so a generation's shift of the returns cancels."""
  k = jnp.arange(1, population_size + 1, dtype=jnp.float32)
  raw = jnp.maximum(0.0, jnp.log(population_size / 2 + 1) - jnp.log(k))
  return raw * (1.0 / jnp.sum(raw)) - 1.0 / population_size  # times a scalar reciprocal
