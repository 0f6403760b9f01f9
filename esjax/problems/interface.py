"""How the rollout reads an env's observations and writes its actions, from its spaces.

Observations reach the policy as one float32 array: a vector (any rank-0..2 box, flattened;
observation statistics feed the normalizer) or an image (a rank-3 ``(H, W, C)`` box: no
normalizer, the CNN policy by default). A ``spaces.Dict`` observation is read at one entry
(``obs_key``; by default ``"state"`` when there is one, as MuJoCo Playground names its
proprioceptive vector) or, without such an entry, as all its entries flattened and concatenated
in sorted name order.

Actions: a bounded ``Box`` takes the policy's tanh output in ``[-1, 1]`` rescaled onto its
bounds (untouched when they are ``[-1, 1]``, as in Brax); ``Discrete`` an argmax index;
``MultiDiscrete`` an argmax per dimension.
"""
from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from esjax.envs import spaces
from esjax.errors import ConfigError
from esjax.problems.tricks import RolloutOptions, shape_action


@dataclasses.dataclass(frozen=True)
class ObsView:
  """Reads one observation, or a batch of them (leading axes), as the array the policy
  takes."""
  shape: tuple[int, ...]  # (size,) or (H, W, C)
  key: str | None = None  # the Dict entry read; None: the whole observation
  names: tuple[str, ...] = ()  # Dict entries flattened, in this order (when key is None)
  # The env's shape of each array read (the key's entry, each of ``names``, or the whole
  # observation): ``batch`` takes an array's axes before them as its batch.
  entries: tuple[tuple[int, ...], ...] = ()

  @property
  def image(self) -> bool:
    return len(self.shape) == 3

  @property
  def size(self) -> int:
    """The normalizer's dimension: 0 for images (no normalizer)."""
    return 0 if self.image else self.shape[0]

  @property
  def reads_dict(self) -> bool:
    """Whether observations are a dict (or struct) of arrays that this view picks from."""
    return self.key is not None or bool(self.names)

  def __call__(self, obs) -> jnp.ndarray:
    """One observation as the policy reads it."""
    return self._read(obs, lambda x, entry: x.reshape(-1))

  def batch(self, obs) -> jnp.ndarray:
    """One observation or a batch of them (the leading axes before each array's entry
    shape), as the policy reads them: ``(..., size)`` or ``(..., H, W, C)``."""
    return self._read(obs, lambda x, entry: x.reshape(x.shape[:x.ndim - len(entry)] + (-1,)))

  def _read(self, obs, flatten) -> jnp.ndarray:
    if self.key is not None:
      obs = spaces.entry(obs, self.key)
    arrays = [spaces.entry(obs, n) for n in self.names] if self.names else [obs]
    entries = self.entries or ((),) * len(arrays)
    arrays = [jnp.asarray(x, jnp.float32) for x in arrays]
    if self.image:
      return arrays[0]
    flat = [flatten(x, e) for x, e in zip(arrays, entries)]
    return flat[0] if len(flat) == 1 else jnp.concatenate(flat, axis=-1)


def _flat_size(space) -> int:
  if isinstance(space, spaces.Dict):
    return sum(_flat_size(s) for s in space.spaces.values())
  return space.size


def obs_view(space, key: str | None = None) -> ObsView:
  """The view of observations in ``space``; ConfigError (one line) for one it cannot read."""
  if isinstance(space, spaces.Dict):
    names = sorted(space.spaces)
    if key is None and "state" in space.spaces:
      key = "state"
    if key is not None:
      if key not in space.spaces:
        raise ConfigError(f"obs_key={key!r} is not an observation entry; this env's are: "
                          f"{', '.join(names)}")
      if isinstance(space.spaces[key], spaces.Dict):
        raise ConfigError(f"obs_key={key!r} is itself a dict of observations; esjax reads one "
                          "array or a flat dict of arrays")
      return dataclasses.replace(obs_view(space.spaces[key]), key=key)
    if any(isinstance(space.spaces[n], spaces.Dict) for n in names):
      raise ConfigError("nested observation dicts are not supported; choose an entry with "
                        f"obs_key (one of: {', '.join(names)})")
    return ObsView((_flat_size(space),), None, tuple(names),
                   tuple(space.spaces[n].shape for n in names))
  if key is not None:
    raise ConfigError(f"obs_key={key!r} is set but this env's observations are one array of "
                      f"shape {space.shape}; drop obs_key")
  if len(space.shape) > 3:
    raise ConfigError(f"observations of shape {space.shape} cannot be handled; expected a "
                      "vector (any shape up to rank 2, flattened) or an (H, W, C) image")
  return ObsView(space.shape if len(space.shape) == 3 else (space.size,), entries=(space.shape,))


@dataclasses.dataclass(frozen=True)
class ActionView:
  """Turns the policy's output into the env's action."""
  space: spaces.Space

  @property
  def discrete(self) -> bool:
    return isinstance(self.space, (spaces.Discrete, spaces.MultiDiscrete))

  @property
  def nvec(self) -> tuple[int, ...]:
    """Choices per dimension of a multi-discrete space; () otherwise."""
    return self.space.nvec if isinstance(self.space, spaces.MultiDiscrete) else ()

  @property
  def size(self) -> int:
    """The policy's outputs: box dimensions, choices, or all dimensions' choices."""
    if isinstance(self.space, spaces.Discrete):
      return self.space.n
    if isinstance(self.space, spaces.MultiDiscrete):
      return sum(self.space.nvec)
    return self.space.size

  def __call__(self, out, options: RolloutOptions, key, step):
    if self.discrete:
      return out  # int32 indices from the argmax head
    return self.to_env(shape_action(options, out, key, step))

  def to_env(self, out):
    """The env's action from the policy's output (``(..., size)``, in [-1, 1] for a box):
    scaled to the box's bounds and shaped as its actions; an argmax head's indices as they
    are."""
    if self.discrete:
      return out
    if not self.space.unit:
      low, high = self.space.bounds()
      out = low + (out + 1.0) * 0.5 * (high - low)
    return out.reshape(out.shape[:-1] + self.space.shape)


def action_view(space) -> ActionView:
  if not isinstance(space, spaces.ACTION_SPACES):
    raise ConfigError(f"action space {space!r} cannot be handled; expected a bounded "
                      "spaces.Box, spaces.Discrete or spaces.MultiDiscrete")
  if isinstance(space, spaces.Box):
    low, high = space.bounds()
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
      raise ConfigError(f"action space Box{space.shape} is unbounded; esjax's policies act in "
                        "[-1, 1] rescaled onto finite bounds")
  return ActionView(space)
