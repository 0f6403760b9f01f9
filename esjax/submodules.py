"""Submodules as attributes: ``import esjax`` then ``esjax.rundir.files.read_config``.

A package imports its submodules lazily (flax, orbax, brax and matplotlib only when a run needs
them), so without this a dotted name the docs give works only after something else imported it.
"""
from __future__ import annotations

import importlib
import importlib.util
from typing import Callable


def getattr_of(package: str, fallback: Callable[[str], object] | None = None):
  """A module ``__getattr__`` for ``package``: ``fallback(name)`` first when given (it raises
  AttributeError for names it does not know), then the submodule ``package.name``, imported."""

  def __getattr__(name: str):
    if fallback is not None:
      try:
        return fallback(name)
      except AttributeError:
        pass
    if not name.startswith("__") and importlib.util.find_spec(f"{package}.{name}") is not None:
      return importlib.import_module(f"{package}.{name}")
    raise AttributeError(f"module {package!r} has no attribute {name!r}")

  return __getattr__
