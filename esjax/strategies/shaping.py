"""Fitness shaping: raw returns -> utilities the gradient estimate weighs noise by.

All shapers treat NaN and +-inf as the worst possible return so a member whose rollout blew
up ranks last instead of poisoning the update. +inf included: it comes from an overflowing
reward, not from a good policy, and ranking it first would pull the search into the blow-up.
"""
from __future__ import annotations

from typing import Callable

import jax.numpy as jnp

Shaper = Callable[[jnp.ndarray], jnp.ndarray]


def _sanitize(x: jnp.ndarray) -> jnp.ndarray:
  x = jnp.asarray(x, jnp.float32)
  return jnp.where(jnp.isfinite(x), x, -jnp.inf)


def centered_rank(x: jnp.ndarray) -> jnp.ndarray:
  """Ranks mapped linearly to [-0.5, 0.5] (Salimans et al. 2017, sec. 2.2).

  Tied returns share the mean of their ranks (all non-finite returns tie at -inf), so which
  member holds a tie never changes the update: index tie-breaking, as in the paper's released
  code (``argsort`` of ``argsort``), would favour the lower member id. Without ties the
  result is the paper's exactly.
  """
  x = _sanitize(x)
  n = x.shape[0]
  order = jnp.argsort(x, stable=True)
  xs = x[order]
  # A sorted value's tie group spans positions [first, last); its members share the mean rank
  # (first + last - 1) / 2, which is the position itself when the group has one member.
  first = jnp.searchsorted(xs, xs, side="left")
  last = jnp.searchsorted(xs, xs, side="right")
  mean_rank = (first + last - 1).astype(jnp.float32) / 2
  ranks = jnp.zeros((n,), jnp.float32).at[order].set(mean_rank)
  return ranks / jnp.maximum(n - 1, 1) - 0.5


def z_score(x: jnp.ndarray) -> jnp.ndarray:
  """(x - mean) / std over the finite returns; non-finite ones get the lowest finite score."""
  x = _sanitize(x)
  finite = jnp.isfinite(x)
  count = jnp.maximum(finite.sum(), 1)
  mean = jnp.where(finite, x, 0.0).sum() / count
  var = jnp.where(finite, (x - mean) ** 2, 0.0).sum() / count
  z = (x - mean) / (jnp.sqrt(var) + 1e-8)
  low = jnp.min(jnp.where(finite, z, jnp.inf))
  return jnp.where(finite, z, jnp.where(jnp.isfinite(low), low, 0.0))


def identity(x: jnp.ndarray) -> jnp.ndarray:
  """Raw returns; only -inf/NaN are replaced by the lowest finite return (else 0)."""
  x = _sanitize(x)
  finite = jnp.isfinite(x)
  low = jnp.min(jnp.where(finite, x, jnp.inf))
  return jnp.where(finite, x, jnp.where(jnp.isfinite(low), low, 0.0))


SHAPERS: dict[str, Shaper] = {
    "centered_rank": centered_rank,
    "z_score": z_score,
    "identity": identity,
}
