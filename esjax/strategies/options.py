"""What a strategy factory takes: its keyword options with their defaults, and its paper.

A factory's signature is the single source of truth: the command line makes one flag per
option, ``esjax strategies`` prints the defaults, and a config that gives an option the chosen
strategy does not take is refused naming that strategy.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

# Not an option: the population is a section field of its own.
_NOT_OPTIONS = ("population_size",)


def options(factory: Callable) -> dict[str, Any]:
  """``{option: default}`` of a strategy factory, in signature order."""
  out = {}
  for name, p in inspect.signature(factory).parameters.items():
    if name in _NOT_OPTIONS or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
      continue
    out[name] = None if p.default is inspect.Parameter.empty else p.default
  return out


def paper(factory: Callable) -> str:
  """The first line of the strategy module's docstring: the paper it implements."""
  doc = (inspect.getmodule(factory).__doc__ or "").strip()
  return " ".join(doc.split("\n\n")[0].split())  # the first paragraph, on one line
