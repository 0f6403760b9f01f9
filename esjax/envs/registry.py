"""Every env a config can name, as one registry of sources that build protocol envs.

``hopper`` is Brax; ``gymnax:CartPole-v1`` and ``gymnax:Breakout-MinAtar`` are gymnax 1.x;
``playground:CartpoleBalance`` is MuJoCo Playground; ``package.module:attr`` is a user's own
env (``imports.py``): an env object, or a factory called with ``env_kwargs``. ``check``
validates a name in one ``ConfigError`` line (an unknown name lists the closest matches of
every installed source; a source whose extra is not installed names the pip command).
"""
from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.util
from typing import Any

from esjax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Source:
  """A library of named envs: ``esjax.envs.<module>`` provides ``env_names()`` and
  ``make(name, backend, **kwargs)``; ``backends`` are what ``--backend`` may name (the first
  is the default; empty: the source takes none)."""
  name: str
  package: str  # the library's import name: installed or not
  module: str  # esjax's module for it
  install: str
  backends: tuple[str, ...] = ()
  prefix: str = ""  # how a config names its envs: PREFIX + NAME
  continuous: bool = False  # every env of the source takes continuous actions

  @property
  def installed(self) -> bool:
    return importlib.util.find_spec(self.package) is not None

  def _impl(self):
    return importlib.import_module(f"esjax.envs.{self.module}")

  def names(self) -> list[str]:
    return self._impl().env_names()

  def make(self, name: str, backend: str | None, **kwargs):
    impl = self._impl()
    if self.backends:
      return impl.make(name, backend, **kwargs)
    if kwargs:
      raise ConfigError(f"env_kwargs are for Brax envs and your own env factories; "
                        f"{self.prefix}{name} takes none")
    return impl.make_env(name)

  def check_backend(self, backend: str | None) -> None:
    if backend is None:
      return
    if not self.backends:
      raise ConfigError(f"backend={backend!r} is invalid for {self.name} envs (they have none); "
                        "drop --backend")
    if backend not in self.backends:
      raise ConfigError(f"unknown backend {backend!r} for a {self.name} env; expected one of: "
                        f"{', '.join(self.backends)}")


SOURCES = {
    "brax": Source("brax", "brax", "brax", "pip install brax",
                   ("spring", "generalized", "positional", "mjx"), continuous=True),
    "gymnax": Source("gymnax", "gymnax", "gymnax", 'pip install -e ".[gymnax]"',
                     prefix="gymnax:"),
    "playground": Source("playground", "mujoco_playground", "playground",
                         'pip install -e ".[playground]"', ("jax", "warp"), "playground:",
                         continuous=True),
}


# How a config names an env object given to ``esjax.train(env=...)``: it cannot be rebuilt
# from the name, so ``esjax.load``, eval and resume take the object again.
CUSTOM = "custom"


def custom_name(env) -> str:
  """``custom:`` and the class of the user's object: an esjax adapter's env, not the adapter
  (only the adapters are unwrapped: a Brax wrapper's ``env`` is part of the user's env)."""
  from esjax.envs import adapters  # pylint: disable=g-import-not-at-top
  return f"{CUSTOM}:{type(env.env if isinstance(env, adapters.ADAPTERS) else env).__name__}"


def is_import_path(name: str) -> bool:
  """``package.module:attr``: a colon whose prefix is not a source's."""
  return ":" in name and name.split(":", 1)[0] not in (*SOURCES, CUSTOM)


def is_registered(name: str) -> bool:
  """A source's env, not a user's (an import path, or an object given to ``train``)."""
  return not is_import_path(name) and not name.startswith(CUSTOM + ":")


def continuous_only(name: str) -> bool:
  """A registered env of a source whose every env takes continuous actions."""
  return is_registered(name) and parse(name)[0].continuous


def parse(name: str) -> tuple[Source, str]:
  """``"gymnax:CartPole-v1"`` -> (gymnax, ``"CartPole-v1"``); no prefix is Brax."""
  if ":" in name:
    prefix, env = name.split(":", 1)
    return SOURCES[prefix], env
  return SOURCES["brax"], name


def close_matches(name: str, n: int = 5) -> list[str]:
  """Names from every installed source closest to ``name`` (case-insensitive)."""
  bare = name.split(":", 1)[-1]
  candidates: dict[str, list[str]] = {}
  for source in SOURCES.values():
    if source.installed:
      for env in source.names():
        candidates.setdefault(env.lower(), []).append(source.prefix + env)
  out = []
  for hit in difflib.get_close_matches(bare.lower(), list(candidates), n=n, cutoff=0.5):
    out.extend(candidates[hit])
  return out[:n]


def check(name: str, backend: str | None = None) -> None:
  """Raises ``ConfigError`` (one line) unless ``name`` (and ``backend``) can be built; a
  user's import path is checked when it is imported (``imports.load``)."""
  if not is_registered(name):
    return  # checked when imported (``imports.load``) or given (``adapters.as_env``)
  source, env = parse(name)
  if not source.installed:
    raise ConfigError(f"{source.name} envs need the {source.name} extra, which is not "
                      f"installed: {source.install}")
  if env not in source.names():
    close = close_matches(name)
    missing = [s.name for s in SOURCES.values() if not s.installed]
    hint = f"closest: {', '.join(close)}" if close else "no close match"
    more = f"; not installed: {', '.join(missing)}" if missing else ""
    raise ConfigError(f"unknown env {name!r}; {hint} (`esjax envs` lists them all{more})")
  source.check_backend(backend)


def resolved_backend(name: str, backend: str | None) -> str | None:
  """The backend a run uses: the source's default when none is given (None: it has none)."""
  if backend is not None or not is_registered(name):
    return backend
  source, _ = parse(name)
  return source.backends[0] if source.backends else None


def make(name: str, backend: str | None = None, kwargs: dict[str, Any] | None = None):
  """The protocol env a config names (checked first)."""
  if name.startswith(CUSTOM + ":"):
    raise ConfigError(f"env {name!r} was an env object given to esjax.train(env=...); it cannot "
                      "be rebuilt from its name: pass the same object again (env=...)")
  check(name, backend)
  if is_import_path(name):
    from esjax.envs import imports  # pylint: disable=g-import-not-at-top
    return imports.load(name, kwargs or {})
  source, env = parse(name)
  return source.make(env, backend, **(kwargs or {}))


def listing() -> list[str]:
  """``esjax envs``: per source, installed or not, and its env names."""
  lines = []
  for source in SOURCES.values():
    if not source.installed:
      lines.append(f"{source.name}: not installed ({source.install})")
      continue
    envs = source.names()
    lines.append(f"{source.name} ({len(envs)}; --env {source.prefix}NAME):")
    lines.append("  " + ", ".join(envs))
    if source.name == "playground":
      from esjax.envs import playground as pg  # pylint: disable=g-import-not-at-top
      if any(pg.needs_menagerie(e) for e in envs):
        lines.append("  (all but the DM Control Suite envs need MuJoCo Menagerie assets)")
  lines.append("your own: --env package.module:attr (an env object or a factory; "
               "--env-kwargs JSON), see docs/environments.md")
  return lines

