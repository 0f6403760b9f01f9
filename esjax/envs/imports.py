"""A user's own env named on the command line: ``--env package.module:attr``.

``attr`` is an env object (anything ``adapters.as_env`` takes) or a factory that returns one,
called with ``--env-kwargs`` (a JSON object). The import path and the kwargs are saved in the
run's ``config.json``, so ``esjax eval``, ``esjax render`` and ``--resume`` rebuild the env the
same way. The current directory is importable, as with ``python -m``.
"""
from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import jax

from esjax.envs import adapters, base, spaces
from esjax.errors import ConfigError


def _first_line(e: BaseException) -> str:
  text = str(e).strip().splitlines()
  return f"{type(e).__name__}: {text[0][:200]}" if text else type(e).__name__


def _import(path: str):
  module_name, _, attr = path.partition(":")
  if os.getcwd() not in sys.path and "" not in sys.path:
    sys.path.insert(0, os.getcwd())
  try:
    module = importlib.import_module(module_name)
  except Exception as e:  # pylint: disable=broad-except
    if isinstance(e, ModuleNotFoundError) and e.name == module_name and "." not in module_name:
      from esjax.envs.registry import SOURCES  # pylint: disable=g-import-not-at-top
      raise ConfigError(f"--env {path!r}: {module_name!r} is neither an env source (expected "
                        f"one of: {', '.join(SOURCES)}) nor an importable module") from None
    raise ConfigError(f"--env {path!r}: module {module_name!r} does not import "
                      f"({_first_line(e)})") from None
  obj = module
  for part in attr.split("."):
    if not hasattr(obj, part):
      raise ConfigError(f"--env {path!r}: {module_name!r} has no attribute {attr!r}")
    obj = getattr(obj, part)
  return obj


def load(path: str, kwargs: dict[str, Any]):
  """The protocol env that ``path`` (``package.module:attr``) names, built with ``kwargs``."""
  obj = _import(path)
  if _is_env(obj):
    if kwargs:
      raise ConfigError(f"--env {path!r} is an env object, not a factory: it takes no "
                        "--env-kwargs")
  elif callable(obj):
    try:
      obj = obj(**kwargs)
    except TypeError as e:
      raise ConfigError(f"--env {path!r}: the factory does not take these arguments "
                        f"({_first_line(e)})") from None
  return adapters.as_env(obj)


def _is_env(obj) -> bool:
  try:
    adapters.as_env(obj)  # refuses a class: called as a factory below
  except ConfigError:
    return False
  return True


def check_env(env, name: str) -> None:
  """ConfigError, in one line, unless ``env``'s reset and step trace under JAX (e.g. no Python
  ``if`` on a traced value) and return what the protocol and the env's spaces declare: found
  here rather than as a shape error deep inside the compiled step."""
  if isinstance(env, adapters.BraxEnv):
    from esjax.envs import playground  # pylint: disable=g-import-not-at-top
    playground.check_impl(env.env, name)

  def episode_start(key):
    started = env.reset(key)
    if not _is_tuple(started, 2):
      return started, None  # said below, rather than as an unpacking error
    return started, env.step(started[0], base.sample_action(env, key), key)

  try:
    started, stepped = jax.eval_shape(episode_start, jax.random.PRNGKey(0))
  except Exception as e:  # pylint: disable=broad-except
    raise ConfigError(f"env {name!r} cannot be traced by JAX: its reset/step must be pure "
                      f"JAX functions ({_first_line(e)})") from None
  if not _is_tuple(started, 2):
    raise ConfigError(f"env {name!r}: reset returned {_items(started)}; expected "
                      "(state, obs)")
  if not _is_tuple(stepped, 4):
    raise ConfigError(f"env {name!r}: step returned {_items(stepped)}; expected "
                      "(state, obs, reward, done)")
  for method, obs in (("reset", started[1]), ("step", stepped[1])):
    wrong = _obs_mismatch(obs, env.observation_space, "an observation")
    if wrong:
      raise ConfigError(f"env {name!r}: {method} returned {wrong}")
  for what, value in (("reward", stepped[2]), ("done", stepped[3])):
    if getattr(value, "shape", None) != ():
      raise ConfigError(f"env {name!r}: step returned a {what} {_of(value)}; expected a "
                        "scalar (shape ())")


def _is_tuple(out, n: int) -> bool:
  return isinstance(out, (tuple, list)) and len(out) == n


def _items(out) -> str:
  return f"{len(out)} items" if isinstance(out, (tuple, list)) else _of(out)


def _of(value) -> str:
  """What an abstract output is: its shape, or its type when it is no array."""
  shape = getattr(value, "shape", None)
  return f"of shape {tuple(shape)}" if shape is not None else f"of type {type(value).__name__}"


def _obs_mismatch(obs, space, what: str) -> str | None:
  """How ``obs`` (abstract) differs from ``space`` (None: it does not). A ``spaces.Dict`` is
  compared per declared entry, on a dict or a struct; a scalar passes for a (1,) box, as the
  rollout flattens it (a gymnax space of shape () reads as (1,))."""
  if isinstance(space, spaces.Dict):
    for key, entry_space in space.spaces.items():
      try:
        entry = spaces.entry(obs, key)
      except (KeyError, AttributeError, TypeError):
        return (f"{what} {_of(obs)} with no entry {key!r}; its observation_space declares a "
                f"Dict of {', '.join(map(repr, space.spaces))}")
      wrong = _obs_mismatch(entry, entry_space, f"{what} entry {key!r}")
      if wrong:
        return wrong
    return None
  if not isinstance(space, spaces.Box):  # a gymnax Discrete observation (FrozenLake)
    return (f"{what} {_of(obs)} under an observation_space {type(space).__name__}; esjax "
            "reads a Box or a Dict of boxes")
  shape = getattr(obs, "shape", None)
  if shape is not None and (tuple(shape) == space.shape or (shape == () and space.shape == (1,))):
    return None
  return f"{what} {_of(obs)}; its observation_space declares shape {space.shape}"
