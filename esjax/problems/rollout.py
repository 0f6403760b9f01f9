"""One episode of any protocol env (``esjax.envs``) as a Problem: the one rollout that
training, evaluation, ``esjax eval`` and the VBN reference batch run.

The episode is a ``lax.while_loop`` rather than a fixed ``lax.scan``: vmapped over a device's
members, it runs until every member is done, so a generation of policies that fall in 50 steps
costs 50 steps, not ``episode_length``. Finished members are frozen by the batching rule: their
return, step count and observation sums stop changing at their first ``done``. The
observation after a terminal step is never acted on and stays out of the statistics; a
non-finite observation (a physics blow-up) never reaches the shared normalizer.

Keys: the env resets from the member's rollout key and steps with ``keys.env_step_key(key,
t)``; the rollout tricks (``tricks.py``) draw from streams of their own, so switching one on
changes no other random number of the episode.
"""
from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from esjax import keys
from esjax.problems import normalizer as norm_lib
from esjax.problems.base import Episode, Evaluation, Problem
from esjax.problems.interface import ActionView, ObsView
from esjax.problems.normalizer import ObsStats
from esjax.problems.reference import member_apply, member_policy
from esjax.problems.tricks import OFF, RolloutOptions, repeat, sample_obs_stats


@flax.struct.dataclass
class _Carry:
  env_state: object
  obs: jnp.ndarray  # the observation as the policy reads it (``ObsView``)
  ret: jnp.ndarray
  steps: jnp.ndarray
  alive: jnp.ndarray
  stats: ObsStats
  trace: object = None  # with ``record``: (decisions + 1, ...) buffers of recorded states
  # The member itself, carried so that any lane can step it (``core/lanes.py``): its policy
  # as the steps apply it (``reference.member_policy``: weights unpacked, VBN statistics) and
  # its rollout key.
  member: object = None
  key: jax.Array = None


def _stats(view: ObsView, obs, weight):
  if view.image:
    return ObsStats.zeros(0)
  return ObsStats.of(obs, weight * jnp.all(jnp.isfinite(obs)).astype(jnp.float32))


def _env_step(env, view: ObsView, reward_shift: float, key):
  """``(env_state, obs), action, steps -> (env_state, obs), reward, done``: one env step with
  its step key, the observation read and the reward shifted (at trace time, only if set)."""

  def step(state_obs, action, steps):
    state, obs, reward, done = env.step(state_obs[0], action, keys.env_step_key(key, steps))
    reward = jnp.asarray(reward, jnp.float32).reshape(())
    if reward_shift:
      reward = reward - reward_shift
    return (state, view(obs)), reward, jnp.asarray(done, bool).reshape(())

  return step


def _start_trace(record, env_state, obs, length: int):
  """Buffers for ``length + 1`` records, the first filled with the reset's."""
  first = record(env_state, obs)
  return jax.tree.map(lambda x: jnp.zeros((length + 1,) + x.shape, x.dtype).at[0].set(x), first)


def _add_to_trace(trace, record, env_state, obs, index):
  return jax.tree.map(lambda buf, x: buf.at[index].set(x), trace, record(env_state, obs))


def env_problem(env, policy, view: ObsView, act: ActionView, episode_length: int,
                normalize_obs: bool = True, obs_clip: float = 5.0, reward_shift: float = 0.0,
                options: RolloutOptions = OFF, record=None) -> Problem:
  """One episode of ``env`` under ``policy``, cut off at ``episode_length`` env steps.

  ``reward_shift`` is subtracted from every step's reward (terminal step included): ARS's
  removal of the survival bonus, for training rollouts only (evaluation runs an unshifted
  problem); shift 0 is the very same computation. ``options``: the rollout tricks (action
  noise and bins need continuous actions). ``record(env_state, obs)`` (rendering; ``obs`` as
  read) keeps what it returns for the reset and every decision in ``Evaluation.trace``; the
  episode is the same."""
  if act.discrete and options.shapes_actions:
    raise ValueError("action noise and action bins need continuous actions")
  normalize = normalize_obs and not view.image

  def episode(normalizer, limit=None) -> Episode:
    # ``limit``: a traced step limit below ``episode_length`` (the adaptive cutoff), or None.
    length = episode_length if limit is None else jnp.minimum(limit, episode_length)
    mean, std = norm_lib.mean_std(normalizer)  # fixed for the episode: computed once

    def prep(x):
      return norm_lib.standardize(x, mean, std, obs_clip) if normalize else x

    def start(params, key):
      env_state, obs = env.reset(key)
      obs = view(obs)
      trace = None if record is None else _start_trace(record, env_state, obs, episode_length)
      return _Carry(env_state, obs, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32),
                    jnp.ones((), bool), _stats(view, obs, jnp.ones((), jnp.float32)), trace,
                    member_policy(policy, params, normalizer, prep), key)

    def step(c):
      out = member_apply(policy, c.member, prep(c.obs))
      return _step(env, view, act, options, reward_shift, record, length, c, out)

    def finish(c):
      return Evaluation(c.ret, c.steps, sample_obs_stats(options, c.key, c.stats), c.trace)

    return Episode(start, step, lambda c: c.alive & (c.steps < length), finish)

  def evaluate(params, normalizer, key, limit=None):
    ep = episode(normalizer, limit)
    return ep.finish(jax.lax.while_loop(ep.running, ep.step, ep.start(params, key)))

  return Problem(evaluate, obs_size=view.size, episode=episode)


def _step(env, view: ObsView, act: ActionView, options: RolloutOptions, reward_shift: float,
          record, length, c: _Carry, out) -> _Carry:
  """One decision of a live episode: the policy's output ``out`` acted on (repeated over the
  frame skip), the return, step count, statistics and trace moved on."""
  action = act(out, options, c.key, c.steps)
  step = _env_step(env, view, reward_shift, c.key)
  if options.frame_skip > 1:
    (env_state, obs), reward, steps, alive = repeat(
        step, (c.env_state, c.obs), action, c.alive, c.steps, length, options.frame_skip)
  else:
    (env_state, obs), reward, done = step((c.env_state, c.obs), action, c.steps)
    alive, steps = ~done, c.steps + 1
  stats = c.stats + _stats(view, obs, alive.astype(jnp.float32))
  trace = c.trace
  if record is not None:  # the decision's index: env steps over the frame skip, rounded up
    trace = _add_to_trace(trace, record, env_state, obs,
                          (steps + options.frame_skip - 1) // options.frame_skip)
  return c.replace(env_state=env_state, obs=obs, ret=c.ret + reward, steps=steps, alive=alive,
                   stats=stats, trace=trace)
