"""One Brax episode as a Problem: the rollout the ES step vmaps over a device's members."""
from __future__ import annotations

from typing import Callable

import flax.struct
import jax
import jax.numpy as jnp

from esjax.policies import Policy
from esjax.problems import normalizer as norm_lib
from esjax.problems.base import Evaluation, Problem
from esjax.problems.normalizer import ObsStats
from esjax.problems.reference import member_policy
from esjax.problems.tricks import OFF, RolloutOptions, repeat, sample_obs_stats, shape_action


@flax.struct.dataclass
class _Carry:
  env_state: object
  ret: jnp.ndarray
  steps: jnp.ndarray
  alive: jnp.ndarray
  stats: ObsStats


DEFAULT_EPISODE_LENGTH = 1000  # Brax's own default, used when episode_length is None


def brax_problem(env, policy: Policy, episode_length: int | None, normalize_obs: bool = True,
                 obs_clip: float = 5.0, reward_shift: float = 0.0,
                 observe: Callable | None = None, obs_size: int | None = None,
                 options: RolloutOptions = OFF) -> Problem:
  """One episode of ``env`` under ``policy``, cut off at ``episode_length`` steps.

  ``reward_shift`` is subtracted from every step's reward (terminal step included), so the
  return is the true one minus ``reward_shift`` times the live steps: ARS's removal of the
  survival bonus, for training rollouts only (the trainer evaluates with an unshifted problem).
  It is applied only when non-zero, at trace time: shift 0 is the very same computation.

  Any env with Brax's ``reset(key)`` / ``step(state, action)`` and a state with ``obs``,
  ``reward`` and ``done`` works (MuJoCo Playground's ``MjxEnv`` too): ``observe(state)`` picks
  the observation vector (default ``state.obs``) and ``obs_size`` its length (default
  ``env.observation_size``).

  ``options`` are the rollout tricks (``problems/tricks.py``: action noise, action bins, frame
  skip, sampled observation statistics), each applied at trace time only when switched on.

  The episode is a ``lax.while_loop`` rather than a fixed ``lax.scan``: vmapped, it runs until
  every member of the slice is done, so a generation of policies that fall in 50 steps costs
  50 steps, not ``episode_length``. Finished members are frozen by the batching rule (their
  return, step count and observation sums stop changing at ``done``).
  """

  episode_length = DEFAULT_EPISODE_LENGTH if episode_length is None else episode_length
  observe = observe or (lambda s: s.obs)
  step = _stepper(env, options.frame_skip, reward_shift)

  def evaluate(params, normalizer, key, limit=None):
    # ``limit``: a traced step limit below ``episode_length`` (the adaptive cutoff), or None.
    length = episode_length if limit is None else jnp.minimum(limit, episode_length)
    act = _actor(policy, params, normalizer, normalize_obs, obs_clip, options, key)
    env_state = env.reset(key)
    obs0 = observe(env_state)
    init = _Carry(env_state, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32),
                  jnp.ones((), bool), ObsStats.of(obs0, _finite(obs0)))

    def cond(c):
      return c.alive & (c.steps < length)

    def body(c):
      action = act(observe(c.env_state), c.steps)
      nxt, reward, steps, alive = step(c.env_state, action, c.alive, c.steps, length)
      obs = observe(nxt)
      # The observation after a terminal step is never acted on: leave it out of the stats.
      stats = c.stats + ObsStats.of(obs, alive * _finite(obs))
      return _Carry(nxt, c.ret + reward, steps, alive, stats)

    out = jax.lax.while_loop(cond, body, init)
    return Evaluation(out.ret, out.steps, sample_obs_stats(options, key, out.stats))

  return Problem(evaluate, obs_size=int(env.observation_size if obs_size is None else obs_size))


def _actor(policy: Policy, params, normalizer, normalize_obs: bool, obs_clip: float,
           options: RolloutOptions, key) -> Callable:
  """``act(obs, steps) -> action`` of one member for one episode."""
  # The normalizer is fixed for the episode: take its mean/std once, not every step.
  mean, std = norm_lib.mean_std(normalizer)

  def prep(obs):
    return norm_lib.standardize(obs, mean, std, obs_clip) if normalize_obs else obs

  # VBN: this member's statistics of the reference batch, frozen for the episode.
  apply = member_policy(policy, params, normalizer, prep)

  def act(obs, steps):
    return shape_action(options, apply(prep(obs)), key, steps)

  return act


def _stepper(env, frame_skip: int, reward_shift: float) -> Callable:
  """``step(env_state, action, alive, steps, limit) -> (env_state, reward, steps, alive)``:
  one decision's env steps (``frame_skip`` of them), rewards shifted by ``reward_shift``."""

  def step(env_state, action, alive, steps, limit):
    if frame_skip > 1:
      return repeat(lambda s, a, _: (lambda n: (n, n.reward, n.done != 0))(env.step(s, a)),
                    env_state, action, alive, steps, limit, frame_skip, reward_shift)
    nxt = env.step(env_state, action)
    reward = nxt.reward - reward_shift if reward_shift else nxt.reward
    return nxt, reward, steps + 1, nxt.done == 0

  return step


def _finite(obs):
  # A NaN observation (a physics blow-up) must not poison the shared normalizer.
  return jnp.all(jnp.isfinite(obs)).astype(jnp.float32)
