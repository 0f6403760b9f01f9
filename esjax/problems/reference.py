"""The reference batch of virtual batch normalization: observations of a random policy.

As in the ES paper's code (``get_ref_batch``): one env, uniformly random actions, the first
``size`` observations the policy would have acted on, the env reset at every terminal (and at
the rollout's ``episode_length``, so the batch comes from the states training episodes visit).
Drawn once at setup from ``keys.vbn_key(run_key)`` by one jitted ``lax.scan`` (``size``
sequential env steps: 128 steps cost well under a second). Nothing here depends on the device
count or the process: each process computes the same batch from the same key, and it reaches
the step inside the replicated state (``NormalizerState.vbn_batch``), never over the network.
The observations are raw: each episode preprocesses the batch exactly as it preprocesses its
own observations (normalizer, flattening) before the network computes its statistics.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

# The batch size of the ES paper's Atari runs (and Salimans et al. 2016's VBN).
DEFAULT_SIZE = 128


def collector(reset: Callable, step: Callable, random_action: Callable, size: int,
              episode_length: int) -> Callable[[jax.Array], jax.Array]:
  """A jitted ``key -> (size, *obs_shape)`` float32 observations of one env under random
  actions (compiled once, whatever the number of seeds that call it).

  ``reset(key) -> (obs, state)``; ``step(state, action, key) -> (obs, state, done)``;
  ``random_action(key) -> action``.
  """

  def body(carry, i, run_key):
    obs, state, t = carry
    k_act, k_step, k_reset = jax.random.split(jax.random.fold_in(run_key, i), 3)
    nxt_obs, nxt, done = step(state, random_action(k_act), k_step)
    end = jnp.asarray(done, bool).reshape(()) | (t + 1 >= episode_length)
    # Not vmapped: the cond runs one branch, so a reset costs nothing on steps that need none.
    new_obs, new_state, new_t = jax.lax.cond(
        end, lambda: (*reset(k_reset), jnp.zeros((), jnp.int32)),
        lambda: (nxt_obs, nxt, t + 1))
    return (new_obs, new_state, new_t), obs

  @jax.jit
  def collect(key):
    reset_key, run_key = jax.random.split(key)
    obs0, state0 = reset(reset_key)
    _, batch = jax.lax.scan(lambda c, i: body(c, i, run_key),
                            (obs0, state0, jnp.zeros((), jnp.int32)), jnp.arange(size))
    return jnp.asarray(batch, jnp.float32)

  return collect


def env_collector(env, view, episode_length: int,
                  size: int) -> Callable[[jax.Array], jax.Array]:
  """The reference batch of a protocol env (``esjax.envs``): random actions from
  ``envs.base.sample_action``, observations read as the rollout reads them (``view``)."""
  from esjax.envs.base import sample_action  # pylint: disable=g-import-not-at-top

  def reset(k):
    state, obs = env.reset(k)
    return view(obs), state

  def step(s, a, k):
    nxt, obs, _, done = env.step(s, a, k)
    return view(obs), nxt, done

  return collector(reset, step, lambda k: sample_action(env, k), size, episode_length)


def member_stats(policy, params, normalizer, prep: Callable):
  """What the member's policy keeps frozen for one episode: with VBN, the statistics of the
  reference batch (``normalizer.vbn_batch``, passed through ``prep`` as each observation is)
  under this member's ``params``, computed once per episode, per member, under its own
  perturbed weights, never sent anywhere; None without VBN."""
  if not getattr(policy, "vbn", False):
    return None
  if normalizer.vbn_batch is None:
    raise ValueError("a VBN policy needs the reference batch in the normalizer state "
                     "(NormalizerState.vbn_batch); train.setup draws it from the problem's "
                     "reference_batch")
  return policy.reference_stats(params, jax.vmap(prep)(normalizer.vbn_batch))


def member_policy(policy, params, normalizer, prep: Callable):
  """The member's policy as its episode's steps apply it, built once at the episode's start:
  ``Policy.bind`` (weights unpacked from the flat vector, VBN statistics from
  ``member_stats``); for any other object with ``apply(params, obs)``, the params (and stats)
  as they are."""
  stats = member_stats(policy, params, normalizer, prep)
  if hasattr(policy, "bind"):
    return policy.bind(params, stats)
  return params, stats


def member_apply(policy, member, obs):
  """The policy's output on ``obs`` (already passed through ``prep``) for ``member``, what
  ``member_policy`` built."""
  if hasattr(policy, "apply_bound"):
    return policy.apply_bound(member, obs)
  params, stats = member
  return policy.apply(params, obs) if stats is None else policy.apply(params, obs, stats)
