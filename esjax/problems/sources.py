"""Environment sources behind one naming scheme, and problem construction from a config.

``--env hopper`` is Brax (as always); ``--env gymnax:CartPole-v1`` and
``--env gymnax:Breakout-MinAtar`` are gymnax 1.x; ``--env playground:CartpoleBalance`` is
MuJoCo Playground. ``build`` turns a config's problem and policy sections into the training
and evaluation problems plus the policy; ``check`` validates a name (one ``ConfigError`` line:
an unknown name lists the closest matches from every installed registry; a source whose extra
is not installed names the pip command).
"""
from __future__ import annotations

import dataclasses
import difflib
import importlib.util
from typing import Any, Callable

import jax

from esjax.errors import ConfigError

SOURCES = ("brax", "gymnax", "playground")
# The module each source imports, and how to install it.
_MODULES = {"brax": "brax", "gymnax": "gymnax", "playground": "mujoco_playground"}
_INSTALL = {"gymnax": 'pip install -e ".[gymnax]"', "playground": 'pip install -e ".[playground]"'}


@dataclasses.dataclass(frozen=True)
class Built:
  problem: Any  # Problem: training rollouts (rewards shifted by the config's reward_shift)
  eval_problem: Any  # Problem: the true reward (the same object when the shift is 0)
  policy: Any  # Policy
  params: jax.Array  # initial flat params
  obs_shape: tuple[int, ...]
  action_size: int
  discrete: bool
  episode_length: int  # what the rollout runs: the config's, or the env's own


def parse(name: str) -> tuple[str, str]:
  """``"gymnax:CartPole-v1"`` -> ``("gymnax", "CartPole-v1")``; no prefix is Brax."""
  if ":" in name:
    source, env = name.split(":", 1)
    if source not in SOURCES:
      raise ConfigError(f"unknown env source {source!r} in {name!r}; expected one of: "
                        f"{', '.join(SOURCES)} (e.g. gymnax:CartPole-v1; no prefix = brax)")
    return source, env
  return "brax", name


def installed(source: str) -> bool:
  return importlib.util.find_spec(_MODULES[source]) is not None


def require(source: str) -> None:
  if not installed(source):
    raise ConfigError(f"{source} envs need the {source} extra, which is not installed: "
                      f"{_INSTALL.get(source, 'pip install ' + source)}")


def names(source: str) -> list[str]:
  """The env names of an installed source (bare, without the prefix)."""
  if source == "brax":
    from esjax.problems import brax_envs  # pylint: disable=g-import-not-at-top
    return brax_envs.env_names()
  if source == "gymnax":
    from esjax.problems import gymnax as gx  # pylint: disable=g-import-not-at-top
    return gx.env_names()
  from esjax.problems import playground as pg  # pylint: disable=g-import-not-at-top
  return pg.env_names()


def qualified(source: str, name: str) -> str:
  return name if source == "brax" else f"{source}:{name}"


def close_matches(name: str, n: int = 5) -> list[str]:
  """Qualified names from every installed registry closest to ``name`` (case-insensitive)."""
  _, bare = name.split(":", 1) if ":" in name else ("", name)
  candidates = {}
  for source in SOURCES:
    if installed(source):
      for env in names(source):
        candidates.setdefault(env.lower(), []).append(qualified(source, env))
  out = []
  for hit in difflib.get_close_matches(bare.lower(), list(candidates), n=n, cutoff=0.5):
    out.extend(candidates[hit])
  return out[:n]


def _unknown(name: str) -> ConfigError:
  close = close_matches(name)
  missing = [s for s in SOURCES if not installed(s)]
  hint = f"closest: {', '.join(close)}" if close else "no close match"
  more = f"; not installed: {', '.join(missing)}" if missing else ""
  return ConfigError(f"unknown env {name!r}; {hint} (`esjax envs` lists them all{more})")


def check(name: str, backend: str | None = None) -> None:
  """Raises ``ConfigError`` (one line) unless ``name`` (and ``backend``) can be built."""
  source, env = parse(name)
  require(source)
  if env not in names(source):
    raise _unknown(name)
  if source == "brax":
    from esjax.problems import brax_envs  # pylint: disable=g-import-not-at-top
    brax_envs.check_env(env, backend or brax_envs.DEFAULT_BACKEND)
  elif source == "gymnax":
    if backend is not None:
      raise ConfigError(f"backend={backend!r} is invalid for gymnax envs (they have none); "
                        "drop --backend")
  elif backend is not None:
    from esjax.problems import playground as pg  # pylint: disable=g-import-not-at-top
    if backend not in pg.BACKENDS:
      raise ConfigError(f"backend={backend!r} is invalid for a playground env; expected one "
                        f"of: {', '.join(pg.BACKENDS)}")


def discrete_actions(name: str) -> bool:
  """Whether env ``name`` (already checked) takes discrete actions: some gymnax envs do."""
  source, env = parse(name)
  if source != "gymnax":
    return False
  from esjax.problems import gymnax as gx  # pylint: disable=g-import-not-at-top
  return gx.make_env(env)[2].discrete


def resolved_backend(name: str, backend: str | None) -> str | None:
  """The backend a run uses: Brax's default (spring), playground's (jax), gymnax none."""
  source, _ = parse(name)
  if backend is not None:
    return backend
  if source == "brax":
    from esjax.problems import brax_envs  # pylint: disable=g-import-not-at-top
    return brax_envs.DEFAULT_BACKEND
  return "jax" if source == "playground" else None


@dataclasses.dataclass(frozen=True)
class _Env:
  """One source's env, ready for a policy: its shapes, and how to build its problems."""
  obs_shape: tuple[int, ...]
  action_size: int
  discrete: bool
  length: int  # the episode length the rollout runs
  make_problem: Callable  # (policy, reward_shift, RolloutOptions) -> Problem
  make_collector: Callable  # (size) -> the VBN reference-batch collector


def build(problem_config, policy_config, key: jax.Array, reward_shift: float = 0.0,
          module=None) -> Built:
  """The problems (training and evaluation), the policy and its initial params.

  The evaluation problem measures the true reward with the noiseless policy: no reward shift,
  no action noise (``tricks.RolloutOptions.for_eval``); action bins and frame skip are part of
  the policy's behaviour and apply to both."""
  from esjax.policies import make_policy  # pylint: disable=g-import-not-at-top
  from esjax.problems import reference  # pylint: disable=g-import-not-at-top
  from esjax.problems.tricks import RolloutOptions  # pylint: disable=g-import-not-at-top
  pc, pol = problem_config, policy_config
  options = RolloutOptions.of(pc)
  check(pc.env, pc.backend)
  source, name = parse(pc.env)
  env = _gymnax_env(pc, name) if source == "gymnax" else _brax_env(pc, source, name)
  try:
    policy, params = make_policy(pol.kind, env.obs_shape, env.action_size, pol.hidden_sizes,
                                 pol.activation, key, discrete=env.discrete, vbn=pol.vbn,
                                 module=module)
  except ValueError as e:
    raise ConfigError(f"policy={pol.kind!r} does not fit {pc.env!r}: {e}") from None
  # Training rollouts take the config's reward shift (ARS's survival bonus) and the action
  # noise; evaluation measures the true reward of the noiseless policy. Without either, both
  # are the very same rollout.
  problem = env.make_problem(policy, reward_shift, options)
  eval_options = options.for_eval()
  eval_problem = (env.make_problem(policy, 0.0, eval_options)
                  if reward_shift or eval_options != options else problem)
  if pol.vbn:  # both problems read the one reference batch in the state; either can draw it
    collect = env.make_collector(pol.vbn_batch or reference.DEFAULT_SIZE)
    problem = dataclasses.replace(problem, reference_batch=collect)
    eval_problem = dataclasses.replace(eval_problem, reference_batch=collect)
  return Built(problem, eval_problem, policy, params, tuple(env.obs_shape), env.action_size,
               env.discrete, int(env.length))


def _gymnax_env(pc, name: str) -> _Env:
  from esjax.problems import gymnax as gx  # pylint: disable=g-import-not-at-top
  from esjax.problems import reference  # pylint: disable=g-import-not-at-top
  env, env_params, spec = gx.make_env(name)
  length = spec.max_steps if pc.episode_length is None else pc.episode_length

  def make_problem(policy, shift, opts):
    if spec.discrete and opts.shapes_actions:
      raise ConfigError(f"action_noise and action_bins need continuous actions; {pc.env!r} "
                        "has discrete ones")
    return gx.gymnax_problem(env, env_params, spec, policy, length,
                             pc.normalize_obs, pc.obs_clip, reward_shift=shift, options=opts)

  def make_collector(size):
    return reference.gymnax_collector(env, env_params, length, size)

  return _Env(spec.obs_shape, spec.action_size, spec.discrete, length, make_problem,
              make_collector)


def _brax_env(pc, source: str, name: str) -> _Env:
  """A Brax env, or a playground one (a Brax-like ``MjxEnv``, the same rollout)."""
  from esjax.problems import reference  # pylint: disable=g-import-not-at-top
  from esjax.problems.brax import DEFAULT_EPISODE_LENGTH, brax_problem  # pylint: disable=g-import-not-at-top
  if source == "brax":
    from esjax.problems import brax_envs  # pylint: disable=g-import-not-at-top
    env = brax_envs.make_env(name, pc.backend or brax_envs.DEFAULT_BACKEND)
    observe, obs_size, default_length = None, int(env.observation_size), DEFAULT_EPISODE_LENGTH
  else:
    from esjax.problems import playground as pg  # pylint: disable=g-import-not-at-top
    env, default_length = pg.make_env(name, pc.backend)
    observe, obs_size = pg.observe, pg.obs_size(env)
  length = default_length if pc.episode_length is None else pc.episode_length

  def make_problem(policy, shift, opts):
    return brax_problem(env, policy, length, pc.normalize_obs, pc.obs_clip,
                        reward_shift=shift, observe=observe, obs_size=obs_size, options=opts)

  def make_collector(size):
    return reference.brax_collector(env, observe, length, size)

  return _Env((obs_size,), int(env.action_size), False, length, make_problem, make_collector)


def listing() -> list[str]:
  """``esjax envs``: per source, installed or not, and its env names."""
  lines = []
  for source in SOURCES:
    if not installed(source):
      lines.append(f"{source}: not installed ({_INSTALL[source]})")
      continue
    envs = names(source)
    prefix = "" if source == "brax" else f"{source}:"
    lines.append(f"{source} ({len(envs)}; --env {prefix}NAME):")
    lines.append("  " + ", ".join(envs))
    if source == "playground":
      from esjax.problems import playground as pg  # pylint: disable=g-import-not-at-top
      lines.append("  (all but the DM Control Suite envs need MuJoCo Menagerie assets)"
                   if any(pg.needs_menagerie(e) for e in envs) else "")
  return [l for l in lines if l]

