"""Fitness functions: a Brax episode rollout, or any ``f(params, key) -> float`` black box.

Both are a ``Problem``: ``evaluate(flat_params, normalizer, key) -> Evaluation``. The ES step
vmaps ``evaluate`` over a device's slice of the population and never looks inside.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import flax.struct
import jax
import jax.numpy as jnp

from esjax import normalizer as norm_lib
from esjax.normalizer import NormalizerState, ObsStats
from esjax.policies import Policy


@flax.struct.dataclass
class Evaluation:
  ret: jnp.ndarray  # () episode return (NaN if the episode blew up)
  steps: jnp.ndarray  # () env steps of the live episode
  obs_stats: ObsStats  # observation sums for the normalizer


@dataclasses.dataclass(frozen=True)
class Problem:
  evaluate: Callable[[jax.Array, NormalizerState, jax.Array], Evaluation]
  obs_size: int  # 0 for a black box: no normalizer


def black_box(fitness: Callable[[jax.Array, jax.Array], jax.Array]) -> Problem:
  """Wraps ``fitness(flat_params, key) -> scalar`` (higher is better) as a Problem."""

  def evaluate(params, normalizer, key):
    del normalizer
    return Evaluation(jnp.asarray(fitness(params, key), jnp.float32), jnp.ones((), jnp.int32),
                      ObsStats.zeros(0))

  return Problem(evaluate, obs_size=0)


@flax.struct.dataclass
class _Carry:
  env_state: object
  ret: jnp.ndarray
  steps: jnp.ndarray
  alive: jnp.ndarray
  stats: ObsStats


def brax_problem(env, policy: Policy, episode_length: int, normalize_obs: bool = True,
                 obs_clip: float = 5.0) -> Problem:
  """One episode of ``env`` under ``policy``, cut off at ``episode_length`` steps.

  The episode is a ``lax.while_loop`` rather than a fixed ``lax.scan``: vmapped, it runs until
  every member of the slice is done, so a generation of policies that fall in 50 steps costs
  50 steps, not ``episode_length``. Finished members are frozen by the batching rule (their
  return, step count and observation sums stop changing at ``done``).
  """

  def evaluate(params, normalizer, key):
    # The normalizer is fixed for the episode: take its mean/std once, not every step.
    mean, std = norm_lib.mean_std(normalizer)

    def act(obs):
      return policy.apply(params, norm_lib.standardize(obs, mean, std, obs_clip)
                          if normalize_obs else obs)

    env_state = env.reset(key)
    init = _Carry(env_state, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32),
                  jnp.ones((), bool), ObsStats.of(env_state.obs, _finite(env_state.obs)))

    def cond(c):
      return c.alive & (c.steps < episode_length)

    def body(c):
      nxt = env.step(c.env_state, act(c.env_state.obs))
      alive = nxt.done == 0
      # The observation after a terminal step is never acted on: leave it out of the stats.
      stats = c.stats + ObsStats.of(nxt.obs, alive * _finite(nxt.obs))
      return _Carry(nxt, c.ret + nxt.reward, c.steps + 1, alive, stats)

    out = jax.lax.while_loop(cond, body, init)
    return Evaluation(out.ret, out.steps, out.stats)

  return Problem(evaluate, obs_size=int(env.observation_size))


def _finite(obs):
  # A NaN observation (a physics blow-up) must not poison the shared normalizer.
  return jnp.all(jnp.isfinite(obs)).astype(jnp.float32)
