"""The JAX versions esjax is tested on, and one warning line for any other.

CI runs esjax on jax 0.10.x (Python 3.11, the main lane) and on what a new user on Python 3.13
gets: 0.11.x with the test extra and 0.12.x with a plain ``pip install -e .`` (.ci/newest_jax.sh).
``pyproject.toml`` states the same range under ``[tool.esjax]`` (tests/test_compat.py holds the
two equal). An untested JAX is allowed, not refused: jaxlib 0.11.2 crashed on a program esjax
compiled (issue 23), so a newer jaxlib is a likely place for the next one and the user should
know which versions were tried, in one line on stderr rather than silence or a traceback.
"""
from __future__ import annotations

import importlib.metadata
import logging

# [lowest tested, first untested) as (major, minor); pyproject.toml's [tool.esjax] tested-jax.
TESTED_JAX = ((0, 10), (0, 13))
_warned: list[str] = []


def release(version: str) -> tuple[int, ...]:
  """The leading numbers of a version string: "0.12.0.1" -> (0, 12, 0, 1), "0.11.0rc1" ->
  (0, 11), "" -> ()."""
  out = []
  for part in version.split("."):
    if not part.isdigit():
      break
    out.append(int(part))
  return tuple(out)


def major_minor(version: str) -> tuple[int, int] | None:
  numbers = release(version)
  return (numbers[0], numbers[1]) if len(numbers) >= 2 else None


def installed_version(distribution: str) -> str:
  """The installed ``distribution``'s version from its metadata (no import), "" if none."""
  try:
    return importlib.metadata.version(distribution)
  except importlib.metadata.PackageNotFoundError:
    return ""


def tested_range() -> str:
  (lo_major, lo_minor), (hi_major, hi_minor) = TESTED_JAX
  return f">={lo_major}.{lo_minor},<{hi_major}.{hi_minor}"


def untested_jax_message(version: str) -> str | None:
  """The warning for jax ``version``, or None when CI tests that version."""
  minor = major_minor(version)
  if minor is not None and TESTED_JAX[0] <= minor < TESTED_JAX[1]:
    return None
  return (f"esjax: jax {version} is untested (CI tests jax {tested_range()}); "
          "runs should work, but report a crash or a changed result with this version")


def warn_if_untested_jax() -> None:
  """Logs one line, once per process, when the installed jax is outside ``TESTED_JAX``.

  Reads the installed distribution's metadata, so it costs no ``import jax``; logging's
  last-resort handler prints the bare message to stderr when the user configured none.
  """
  version = installed_version("jax")
  if not version:
    return
  message = untested_jax_message(version)
  if message and not _warned:
    _warned.append(message)
    logging.getLogger("esjax").warning(message)
