"""Gaussian perturbations rebuilt from PRNG keys, and the noise moments every strategy needs.

A member's noise is ``sign * eps_index`` with ``eps_index ~ N(0, I)`` drawn from its key
(``keys.noise_key``); mirrored partners share one index and differ in sign. Every strategy in
``esjax.strategies`` updates from the returns and a few weighted *moments* of this noise,
``sum_j w_j * eps_j ** k`` for k = 1 (the gradient direction) or 2 (the variance direction),
which ``moments_from_keys`` rebuilds on any device from the keys alone. ``Gaussian`` is this
noise as a ``perturbations.base.Perturbation``: the default of every strategy.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, ClassVar, Sequence

import jax
import jax.numpy as jnp

from esjax import keys
from esjax.perturbations.base import chunked


def sample(key: jax.Array, num_params: int, dtype=jnp.float32) -> jax.Array:
  """One standard-normal direction, shape (num_params,)."""
  return jax.random.normal(key, (num_params,), dtype)


def member_noise(gen_key, member, num_params: int, mirrored: bool) -> jax.Array:
  """Signed noise of one member, shape (num_params,). vmap over ``member`` for a slice."""
  eps = sample(keys.noise_key(gen_key, keys.noise_index(member, mirrored)), num_params)
  return keys.member_sign(member, mirrored) * eps


def weighted_sum(weights: jax.Array, noise: jax.Array) -> jax.Array:
  """``weights @ noise`` in full float32. At JAX's default precision a float32 dot may round
  its inputs, to TF32 (10 mantissa bits) on recent GPUs and to bfloat16 (7) on TPUs: the
  update would then sum noise that differs from what the members ran with. The dot is a
  (chunk,) x (chunk, P) product, which moves far more bytes than it multiplies, so the extra
  passes should cost little (not yet timed on an accelerator). CPUs compute float32 dots in
  float32 either way (the pinned default run is unchanged)."""
  return jnp.dot(weights, noise, precision=jax.lax.Precision.HIGHEST)


def moments_from_keys(gen_key, weights: Sequence[jax.Array], powers: Sequence[int],
                      num_params: int, chunk_size: int,
                      indices: jax.Array | None = None) -> tuple[jax.Array, ...]:
  """``(sum_j weights[m][j] * eps_{indices[j]} ** powers[m] for each m)``, each (num_params,).

  ``indices`` are noise indices (pairs when mirrored), ``arange(n)`` by default. The
  directions are walked ``chunk_size`` at a time under ``lax.scan``, so at most
  ``chunk_size x num_params`` floats of noise exist at once however large the population, and
  each chunk's noise is drawn once for every moment.
  """
  padded, indices, _ = chunked(weights, indices, chunk_size)

  def body(totals, xs):
    idx, ws = xs
    eps = jax.vmap(lambda i: sample(keys.noise_key(gen_key, i), num_params))(idx)  # (chunk, P)
    return tuple(t + weighted_sum(w, eps if p == 1 else eps**p)
                 for t, w, p in zip(totals, ws, powers)), None

  zeros = tuple(jnp.zeros((num_params,), jnp.float32) for _ in weights)
  totals, _ = jax.lax.scan(body, zeros, (indices, padded))
  return totals


def weighted_noise_sum(gen_key, weights: jax.Array, num_params: int, chunk_size: int,
                       indices: jax.Array | None = None) -> jax.Array:
  """``sum_j weights[j] * eps_{indices[j]}``, shape (num_params,): the first moment alone."""
  return moments_from_keys(gen_key, (weights,), (1,), num_params, chunk_size, indices)[0]


@dataclasses.dataclass(frozen=True)
class Gaussian:
  """Full-rank ``N(0, I)`` on every parameter: members are the strategy's own
  ``candidate(state, eps)``, so any strategy takes it."""
  needs_isotropic: ClassVar[bool] = False
  splits_update: ClassVar[bool] = True

  def member_noise(self, gen_key, member, num_params: int, mirrored: bool) -> jax.Array:
    return member_noise(gen_key, member, num_params, mirrored)

  def member_params(self, candidate: Callable, state, noise: jax.Array) -> jax.Array:
    return jax.vmap(candidate, in_axes=(None, 0))(state, noise)  # (members, P)

  def member_axes(self) -> int:
    return 0

  def moments_from_keys(self, gen_key, weights, powers, num_params: int, chunk_size: int,
                        indices=None) -> tuple[jax.Array, ...]:
    return moments_from_keys(gen_key, weights, powers, num_params, chunk_size, indices)


GAUSSIAN = Gaussian()
