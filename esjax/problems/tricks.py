"""The paper's rollout tricks (Salimans et al. 2017 and its released starter), written once for
every rollout loop (Brax, Playground, gymnax). Each is off by default, and off means *absent*:
the loops consult these options at trace time only, so a default rollout is the very same
computation it was before they existed.

* ``action_noise``: Gaussian noise of this std added to every action the policy takes, in the
  policy's ``[-1, 1]`` output space (clipped back into it) before it is scaled to the env's
  bounds; training rollouts only (the starter's ``ac_noise_std``; the released Humanoid
  configuration uses 0.01). Continuous actions only.
* ``action_bins``: every action dimension snapped to ``k`` evenly spaced values in ``[-1, 1]``
  (``k >= 2``; -1 and 1 are always bins): the discretized MuJoCo experiments' action grid, here
  applied to the tanh head's output. Continuous actions only; applied in evaluation too.
* ``frame_skip``: each chosen action is repeated ``k`` env steps, rewards summed; the episode
  ends at the first ``done`` within a repeat. Step counts and ``episode_length`` stay in *env*
  steps (the live ones actually simulated), so budgets compare across ``k``; the observation
  statistics count the observations the policy acts on (one per decision). Evaluation too.
* ``obs_stat_prob``: each training episode's observations enter the normalizer's statistics
  with probability ``p`` (one Bernoulli draw per member-episode, the starter's
  ``calc_obstat_prob``); an episode either counts in full or not at all. ``p = 1`` is every
  episode.

The adaptive episode cutoff (the starter's ``episode_cutoff_mode='adaptive'``) is the one trick
with state: training episodes are cut at a limit that starts at ``adaptive_cutoff`` env steps
and, after every generation in which at least ``cutoff_threshold`` of the population's episodes
ran into it, is multiplied by ``cutoff_ratio`` (rounded down, at least one step more, at most
``episode_length``). The limit lives in the replicated ``TrainState`` (so it is checkpointed)
and is updated inside the compiled step from the all-gathered step counts, so every device
computes the same value. Evaluation episodes ignore it and run ``episode_length``.

Every random draw comes from the member's rollout key (``esjax.keys``), so runs stay the same
on any device count, and mirrored partners share their action noise and their draw (common
random numbers, like their env resets).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

from esjax import keys


@dataclasses.dataclass(frozen=True)
class RolloutOptions:
  action_noise: float = 0.0
  action_bins: int = 0  # 0 = continuous
  frame_skip: int = 1
  obs_stat_prob: float = 1.0

  def for_eval(self) -> "RolloutOptions":
    """What an evaluation episode runs: no action noise (the obs-stat draw is unused there)."""
    return dataclasses.replace(self, action_noise=0.0, obs_stat_prob=1.0)

  @property
  def shapes_actions(self) -> bool:
    return bool(self.action_noise) or bool(self.action_bins)

  @classmethod
  def of(cls, problem_config) -> "RolloutOptions":
    """The options of a ``ProblemConfig``."""
    return cls(**{f.name: getattr(problem_config, f.name) for f in dataclasses.fields(cls)})


OFF = RolloutOptions()


@dataclasses.dataclass(frozen=True)
class AdaptiveCutoff:
  """The episode-length limit's schedule (see the module doc)."""
  start: int  # the first generation's limit, in env steps
  threshold: float  # fraction of episodes at the limit that raises it
  ratio: float  # > 1: the factor it is raised by
  maximum: int  # the rollout's episode_length: never beyond

  @classmethod
  def of(cls, problem_config, episode_length: int) -> "AdaptiveCutoff | None":
    pc = problem_config
    if not pc.adaptive_cutoff:
      return None
    return cls(int(pc.adaptive_cutoff), float(pc.cutoff_threshold), float(pc.cutoff_ratio),
               int(episode_length))

  def init(self) -> jnp.ndarray:
    return jnp.asarray(self.start, jnp.int32)  # at most maximum: training/setup.py refuses more

  def update(self, limit: jnp.ndarray, steps: jnp.ndarray) -> jnp.ndarray:
    """The next limit from this generation's ``limit`` and the population's ``steps`` (pop,)."""
    hit = jnp.mean((steps >= limit).astype(jnp.float32))
    raised = jnp.floor(limit.astype(jnp.float32) * self.ratio).astype(jnp.int32)
    raised = jnp.minimum(jnp.maximum(raised, limit + 1), self.maximum)
    return jnp.where(hit >= self.threshold, raised, limit)


def snap(action: jnp.ndarray, bins: int) -> jnp.ndarray:
  """``action`` in ``[-1, 1]`` to the nearest of ``bins`` evenly spaced values in ``[-1, 1]``."""
  index = jnp.round((jnp.clip(action, -1.0, 1.0) + 1.0) * (0.5 * (bins - 1)))
  return index * (2.0 / (bins - 1)) - 1.0


def shape_action(opts: RolloutOptions, out: jnp.ndarray, key: jax.Array,
                 step: jnp.ndarray) -> jnp.ndarray:
  """The policy's continuous output (``[-1, 1]``) at env step ``step`` as the env gets it:
  plus noise from the member's rollout ``key``, then snapped to the bins. The identity (no
  operation at all) when both are off."""
  if opts.action_noise:
    eps = jax.random.normal(keys.action_noise_key(key, step), out.shape, out.dtype)
    out = jnp.clip(out + opts.action_noise * eps, -1.0, 1.0)
  if opts.action_bins:
    out = snap(out, opts.action_bins)
  return out


def sample_obs_stats(opts: RolloutOptions, key: jax.Array, stats):
  """The episode's observation sums, kept with probability ``obs_stat_prob`` (else zeros)."""
  if opts.obs_stat_prob >= 1.0:
    return stats
  keep = jax.random.bernoulli(keys.obs_stat_key(key), opts.obs_stat_prob)
  # where, not multiply: a huge (but finite) sum of squares times 0 could be inf * 0 = NaN.
  return jax.tree.map(lambda x: jnp.where(keep, x, jnp.zeros_like(x)), stats)


def repeat(step: Callable, env_state, action, alive: jnp.ndarray, steps: jnp.ndarray,
           limit, k: int, reward_shift: float = 0.0):
  """``action`` repeated up to ``k`` env steps (frame skip), from a live state at ``steps``.

  ``step(env_state, action, steps) -> (env_state, reward, done)`` is one env step (``steps``:
  the env steps taken before it, e.g. for a per-step key). A sub-step runs only while the
  episode is live (no ``done`` yet) and below ``limit`` env steps; one that does not run leaves
  the state as it was. Returns ``(env_state, reward_sum, steps, alive)``, ``reward_sum`` over
  the live sub-steps (each shifted by ``reward_shift``).
  """
  def sub_step(_, c):
    env_state, total, steps, alive = c
    live = alive & (steps < limit)
    nxt, reward, done = step(env_state, action, steps)
    reward = jnp.asarray(reward, jnp.float32).reshape(())
    if reward_shift:
      reward = reward - reward_shift
    env_state = jax.tree.map(lambda n, o: jnp.where(live, n, o), nxt, env_state)
    total = total + jnp.where(live, reward, 0.0)
    alive = alive & ~(live & jnp.asarray(done, bool).reshape(()))
    return env_state, total, steps + live.astype(steps.dtype), alive

  # A loop, not k unrolled copies: the env step is compiled once whatever k is.
  return jax.lax.fori_loop(0, k, sub_step,
                           (env_state, jnp.zeros((), jnp.float32), steps, alive))
