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

from esjax.envs import adapters, base
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
    adapters.as_env(obj)
  except ConfigError:
    return False
  return not isinstance(obj, type)


def check_traceable(env, name: str) -> None:
  """ConfigError unless ``env``'s reset and step trace under JAX (e.g. no Python ``if`` on a
  traced value): found here, in one line, rather than deep inside the compiled step."""

  def episode_start(key):
    state, _ = env.reset(key)
    return env.step(state, base.sample_action(env, key), key)

  try:
    jax.eval_shape(episode_start, jax.random.PRNGKey(0))
  except Exception as e:  # pylint: disable=broad-except
    raise ConfigError(f"env {name!r} cannot be traced by JAX: its reset/step must be pure "
                      f"JAX functions ({_first_line(e)})") from None
