"""One declaration per setting: a config field with its default, help, flag and resume rule.

A field of a config section is declared with ``setting(default, help, ...)``; the rest is
generated from the fields: ``TrainConfig()``'s defaults, the flat names of ``TrainConfig.of``,
the ``esjax train`` flags and their help, and which flags may change on ``--resume``.
Strategy options are declared once too, by their factory's signature
(``strategies/options.py``), and what ``--sweep`` may vary by each strategy's ``sweepable``.
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Callable, Iterator, Mapping

# The ``esjax train --help`` groups, in the order they are shown.
PROBLEM = "problem"
TRICKS = "rollout tricks (Salimans et al. 2017; all off by default)"
STRATEGY = "evolution strategy (`esjax strategies` lists each one's options)"
POLICY = "policy"
BUDGET = "budget and evaluation"
RUN = "run"
OUTPUT = "output, checkpoints and resume"
PROCESSES = "multi-process (auto-detected on TPU pods, SLURM, Open MPI, k8s)"
LOGGING = "logging (metrics.jsonl always; TensorBoard events under DIR/tb/)"
GROUPS = (PROBLEM, TRICKS, STRATEGY, POLICY, BUDGET, RUN, OUTPUT, PROCESSES, LOGGING)


def setting(default: Any, help: str, *, group: str, flat: str | None = None,  # pylint: disable=redefined-builtin
            parse: Callable | None = None, metavar: str | None = None, repeat: bool = False,
            resumable: bool = False, flag: bool = True, factory: Callable | None = None):
  """A config field declared once.

  ``flat``: its name in ``TrainConfig.of`` and as ``--flag`` (default: the field's name).
  ``parse``: the flag's text to a value (default: the type of ``default``, ``int`` when it is
  None); with ``repeat`` the flag may be given several times and ``parse`` gets the list.
  ``resumable``: the flag may change on ``--resume``. ``flag=False``: no flag of its own.
  ``factory``: a default built per instance (a dict)."""
  meta = dict(help=help, group=group, flat=flat, parse=parse, metavar=metavar, repeat=repeat,
              resumable=resumable, flag=flag)
  if factory is not None:
    return dataclasses.field(default_factory=factory, metadata=meta)
  return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class Declared:
  """A section field as ``TrainConfig.of`` and the command line see it."""
  section: str
  field: dataclasses.Field

  @property
  def meta(self) -> Mapping[str, Any]:
    return self.field.metadata

  @property
  def name(self) -> str:
    """The flat name: ``TrainConfig.of``'s keyword, the flag's dest."""
    return self.meta["flat"] or self.field.name

  @property
  def default(self) -> Any:
    f = self.field
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def declared(sections: Mapping[str, type]) -> Iterator[Declared]:
  """Every field of ``{section: dataclass}``, in declaration order."""
  for section, cls in sections.items():
    for f in dataclasses.fields(cls):
      yield Declared(section, f)


def json_object(text: str) -> dict[str, Any]:
  """``'{"friction": 0.1}'`` -> ``{"friction": 0.1}``."""
  import json  # pylint: disable=g-import-not-at-top
  try:
    value = json.loads(text)
  except ValueError as e:
    raise argparse.ArgumentTypeError(f"invalid JSON {text!r} ({e})") from None
  if not isinstance(value, dict):
    raise argparse.ArgumentTypeError(f"{text!r} is not a JSON object; expected e.g. "
                                     '\'{"friction": 0.1}\'')
  return value


def lanes_value(text: str) -> int | None:
  """``--lanes``: ``auto`` (Python's ``None``, the backend's default) or a whole number."""
  if text.lower() in ("auto", "none"):
    return None
  try:
    return whole_number(text)
  except argparse.ArgumentTypeError:
    raise argparse.ArgumentTypeError(f"invalid value {text!r}; expected auto or a whole number, "
                                     "e.g. 128") from None


def whole_number(text: str) -> int:
  """``"1000000"``, ``"1e6"`` or ``"1_000_000"`` -> ``1000000``: budgets are written either way."""
  try:
    return int(text)
  except ValueError:
    pass
  try:
    value = float(text)
  except ValueError:
    value = None
  if value is None or not value.is_integer():
    raise argparse.ArgumentTypeError(f"invalid integer {text!r}; expected a whole number, e.g. "
                                     "1000000 or 1e6")
  return int(value)


def int_list(text: str) -> tuple[int, ...]:
  """``"64,64"`` -> ``(64, 64)``."""
  try:
    return tuple(int(v) for v in text.split(",") if v.strip())
  except ValueError:
    raise argparse.ArgumentTypeError(
        f"invalid hidden sizes {text!r}; expected comma-separated integers, e.g. 64,64") from None


def gbps_pair(text: str) -> tuple[float, float]:
  """``"10,400"`` -> ``(10.0, 400.0)``: Gbit/s between hosts, then within a host."""
  try:
    pair = tuple(float(v) for v in text.split(","))
  except ValueError:
    pair = ()
  if len(pair) != 2 or min(pair) <= 0:
    raise argparse.ArgumentTypeError(
        f"invalid link bandwidths {text!r}; expected two positive Gbit/s, OUTER,INNER, e.g. "
        "10,400")
  return pair
