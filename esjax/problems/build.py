"""A config's problem and policy sections (and optionally a user's env object) built into the
training and evaluation problems, the policy and its initial params."""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax

from esjax.envs import adapters, base, imports, registry
from esjax.errors import ConfigError
from esjax.policies import Policy, make_policy
from esjax.problems import reference
from esjax.problems.base import Problem
from esjax.problems.interface import ActionView, ObsView, action_view, obs_view
from esjax.problems.rollout import env_problem
from esjax.problems.tricks import RolloutOptions


@dataclasses.dataclass(frozen=True)
class Built:
  problem: Problem  # training rollouts (rewards shifted by the strategy's reward_shift)
  eval_problem: Problem  # the true reward (the same object when the shift is 0)
  policy: Policy
  params: jax.Array  # initial flat params
  env: Any  # the protocol env
  obs: ObsView
  act: ActionView
  episode_length: int  # what the rollout runs: the config's, or the env's own

  @property
  def obs_shape(self) -> tuple[int, ...]:
    return self.obs.shape

  @property
  def action_size(self) -> int:
    return self.act.size

  @property
  def discrete(self) -> bool:
    return self.act.discrete


def make_env(problem_config, env=None):
  """The protocol env: ``env`` (a user's object, adapted) or the one the config names. A
  user's env is traced once here, so one that JAX cannot trace, or whose outputs do not fit
  its spaces, fails in one line."""
  pc = problem_config
  if env is not None:
    env = adapters.as_env(env)
  else:
    env = registry.make(pc.env, pc.backend, dict(pc.env_kwargs))
    if not registry.is_import_path(pc.env):
      return env  # a registered env: known to trace
  imports.check_env(env, pc.env)
  return env


def views(problem_config, env) -> tuple[ObsView, ActionView]:
  return obs_view(env.observation_space, problem_config.obs_key), action_view(env.action_space)


def discrete_actions(problem_config, env=None) -> bool:
  """Whether the env takes discrete actions (checked before the rollout tricks' options).
  Brax and Playground envs never do: they are not built for the answer, so validating a
  config starts no JAX backend (a multi-process job joins its peers after validating)."""
  if env is None and registry.continuous_only(problem_config.env):
    return False
  return views(problem_config, make_env(problem_config, env))[1].discrete


def _policy(policy_config, name: str, obs: ObsView, act: ActionView, key, module):
  pol = policy_config
  try:
    return make_policy(pol.kind, obs.shape, act.size, pol.hidden_sizes, pol.activation, key,
                       discrete=act.discrete, vbn=pol.vbn, module=module, nvec=act.nvec)
  except ValueError as e:
    raise ConfigError(f"policy={pol.kind!r} does not fit {name!r}: {e}") from None


def initial_params(built: Built, policy_config, key: jax.Array, module=None) -> jax.Array:
  """The policy's initial flat params drawn from ``key`` (``build`` drew ``built.params``
  from its own): seed s of a K-seed run starts where the single run with seed + s does."""
  return _policy(policy_config, "", built.obs, built.act, key, module)[1]


def build(problem_config, policy_config, key: jax.Array, reward_shift: float = 0.0,
          module=None, env=None) -> Built:
  """The problems (training and evaluation), the policy and its initial params.

  The evaluation problem measures the true reward with the noiseless policy: no reward shift,
  no action noise (``tricks.RolloutOptions.for_eval``); action bins and frame skip are part of
  the policy's behaviour and apply to both."""
  pc = problem_config
  env = make_env(pc, env)
  obs, act = views(pc, env)
  length = base.episode_length(env, pc.episode_length)
  policy, params = _policy(policy_config, pc.env, obs, act, key, module)
  options = RolloutOptions.of(pc)

  def make_problem(shift, opts):
    if act.discrete and opts.shapes_actions:
      raise ConfigError(f"action_noise and action_bins need continuous actions; {pc.env!r} "
                        "has discrete ones")
    return env_problem(env, policy, obs, act, length, pc.normalize_obs, pc.obs_clip,
                       reward_shift=shift, options=opts)

  # Training rollouts take the strategy's reward shift (ARS's survival bonus) and the action
  # noise; evaluation measures the true reward of the noiseless policy. Without either, both
  # are the very same rollout.
  problem = make_problem(reward_shift, options)
  eval_options = options.for_eval()
  eval_problem = (make_problem(0.0, eval_options) if reward_shift or eval_options != options
                  else problem)
  if policy_config.vbn:  # both problems read the one reference batch in the state
    collect = reference.env_collector(env, obs, length,
                                      policy_config.vbn_batch or reference.DEFAULT_SIZE)
    problem = dataclasses.replace(problem, reference_batch=collect)
    eval_problem = dataclasses.replace(eval_problem, reference_batch=collect)
  return Built(problem, eval_problem, policy, params, env, obs, act, int(length))


def eval_problem(problem_config, policy_config, env=None, record=None, module=None):
  """``(the evaluation problem, what was built)``: the training rollout without its noise,
  as ``esjax eval`` and ``esjax render`` run it (``record``: see ``rollout.env_problem``)."""
  built = build(problem_config, policy_config, jax.random.PRNGKey(0), module=module, env=env)
  if record is None:
    return built.eval_problem, built
  pc = problem_config
  return env_problem(built.env, built.policy, built.obs, built.act, built.episode_length,
                     pc.normalize_obs, pc.obs_clip, options=RolloutOptions.of(pc).for_eval(),
                     record=record), built


@functools.lru_cache(maxsize=8)
def _cached_evaluator(problem_config, policy_config):
  return _vmapped(eval_problem(problem_config, policy_config)[0].evaluate)


def _vmapped(evaluate):
  return jax.jit(jax.vmap(evaluate, in_axes=(None, None, 0)))


def evaluator(problem_config, policy_config, env=None, module=None):
  """A jitted ``(flat, normalizer, keys) -> Evaluation`` over a batch of episode keys. For a
  named env it is cached per config: evaluating again (another seed, another checkpoint of the
  same run) costs no recompilation."""
  if env is None and module is None:
    return _cached_evaluator(problem_config, policy_config)
  return _vmapped(eval_problem(problem_config, policy_config, env, module=module)[0].evaluate)
