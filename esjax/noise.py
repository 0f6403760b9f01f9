"""Perturbations rebuilt from PRNG keys: the seed's "workers know each other's seeds".

Member ``i`` of generation ``g`` draws its noise from a key that depends only on
``(run_key, g, i)``. With mirrored (antithetic) sampling, members ``2p`` and ``2p + 1``
share pair ``p``'s key and carry ``+eps_p`` and ``-eps_p``. Because nothing but keys
decides the noise, any device can rebuild any member's perturbation, and a run gives the
same result on 1 or 1000 devices.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

# Distinct streams under one generation key, so the noise and the rollout of a member never
# share random bits.
_NOISE_STREAM = 0
_ROLLOUT_STREAM = 1


def generation_key(run_key: jax.Array, generation: jax.Array) -> jax.Array:
  return jax.random.fold_in(run_key, generation)


def noise_index(member: jax.Array, mirrored: bool) -> jax.Array:
  """The index whose key draws member ``member``'s noise (its pair under mirroring)."""
  return member // 2 if mirrored else member


def member_sign(member: jax.Array, mirrored: bool) -> jax.Array:
  """+1 for the first of a mirrored pair, -1 for the second; always +1 unmirrored."""
  member = jnp.asarray(member)
  if not mirrored:
    return jnp.ones_like(member, dtype=jnp.float32)
  return 1.0 - 2.0 * (member % 2).astype(jnp.float32)


def noise_key(gen_key: jax.Array, index: jax.Array) -> jax.Array:
  return jax.random.fold_in(jax.random.fold_in(gen_key, _NOISE_STREAM), index)


def rollout_key(gen_key: jax.Array, index: jax.Array) -> jax.Array:
  """Mirrored partners share this key: common random numbers cut the variance of r+ - r-."""
  return jax.random.fold_in(jax.random.fold_in(gen_key, _ROLLOUT_STREAM), index)


def sample(key: jax.Array, num_params: int, dtype=jnp.float32) -> jax.Array:
  """One standard-normal direction, shape (num_params,)."""
  return jax.random.normal(key, (num_params,), dtype)


def member_noise(gen_key, member, num_params: int, mirrored: bool) -> jax.Array:
  """Signed noise of one member, shape (num_params,). vmap over ``member`` for a slice."""
  eps = sample(noise_key(gen_key, noise_index(member, mirrored)), num_params)
  return member_sign(member, mirrored) * eps


def weighted_noise_sum(gen_key, weights: jax.Array, num_params: int, chunk_size: int,
                       indices: jax.Array | None = None) -> jax.Array:
  """Sum_j weights[j] * eps_{indices[j]} with eps rebuilt from keys, shape (num_params,).

  ``indices`` are noise indices (pairs when mirrored), ``arange(len(weights))`` by default.
  The directions are walked ``chunk_size`` at a time under ``lax.scan``, so at most
  ``chunk_size x num_params`` floats of noise exist at once however large the population.
  """
  n = weights.shape[0]
  if indices is None:
    indices = jnp.arange(n)
  chunk = max(1, min(chunk_size, n))
  num_chunks = -(-n // chunk)
  # Padded directions get weight 0: they cost a little compute, never a wrong answer.
  padded = jnp.zeros((num_chunks * chunk,), weights.dtype).at[:n].set(weights)
  indices = jnp.zeros((num_chunks * chunk,), jnp.int32).at[:n].set(indices)
  indices = indices.reshape(num_chunks, chunk)

  def body(total, xs):
    idx, w = xs
    eps = jax.vmap(lambda i: sample(noise_key(gen_key, i), num_params))(idx)  # (chunk, P)
    return total + w @ eps, None

  total, _ = jax.lax.scan(body, jnp.zeros((num_params,), jnp.float32),
                          (indices, padded.reshape(num_chunks, chunk)))
  return total
