"""JAX's persistent compilation cache, on by default for ``esjax train`` and ``esjax.train``.

A second run of the same configuration (``--resume`` after a preemption, a sweep's next seed)
loads its compiled step from disk instead of compiling it again. Where it lives, first match:

* ``compile_cache="DIR"`` / ``esjax train --compile-cache DIR``;
* ``$JAX_COMPILATION_CACHE_DIR`` when set (JAX's own variable);
* ``$XDG_CACHE_HOME/esjax/jax-compile``, else ``~/.cache/esjax/jax-compile``.

``compile_cache=None`` / ``False`` / ``--no-compile-cache`` turn it off. JAX's size and
compile-time thresholds are lowered so CPU compiles (mostly under JAX's default 1 s minimum)
are cached too, unless the matching ``JAX_PERSISTENT_CACHE_*`` variable says otherwise.

The cache only saves time, so it never stops a run: a directory that cannot be written is
reported in one ``esjax: warning:`` line on stderr and the run compiles without a cache; an
entry JAX cannot read back (garbage bytes, a truncated file) is reported the same way, once,
and that function is compiled afresh. The cache is trusted code (JAX loads executables from
it): keep it in a directory only you can write. Its size is not capped (JAX caps it only with
the optional ``filelock`` package installed and ``jax_compilation_cache_max_size`` set).
"""
from __future__ import annotations

import os
import sys
import threading
import uuid
import warnings
from typing import Union

import jax

Setting = Union[str, "os.PathLike[str]", bool, None]

ENV_DIR = "JAX_COMPILATION_CACHE_DIR"
_THRESHOLDS = (  # (jax option, environment variable that overrides ours, our value)
    ("jax_persistent_cache_min_compile_time_secs", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS",
     0.0),
    ("jax_persistent_cache_min_entry_size_bytes", "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES",
     0),  # no minimum size
)
_JAX_CACHE_WARNINGS = ("Error reading persistent compilation cache",
                       "Error writing persistent compilation cache")

_lock = threading.Lock()
_active: str | None = None  # the directory JAX's cache was last pointed at by us
_hook_installed = False
_warned: set[str] = set()


def default_dir() -> str:
  base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(base, "esjax", "jax-compile")


def resolve(setting: Setting = True) -> str | None:
  """The cache directory ``setting`` means (absolute), or None for off."""
  if setting is None or setting is False:
    return None
  if setting is True:
    return os.path.abspath(os.environ.get(ENV_DIR) or default_dir())
  if isinstance(setting, (str, os.PathLike)):
    path = os.fspath(setting)
    if not path:
      raise ValueError("compile_cache='' is not a directory; pass a path, True (default "
                       "location) or None (off)")
    return os.path.abspath(os.path.expanduser(path))
  raise TypeError(f"compile_cache={setting!r} is invalid; expected a directory path, True "
                  "(the default location) or None/False (off)")


def warn(message: str, key: str | None = None) -> None:
  """One ``esjax: warning:`` line on stderr, once per ``key`` (default: the message) per
  process."""
  key = key or message
  with _lock:
    if key in _warned:
      return
    _warned.add(key)
  print(f"esjax: warning: {message}", file=sys.stderr, flush=True)


def _probe(path: str) -> None:
  """Raises OSError unless ``path`` exists (or can be made) and takes a new file."""
  os.makedirs(path, exist_ok=True)
  probe = os.path.join(path, f".esjax-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}")
  with open(probe, "wb") as f:
    f.write(b"ok")
  os.remove(probe)


def configure(setting: Setting = True) -> str | None:
  """Points JAX's persistent cache at ``setting``'s directory (or turns it off); returns the
  directory in use, or None. Safe to call before every run: a changed directory resets JAX's
  cache object, an unchanged one keeps it."""
  global _active
  path = resolve(setting)
  if path is not None:
    try:
      _probe(path)
    except OSError as e:
      warn(f"compilation cache {path!r} is not writable ({e.strerror or e}); compiling "
           "without it")
      path = None
  _install_hook()
  with _lock:
    if path is None:
      jax.config.update("jax_enable_compilation_cache", False)
    else:
      for option, env, value in _THRESHOLDS:
        if env not in os.environ:
          jax.config.update(option, value)
      jax.config.update("jax_enable_compilation_cache", True)
      jax.config.update("jax_compilation_cache_dir", path)
    if path != _active:
      _reset_jax_cache()
      _active = path
  return path


def _reset_jax_cache() -> None:
  # JAX opens its cache once per process; a new directory needs its (private) reset.
  try:
    from jax._src import compilation_cache  # pylint: disable=g-import-not-at-top
    compilation_cache.reset_cache()
  except Exception:  # noqa: BLE001 - a moved private API: the first directory stays in use
    pass


def _install_hook() -> None:
  """JAX reports a cache entry it cannot read or write with ``warnings.warn`` (a message
  that can run over many lines, repeated per function); say it once, in one line."""
  global _hook_installed
  with _lock:
    # Installed again if something replaced it since (``warnings.catch_warnings`` restores
    # the previous hook when its block ends).
    if _hook_installed and getattr(warnings.showwarning, "_esjax", False):
      return
    _hook_installed = True
  previous = warnings.showwarning

  def showwarning(message, category, filename, lineno, file=None, line=None):
    text = str(message)
    if text.startswith(_JAX_CACHE_WARNINGS):
      first = text.splitlines()[0] if text else ""
      what = "read" if "reading" in first else "write"
      detail = first.split(": ", 1)[-1][:160]
      warn(f"compilation cache {_active or ''!r}: could not {what} an entry ({detail}); "
           f"compiling instead (delete {_active} to clear it)", key=f"jax-cache-{what}:{_active}")
      return
    previous(message, category, filename, lineno, file, line)

  showwarning._esjax = True  # type: ignore[attr-defined]
  warnings.showwarning = showwarning
