"""Adapters from the JAX env libraries to the env protocol (``envs/base.py``).

* ``BraxEnv``: Brax's ``Env`` (and its wrappers) and MuJoCo Playground's ``MjxEnv``: ``reset(key)``
  / ``step(state, action)`` with ``state.obs``, ``state.reward``, ``state.done``; actions in
  ``[-1, 1]``; Playground's dict observations become a ``spaces.Dict``.
* ``GymnaxEnv``: gymnax-style envs with params (gymnax, Craftax, ...): ``reset_env`` and
  ``step_env`` with the env's params, so an episode ends at its first terminal (``step`` would
  auto-reset).
* ``JumanjiEnv``: Jumanji's ``reset(key) -> (state, timestep)`` / ``step(state, action)``;
  ``done`` is ``timestep.last()``.

``as_env(obj)`` picks the adapter by what ``obj`` has (no library is imported to look), passes
through an object that already follows the protocol, and otherwise raises one ``ConfigError``
line naming the accepted kinds and what ``obj`` lacks (or that it is a class, not an instance).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from esjax.envs import spaces
from esjax.errors import ConfigError


def _obs_space_of_shape(shape) -> spaces.Box | spaces.Dict:
  """A Brax/Playground observation's shape (a tuple, or a dict of them) as a space."""
  if isinstance(shape, dict) or hasattr(shape, "keys"):
    return spaces.Dict({str(k): _obs_space_of_shape(v) for k, v in shape.items()})
  return spaces.Box(tuple(int(d) for d in shape), -np.inf, np.inf)


@dataclasses.dataclass(frozen=True, eq=False)
class BraxEnv:
  """A Brax ``Env`` or Playground ``MjxEnv`` as a protocol env (``key`` unused by ``step``)."""
  env: Any
  episode_length: int | None = None

  def __post_init__(self):
    # A Playground env's config names its episode length; a Brax env has none (1000).
    config = getattr(self.env, "_config", None)
    if self.episode_length is None and hasattr(config, "episode_length"):
      object.__setattr__(self, "episode_length", int(config.episode_length))

  @property
  def observation_space(self):
    # The shapes of an abstract reset: Brax's ``observation_size`` runs ``reset`` op by op,
    # each op its own small XLA compile (on hopper ~200 of them, about 4 s of every start).
    # The env itself, unwrapped as Brax's property does (a VmapWrapper wants a batch of keys).
    env = getattr(self.env, "unwrapped", self.env)
    obs = jax.eval_shape(env.reset, jax.random.PRNGKey(0)).obs
    return _obs_space_of_shape(jax.tree.map(lambda x: x.shape, obs))

  @property
  def action_space(self):
    return spaces.Box((int(self.env.action_size),), -1.0, 1.0)

  def reset(self, key):
    state = self.env.reset(key)
    return state, state.obs

  def step(self, state, action, key):
    del key  # Brax dynamics are deterministic
    nxt = self.env.step(state, action)
    return nxt, nxt.obs, nxt.reward, nxt.done != 0


def _gymnax_space(space) -> spaces.Space:
  """A gymnax-style space (gymnax's, Craftax's: duck-typed by ``n`` / ``low``+``high``)."""
  if hasattr(space, "spaces") and isinstance(space.spaces, dict):
    return spaces.Dict({str(k): _gymnax_space(v) for k, v in space.spaces.items()})
  if hasattr(space, "n") and not hasattr(space, "low"):
    return spaces.Discrete(int(space.n))
  if hasattr(space, "nvec"):
    return spaces.MultiDiscrete(tuple(np.asarray(space.nvec).reshape(-1)))
  shape = tuple(int(d) for d in getattr(space, "shape", ())) or (1,)
  return spaces.Box(shape, np.asarray(space.low, np.float32), np.asarray(space.high, np.float32))


@dataclasses.dataclass(frozen=True, eq=False)
class GymnaxEnv:
  """A gymnax-style env and its params. Episodes end at the first ``terminated`` of
  ``step_env`` (no auto-reset); ``episode_length`` defaults to the params'
  ``max_steps_in_episode`` (or Craftax's ``max_timesteps``)."""
  env: Any
  params: Any = None

  def __post_init__(self):
    if self.params is None:
      object.__setattr__(self, "params", self.env.default_params)

  @property
  def observation_space(self):
    return _gymnax_space(self.env.observation_space(self.params))

  @property
  def action_space(self):
    return _gymnax_space(self.env.action_space(self.params))

  @property
  def episode_length(self) -> int | None:
    for name in ("max_steps_in_episode", "max_timesteps"):
      if hasattr(self.params, name):
        return int(getattr(self.params, name))
    return None

  @functools.cached_property
  def _action_shape(self) -> tuple[int, ...] | None:
    """The shape ``step_env`` takes a continuous action in (None: a discrete action, passed
    as is): the declared one, unless with it a step does not trace or changes the shapes of
    the state's leaves (a scalar state field grown to (1,) by a (1,) torque) while a scalar
    steps. gymnax's Pendulum and MountainCarContinuous take either; a user's env may index
    ``action[0]``. Decided once per adapter, by tracing a step each way."""
    space = self.env.action_space(self.params)
    if not hasattr(space, "low"):
      return None
    declared = tuple(int(d) for d in getattr(space, "shape", ()))
    if not declared or int(np.prod(declared)) != 1 or self._steps_with(declared) is True:
      return declared
    return () if self._steps_with(()) is not None else declared

  def _steps_with(self, shape) -> bool | None:
    """Whether ``step_env`` keeps the state's leaf shapes with an action of ``shape`` (None:
    it does not trace)."""

    def first_step(key):
      _, state = self.env.reset_env(key, self.params)
      _, nxt, *_ = self.env.step_env(key, state, jnp.zeros(shape, jnp.float32), self.params)
      return state, nxt

    try:
      state, nxt = jax.eval_shape(first_step, jax.random.PRNGKey(0))
    except Exception:  # pylint: disable=broad-except
      return None  # check_env names the error, if the declared shape does not trace
    if jax.tree.structure(state) != jax.tree.structure(nxt):
      return True  # no leaf to compare with: it traced, which is all that can be told
    return [x.shape for x in jax.tree.leaves(state)] == [x.shape for x in jax.tree.leaves(nxt)]

  def reset(self, key):
    # The first half of the member's key, as esjax 0.2's gymnax rollout drew it.
    obs, state = self.env.reset_env(jax.random.split(key)[0], self.params)
    return state, obs

  def step(self, state, action, key):
    if self._action_shape is not None:
      action = action.reshape(self._action_shape)
    obs, state, reward, terminated, _ = self.env.step_env(key, state, action, self.params)
    return state, obs, reward, terminated

  def sample_action(self, key):
    return self.env.action_space(self.params).sample(key)


def _jumanji_space(spec, observation: bool = False) -> spaces.Space:
  """A Jumanji ``Spec``: ``DiscreteArray``, ``MultiDiscreteArray``, ``BoundedArray``/``Array``,
  or a structured spec of them (its observations: ``_specs`` by field name). In an
  observation a discrete array is a box of integers, read as numbers."""
  nested = getattr(spec, "_specs", None)
  if isinstance(nested, dict) and nested:
    return spaces.Dict({str(k): _jumanji_space(v, observation)
                        for k, v in nested.items()})
  if hasattr(spec, "num_values") and not observation:
    nv = np.asarray(spec.num_values)
    return spaces.Discrete(int(nv)) if nv.ndim == 0 else spaces.MultiDiscrete(tuple(nv.reshape(-1)))
  low = np.asarray(getattr(spec, "minimum", -np.inf), np.float32)
  high = np.asarray(getattr(spec, "maximum", np.inf), np.float32)
  return spaces.Box(tuple(spec.shape), low, high)


@dataclasses.dataclass(frozen=True, eq=False)
class JumanjiEnv:
  """A Jumanji env: ``done`` is the timestep's ``last()`` (termination or the env's own time
  limit)."""
  env: Any
  episode_length: int | None = None

  def __post_init__(self):
    if self.episode_length is None and hasattr(self.env, "time_limit"):
      object.__setattr__(self, "episode_length", int(self.env.time_limit))

  @property
  def observation_space(self):
    return _jumanji_space(self.env.observation_spec, observation=True)

  @property
  def action_space(self):
    return _jumanji_space(self.env.action_spec)

  def reset(self, key):
    state, timestep = self.env.reset(key)
    return state, timestep.observation

  def step(self, state, action, key):
    del key  # Jumanji's state carries its own key
    state, timestep = self.env.step(state, action)
    return state, timestep.observation, timestep.reward, timestep.last()


ADAPTERS = (BraxEnv, GymnaxEnv, JumanjiEnv)

KINDS = ("an esjax env (reset(key), step(state, action, key), observation_space, "
         "action_space)", "a Brax Env or Playground MjxEnv", "a gymnax-style env (reset_env, "
         "step_env, default_params)", "a Jumanji env (reset, step, observation_spec, action_spec)")


def _follows_protocol(obj) -> bool:
  return all(hasattr(obj, m) for m in ("reset", "step")) and isinstance(
      getattr(obj, "observation_space", None), (spaces.Box, spaces.Dict)) and isinstance(
          getattr(obj, "action_space", None), spaces.ACTION_SPACES)


def as_env(obj, params=None):
  """``obj`` as a protocol env: itself if it follows the protocol, else the adapter its
  members call for (``params``: a gymnax-style env's params, default its ``default_params``)."""
  if isinstance(obj, type):  # its methods would be unbound: reset(key) would lack a self
    name = obj.__name__
    raise ConfigError(f"env={name} is a class; pass an instance, e.g. {name}()")
  if _follows_protocol(obj):
    return obj
  if all(hasattr(obj, m) for m in ("reset_env", "step_env", "default_params")):
    return GymnaxEnv(obj, params)
  if all(hasattr(obj, m) for m in ("reset", "step", "observation_spec", "action_spec")):
    return JumanjiEnv(obj)
  if all(hasattr(obj, m) for m in ("reset", "step", "observation_size", "action_size")):
    return BraxEnv(obj)
  wanted = ("reset", "step", "observation_space", "action_space")
  missing = [m for m in wanted if not hasattr(obj, m)]
  what = f"it has no {', '.join(missing)}" if missing else (
      "its observation_space/action_space are not esjax.envs.spaces")
  raise ConfigError(f"{type(obj).__name__} object is not an env ({what}); expected one of: "
                    f"{'; '.join(KINDS)}")
