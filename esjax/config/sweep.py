"""Hyper-parameter sweeps through one compiled step: ``--sweep sigma=0.02,0.05 --sweep
learning_rate=0.01,0.02`` trains every point of the grid (times ``--num-seeds``) at once.

Why one compilation serves the whole grid: a strategy's ``sweepable`` options (sigma, the
learning rate, ...) live only in the state its ``init`` returns (traced leaves such as
``OpenESState.sigma`` or the learning rate ``optax.inject_hyperparams`` keeps in the optimizer
state), never in the closures of ``candidate``/``utilities``/``update``. So the step is built
once from the config's own options and vmapped over a *run* axis, and each run's state is the
one the strategy built with that point's values would start from. Run ``r`` is grid point
``r // num_seeds`` with seed ``seed + r % num_seeds``: exactly the single run with that setting
and that seed (a test checks the params are equal).
"""
from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Mapping, Sequence

from esjax.errors import ConfigError


def points(sweep: Mapping[str, Sequence[float]]) -> list[dict[str, float]]:
  """The grid: every combination, the first name varying slowest; ``[{}]`` without a sweep."""
  names = list(sweep)
  return [dict(zip(names, values)) for values in itertools.product(*(sweep[n] for n in names))]


def label(point: Mapping[str, float]) -> str:
  """``"sigma=0.02, learning_rate=0.01"``: a point as a legend entry."""
  return ", ".join(f"{k}={v:g}" for k, v in point.items()) or "default"


def parse(items: Sequence[str] | None) -> dict[str, tuple[float, ...]]:
  """``--sweep`` as typed, ``["sigma=0.02,0.05", ...]`` -> ``{"sigma": (0.02, 0.05)}``."""
  out: dict[str, tuple[float, ...]] = {}
  for item in items or ():
    name, sep, values = item.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not name:
      raise ConfigError(f"--sweep {item} is invalid; expected NAME=V1,V2,... "
                        "(e.g. --sweep sigma=0.02,0.05)")
    if name in out:
      raise ConfigError(f"--sweep {name} is given twice; list all its values in one flag")
    parsed = []
    for v in values.split(","):
      try:
        parsed.append(float(v))
      except ValueError:
        raise ConfigError(f"--sweep {item} is invalid: {v.strip()!r} is not a number") from None
    out[name] = tuple(parsed)
  return out


def point_config(strategy_config, point: Mapping[str, float]):
  """The StrategyConfig of the single run a grid point equals (its values as options)."""
  return dataclasses.replace(strategy_config, options={**strategy_config.options, **point},
                             sweep={})


def check(strategy_config, strategy) -> None:
  """One ConfigError line for a name ``strategy`` cannot sweep or a value its factory rejects."""
  for name, values in strategy_config.sweep.items():
    if name in strategy_config.options:  # the sweep's values would silently replace it
      flag = "--" + name.replace("_", "-")
      raise ConfigError(f"{name} is both swept (--sweep {name}=...) and set "
                        f"({name}={strategy_config.options[name]!r}, {flag}); the sweep's "
                        f"values would replace it: drop one")
    if name not in strategy.sweepable:
      raise ConfigError(
          f"--sweep {name}=... is not sweepable for strategy {strategy.name!r}; sweepable: "
          f"{', '.join(strategy.sweepable) or 'none'} (an option is sweepable when it lives in "
          "the traced state; with an optimizer given as a transformation or ClipUp the learning "
          "rate is not)")
    if not values:
      raise ConfigError(f"--sweep {name}= has no values; give one or more, e.g. "
                        f"--sweep {name}=0.01,0.02")
    if len(set(values)) != len(values):
      raise ConfigError(f"--sweep {name}={','.join(f'{v:g}' for v in values)} repeats a value")
  for point in points(strategy_config.sweep):
    point_config(strategy_config, point).build()  # the factory's own range checks


def run_strategies(strategy_config, num_seeds: int) -> list[Any]:
  """One Strategy per run (grid point major, seed minor): only their ``init`` differs."""
  return [point_config(strategy_config, p).build() for p in points(strategy_config.sweep)
          for _ in range(num_seeds)]


def best(config, record: Mapping[str, Any]) -> tuple[dict[str, float], str, float] | None:
  """``(point, metric, value)``: the grid point with the highest mean over its seeds of the
  record's evaluation return (or, without one, its population mean return)."""
  grid = points(config.strategy.sweep)
  if len(grid) < 2:
    return None
  for metric in ("eval_return", "pop_return_mean"):
    per_run = record.get(metric + "_per_seed")
    if per_run is not None:
      break
  else:
    return None
  k = config.runtime.num_seeds
  scores = []
  for i in range(len(grid)):
    vals = [v for v in per_run[i * k:(i + 1) * k] if v is not None]
    scores.append(sum(vals) / len(vals) if vals else float("-inf"))
  i = max(range(len(grid)), key=lambda j: scores[j])
  return grid[i], metric, scores[i]
