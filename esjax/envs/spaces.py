"""The spaces an env declares: what its observations look like and what actions it takes.

Three action spaces cover the JAX env libraries: ``Box`` (continuous, bounded: the policy's
tanh output in ``[-1, 1]`` is rescaled onto ``[low, high]``), ``Discrete`` (one choice of
``n``: an argmax head) and ``MultiDiscrete`` (one choice per dimension: an argmax per
dimension). Observations are a ``Box`` (a vector, or an image of shape ``(H, W, C)``) or a
``Dict`` of boxes (a pytree of arrays, as MuJoCo Playground and Jumanji give).
"""
from __future__ import annotations

import dataclasses
from typing import Mapping, Union

import numpy as np


@dataclasses.dataclass(frozen=True)
class Box:
  """Arrays of ``shape``; as an action space, bounded by ``low`` and ``high`` (broadcast to
  ``shape``; Brax's and Playground's actions are ``[-1, 1]``)."""
  shape: tuple[int, ...]
  low: float | np.ndarray = -1.0
  high: float | np.ndarray = 1.0

  def __post_init__(self):
    object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))

  @property
  def size(self) -> int:
    return int(np.prod(self.shape, dtype=np.int64))

  def bounds(self) -> tuple[np.ndarray, np.ndarray]:
    """``(low, high)`` as float32 vectors of ``size``."""
    low = np.broadcast_to(np.asarray(self.low, np.float32), self.shape).reshape(-1).copy()
    high = np.broadcast_to(np.asarray(self.high, np.float32), self.shape).reshape(-1).copy()
    return low, high

  @property
  def unit(self) -> bool:
    """True when the bounds are exactly ``[-1, 1]``: the policy's output is the action."""
    low, high = self.bounds()
    return bool(np.all(low == -1.0) and np.all(high == 1.0))


@dataclasses.dataclass(frozen=True)
class Discrete:
  """One integer action in ``[0, n)``."""
  n: int


@dataclasses.dataclass(frozen=True)
class MultiDiscrete:
  """One integer action per dimension ``i`` in ``[0, nvec[i])``."""
  nvec: tuple[int, ...]

  def __post_init__(self):
    object.__setattr__(self, "nvec", tuple(int(n) for n in self.nvec))


@dataclasses.dataclass(frozen=True)
class Dict:
  """A pytree of observation boxes, by name (Playground's ``{"state": ..., "privileged_state":
  ...}``, Jumanji's observation fields)."""
  spaces: Mapping[str, Box]


def entry(obs, name: str):
  """A dict observation's entry ``name``: a dict's item, or a struct's field (Jumanji's
  observations are namedtuples and dataclasses)."""
  return obs[name] if hasattr(obs, "keys") else getattr(obs, name)


Space = Union[Box, Discrete, MultiDiscrete, Dict]
ACTION_SPACES = (Box, Discrete, MultiDiscrete)
