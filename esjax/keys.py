"""Every PRNG key stream of a run: the seed's "workers know each other's seeds".

Member ``i`` of generation ``g`` draws its noise and its rollout from keys that depend only on
``(run_key, g, i)``. With mirrored (antithetic) sampling, members ``2p`` and ``2p + 1`` share
pair ``p``'s keys and carry ``+eps_p`` and ``-eps_p``. Because nothing but keys decides the
noise, any device can rebuild any member's perturbation, and a run gives the same result on 1
or 1000 devices. Evaluation episodes have a stream of their own, so evaluating never changes
what training sees. The reference batch of virtual batch normalization is drawn once, from a
stream of its own (``vbn_key``), so every device and every process rebuilds the same batch from
the run key without sending it.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

# Distinct streams under one generation key, so the noise and the rollout of a member never
# share random bits.
_NOISE_STREAM = 0
_ROLLOUT_STREAM = 1
_EVAL_STREAM = 0x7FFFFFFF  # folded into the run key for evaluation episodes
# Folded into the run key for the VBN reference batch: a uint32 no int32 generation number
# (``generation_key``) or the evaluation stream can take.
_VBN_STREAM = 0x80000000
# Folded into a member's rollout key by the rollout tricks (problems/tricks.py). The env's own
# draws (reset, gymnax's step keys) use the rollout key as before, so switching a trick on
# changes no other random number of the episode.
_ACTION_NOISE_STREAM = 0x7FFFFFFE
_OBS_STAT_STREAM = 0x7FFFFFFD


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


def eval_key(run_key: jax.Array, generation: jax.Array) -> jax.Array:
  """The key of the evaluation episodes run after ``generation`` generations."""
  return jax.random.fold_in(jax.random.fold_in(run_key, _EVAL_STREAM), generation)


def vbn_key(run_key: jax.Array) -> jax.Array:
  """The key of the run's VBN reference batch (problems/reference.py), drawn once at setup."""
  return jax.random.fold_in(run_key, _VBN_STREAM)


def action_noise_key(rollout: jax.Array, step: jax.Array) -> jax.Array:
  """The key of the action noise at env step ``step`` of an episode (``tricks.action_noise``)."""
  return jax.random.fold_in(jax.random.fold_in(rollout, _ACTION_NOISE_STREAM), step)


def obs_stat_key(rollout: jax.Array) -> jax.Array:
  """The key of an episode's draw of whether its observations are counted (``obs_stat_prob``)."""
  return jax.random.fold_in(rollout, _OBS_STAT_STREAM)


def episode_keys(seed: int, episodes: int) -> jax.Array:
  """The keys of ``esjax eval --seed S``'s episodes; ``esjax render --seed S`` draws episode 0's
  key. fold_in, not split: key i must not depend on how many episodes were asked for (its
  return may: a batch of another size is another compiled program, rounded otherwise)."""
  base = jax.random.PRNGKey(seed)
  return jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(episodes))


def env_step_key(rollout: jax.Array, step: jax.Array) -> jax.Array:
  """The key an env's ``step`` gets at env step ``step`` of an episode (``rollout.py``): from
  the half of the rollout key that its reset does not use (as gymnax envs drew it in esjax 0.2),
  so a stochastic env's draws depend only on (member, step)."""
  return jax.random.fold_in(jax.random.split(rollout)[1], step)
