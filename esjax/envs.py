"""Brax environments by name and backend, validated before anything is built."""
from __future__ import annotations

import contextlib
import io
import warnings

# mujoco's optional warp backend prints "Failed to import warp" on import when warp is absent
# (it is not needed here); keep that noise out of every esjax command's output.
with contextlib.redirect_stdout(io.StringIO()):
  from brax import envs as brax_envs

# Brax warns on every env build that its pipelines are unmaintained; we pin brax and test it.
warnings.filterwarnings("ignore", message="Brax System, piplines and environments")

BACKENDS = ("generalized", "positional", "spring", "mjx")


class ConfigError(ValueError):
  """A user-facing configuration mistake: the message names the value and what is accepted."""


def env_names() -> list[str]:
  # brax keeps its registry private; reading it is the only way to list what is registered.
  return sorted(brax_envs._envs)  # pylint: disable=protected-access


def check_env(name: str, backend: str) -> None:
  if name not in brax_envs._envs:  # pylint: disable=protected-access
    raise ConfigError(f"unknown env {name!r}; expected one of: {', '.join(env_names())}")
  if backend not in BACKENDS:
    raise ConfigError(f"unknown backend {backend!r}; expected one of: {', '.join(BACKENDS)}")


def make_env(name: str, backend: str):
  """A raw Brax env (no auto-reset, no episode wrapper): the rollout owns episode control."""
  check_env(name, backend)
  try:
    return brax_envs.get_environment(name, backend=backend)
  except TypeError:
    # Some registered envs take no backend argument (they fix their own).
    if backend != "generalized":
      raise ConfigError(f"env {name!r} does not take a backend; drop --backend {backend!r}")
    return brax_envs.get_environment(name)
