"""gymnax 1.x environments (classic control and MinAtar) as a Problem.

Checked against the installed gymnax 1.0.1: ``env.step(key, state, action, params)`` returns
``(obs, state, reward, terminated, truncated, info)`` and auto-resets (on ``terminated or
truncated`` it returns the *next* episode's first observation and state). An ES episode must
end at its first terminal, so the rollout calls ``env.step_env`` instead, which returns
``(obs, state, reward, terminated, info)`` with no reset and no time limit, and the episode is
cut off here at ``episode_length`` (``env_params.max_steps_in_episode`` unless overridden).
The loop is the Brax rollout's ``lax.while_loop``: vmapped, finished members are frozen by the
batching rule, so nothing after a member's first ``terminated`` reaches its return, its step
count or the observation statistics.

Image observations (MinAtar's ``(10, 10, C)`` boolean frames) skip the observation
normalizer (``obs_size`` 0): the frames are already 0/1 and a per-pixel running mean would
mostly standardize empty cells; the CNN policy sees the raw frames.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from esjax.policies import Policy
from esjax.problems import normalizer as norm_lib
from esjax.problems.base import Evaluation, Problem
from esjax.problems.normalizer import ObsStats
from esjax.problems.reference import member_policy
from esjax.problems.tricks import OFF, RolloutOptions, repeat, sample_obs_stats, shape_action

CLASSIC = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1",
           "MountainCarContinuous-v0")
MINATAR = ("Asterix-MinAtar", "Breakout-MinAtar", "Freeway-MinAtar", "Seaquest-MinAtar",
           "SpaceInvaders-MinAtar")
SUPPORTED = CLASSIC + MINATAR


@dataclasses.dataclass(frozen=True)
class Spec:
  """What the policy and the rollout need to know about an env's spaces."""
  obs_shape: tuple[int, ...]
  action_size: int  # choices (discrete) or action dimensions (continuous)
  discrete: bool
  low: np.ndarray | None  # continuous action bounds (the policy's [-1, 1] maps onto them)
  high: np.ndarray | None
  max_steps: int  # env_params.max_steps_in_episode


def env_names() -> list[str]:
  import gymnax  # pylint: disable=g-import-not-at-top
  return [n for n in SUPPORTED if n in gymnax.registered_envs]


def make_env(name: str):
  """``(env, env_params, spec)`` of a supported gymnax env."""
  import gymnax  # pylint: disable=g-import-not-at-top
  from gymnax.environments import spaces  # pylint: disable=g-import-not-at-top
  env, params = gymnax.make(name)
  obs_space, act_space = env.observation_space(params), env.action_space(params)
  obs_shape = tuple(int(d) for d in obs_space.shape)
  if isinstance(act_space, spaces.Discrete):
    spec = Spec(obs_shape, int(act_space.n), True, None, None, int(params.max_steps_in_episode))
  else:
    shape = tuple(act_space.shape) or (1,)
    size = int(np.prod(shape))
    low = np.broadcast_to(np.asarray(act_space.low, np.float32), (size,)).copy()
    high = np.broadcast_to(np.asarray(act_space.high, np.float32), (size,)).copy()
    spec = Spec(obs_shape, size, False, low, high, int(params.max_steps_in_episode))
  return env, params, spec


@flax.struct.dataclass
class _Carry:
  env_state: object
  obs: jnp.ndarray
  ret: jnp.ndarray
  steps: jnp.ndarray
  alive: jnp.ndarray
  stats: ObsStats


def gymnax_problem(env, env_params, spec: Spec, policy: Policy, episode_length: int | None = None,
                   normalize_obs: bool = True, obs_clip: float = 5.0,
                   reward_shift: float = 0.0, options: RolloutOptions = OFF) -> Problem:
  """One episode of a gymnax env under ``policy``: the Brax rollout's contract (return, live
  steps, observation sums), ending at the first ``terminated`` or after ``episode_length``
  steps (default: the env's ``max_steps_in_episode``). ``options``: the rollout tricks
  (``problems/tricks.py``); action noise and bins need continuous actions."""
  if spec.discrete and options.shapes_actions:
    raise ValueError("action noise and action bins need continuous actions")
  length = spec.max_steps if episode_length is None else int(episode_length)
  image = len(spec.obs_shape) == 3
  obs_size = 0 if image else int(np.prod(spec.obs_shape))
  normalize = normalize_obs and not image

  def evaluate(params, normalizer, key, limit=None):
    # ``limit``: a traced step limit below ``length`` (the adaptive cutoff), or None.
    cut = length if limit is None else jnp.minimum(limit, length)
    act = _actor(policy, params, normalizer, spec, normalize, obs_clip, options, key)
    reset_key, step_key = jax.random.split(key)
    obs, env_state = env.reset_env(reset_key, env_params)
    obs = jnp.asarray(obs, jnp.float32)
    init = _Carry(env_state, obs, jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32),
                  jnp.ones((), bool), _stats_of(image, obs, jnp.ones((), jnp.float32)))
    step = _stepper(env, env_params, step_key, options.frame_skip, reward_shift)

    def cond(c):
      return c.alive & (c.steps < cut)

    def body(c):
      action = act(c.obs, c.steps)
      (env_state, obs), reward, steps, alive = step((c.env_state, c.obs), action, c.alive,
                                                    c.steps, cut)
      # The observation after a terminal step is never acted on: leave it out of the stats.
      stats = c.stats + _stats_of(image, obs, alive.astype(jnp.float32))
      return _Carry(env_state, obs, c.ret + reward, steps, alive, stats)

    out = jax.lax.while_loop(cond, body, init)
    return Evaluation(out.ret, out.steps, sample_obs_stats(options, key, out.stats))

  return Problem(evaluate, obs_size=obs_size)


def _stats_of(image: bool, obs, weight) -> ObsStats:
  """An observation's statistics (none for images: they are not normalized)."""
  if image:
    return ObsStats.zeros(0)
  obs = obs.reshape(-1)
  return ObsStats.of(obs, weight * jnp.all(jnp.isfinite(obs)).astype(jnp.float32))


def _actor(policy: Policy, params, normalizer, spec: Spec, normalize: bool, obs_clip: float,
           options: RolloutOptions, key) -> Callable:
  """``act(obs, steps) -> action`` of one member for one episode, in the env's action space."""
  image = len(spec.obs_shape) == 3
  mean, std = norm_lib.mean_std(normalizer)

  def prep(obs):
    x = obs.reshape(-1) if not image else obs
    if normalize:
      x = norm_lib.standardize(x, mean, std, obs_clip)
    return x if not image else x.astype(jnp.float32)

  apply = member_policy(policy, params, normalizer, prep)  # VBN: stats frozen for the episode

  def act(obs, steps):
    out = apply(prep(obs))
    if spec.discrete:
      return out  # an int32 index from the argmax head
    out = shape_action(options, out, key, steps)
    a = spec.low + (out + 1.0) * 0.5 * (spec.high - spec.low)
    # gymnax's 1-d continuous envs (Pendulum, MountainCarContinuous) step with a scalar: a (1,)
    # action would turn their scalar state fields into (1,) arrays.
    return a.reshape(()) if spec.action_size == 1 else a

  return act


def _stepper(env, env_params, step_key, frame_skip: int, reward_shift: float) -> Callable:
  """``step((env_state, obs), action, alive, steps, limit) -> ((env_state, obs), reward,
  steps, alive)``: one decision's env steps (``frame_skip`` of them), each with its own key
  from ``step_key``, rewards shifted by ``reward_shift``."""

  def env_step(state_obs, action, steps):
    k = jax.random.fold_in(step_key, steps)
    obs, env_state, reward, terminated, _ = env.step_env(k, state_obs[0], action, env_params)
    return (env_state, jnp.asarray(obs, jnp.float32)), reward, terminated

  def step(state_obs, action, alive, steps, limit):
    if frame_skip > 1:
      return repeat(env_step, state_obs, action, alive, steps, limit, frame_skip, reward_shift)
    state_obs, reward, terminated = env_step(state_obs, action, steps)
    alive = ~jnp.asarray(terminated, bool).reshape(())
    reward = jnp.asarray(reward, jnp.float32).reshape(())
    if reward_shift:
      reward = reward - reward_shift
    return state_obs, reward, steps + 1, alive

  return step
