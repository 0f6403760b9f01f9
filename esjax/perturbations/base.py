"""The perturbation contract: how a member's noise comes from its key, and how the weighted
noise moments ``sum_j w_j * eps_j ** k`` are rebuilt from keys, in chunks, on any device.

Two noises implement it: full-rank ``N(0, I)`` on every parameter (``gaussian.Gaussian``, the
default of every strategy) and EGGROLL's low-rank ``A B^T / sqrt(r)`` on weight matrices
(``lowrank.LowRank``). The strategies and the step call only these methods, so they never ask
which noise they hold.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence

import jax
import jax.numpy as jnp

# Noise directions rebuilt at once in an update (``noise_chunk``): at most this many x P
# floats of noise exist at a time, whatever the population. A memory knob of the update, not
# a fact of the strategy or of the noise.
DEFAULT_NOISE_CHUNK = 64


class Perturbation(Protocol):
  """Member noise drawn from keys: ``eps`` standardized (mean 0, variance 1 per entry), signed
  ``+-`` for mirrored partners, which share one noise index (``keys.noise_index``)."""

  # True when the noise only fits candidates ``mean + sigma * eps`` with a scalar sigma and
  # first moments only (a strategy's ``spec.isotropic``).
  needs_isotropic: bool
  # Whether ``--comm auto`` may split the update's rebuild (perturbations/tree.py). The tree
  # forms every direction's term whole, P values: what a Gaussian rebuild draws anyway, but
  # for low rank P where its chunked rebuild draws (m + n) r per matrix and adds them in one
  # matmul (10x the time, 20x the memory at 10^6 params: benchmarks/results/large.md).
  splits_update: bool

  def member_noise(self, gen_key: jax.Array, member: jax.Array, num_params: int,
                   mirrored: bool) -> Any:
    """One member's signed noise (vmap over ``member`` for a slice)."""

  def member_params(self, candidate: Callable, state: Any, noise: Any) -> Any:
    """The params of a batch of members from their noise (leading member axis):
    ``candidate(state, eps)`` is the strategy's. vmap an evaluation over the result with
    ``in_axes=member_axes()``."""

  def member_axes(self) -> Any:
    """The ``vmap`` in_axes of what ``member_params`` returns."""

  def moments_from_keys(self, gen_key: jax.Array, weights: Sequence[jax.Array],
                        powers: Sequence[int], num_params: int, chunk_size: int,
                        indices: jax.Array | None = None) -> tuple[jax.Array, ...]:
    """``(sum_j weights[m][j] * eps_{indices[j]} ** powers[m] for each m)``, each (P,), the
    directions walked ``chunk_size`` at a time; ``indices`` default ``arange(n)``."""


def chunked(weights: Sequence[jax.Array], indices: jax.Array | None, chunk_size: int):
  """``(weights, indices, chunk)``: the (n,) weights and noise indices padded to whole chunks
  and reshaped (num_chunks, chunk), for a ``lax.scan`` over chunks. Padded directions get
  weight 0: they cost a little compute, never a wrong answer."""
  n = weights[0].shape[0]
  if indices is None:
    indices = jnp.arange(n)
  chunk = max(1, min(chunk_size, n))
  num_chunks = -(-n // chunk)
  padded = tuple(jnp.zeros((num_chunks * chunk,), w.dtype).at[:n].set(w).reshape(num_chunks, chunk)
                 for w in weights)
  indices = jnp.zeros((num_chunks * chunk,), jnp.int32).at[:n].set(indices)
  return padded, indices.reshape(num_chunks, chunk), chunk
