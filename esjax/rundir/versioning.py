"""The esjax version a run's files were written by, and whether this esjax can read them.

``config.json`` carries ``"esjax_version"`` next to its sections and ``params.msgpack`` an
``esjax_version`` entry. Files without one were written by esjax 0.1 (flat config keys), which
``TrainConfig.from_dict`` still reads. A file written by a newer major.minor than this esjax
(or with a version that does not parse) is refused in one line naming both versions: its
layout may have changed in ways an older reader would misread silently. Patch releases
never change the files' layout, so 0.2.7's runs load in 0.2.0.
"""
from __future__ import annotations

from esjax.compat import major_minor
from esjax.errors import ConfigError

FIELD = "esjax_version"


def current() -> str:
  from esjax import __version__  # pylint: disable=g-import-not-at-top
  return __version__


def check(path: str, written: object) -> None:
  """Raises ConfigError unless a file written by esjax ``written`` (None: 0.1, before the
  field existed) can be read by this esjax."""
  if written is None:
    return
  mine, theirs = major_minor(current()), major_minor(str(written))
  if theirs is None or mine is None or theirs > mine:
    raise ConfigError(f"{path!r} was written by esjax {written} but this is esjax {current()}, "
                      "which cannot read it; upgrade esjax (pip install -U esjax) to load or "
                      "resume this run")
