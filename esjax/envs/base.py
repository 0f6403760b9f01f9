"""The env protocol every environment reaches the rollout through.

A functional env, safe under ``jit`` and ``vmap`` (the rollout vmaps it over a device's
members and loops it in a ``lax.while_loop``)::

    env.reset(key) -> (state, obs)
    env.step(state, action, key) -> (state, obs, reward, done)
    env.observation_space   # spaces.Box (vector or (H, W, C) image) or spaces.Dict
    env.action_space        # spaces.Box (bounded), spaces.Discrete or spaces.MultiDiscrete

``state`` is any pytree; ``obs`` a pytree of arrays matching ``observation_space``; ``reward``
and ``done`` scalars (``done`` true at the episode's first terminal: the rollout stops the
member there, so an env must not reset itself on ``done`` before reporting it). ``key`` is a
fresh key per step, derived from the member's rollout key and the step index (an env with
deterministic dynamics ignores it). Two optional attributes: ``episode_length`` (the env's own
cut-off; the config's ``episode_length`` overrides it, 1000 when neither is given) and
``sample_action(key)`` (random actions for the VBN reference batch; default: uniform over the
action space).

An object with these members needs no adapter; ``adapters.as_env`` wraps Brax envs (and their
wrappers), MuJoCo Playground's ``MjxEnv``, gymnax-style envs (gymnax, Craftax, ...) and Jumanji
envs, and names what is missing from anything else.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import jax

from esjax.envs import spaces

DEFAULT_EPISODE_LENGTH = 1000  # Brax's own default, for envs that declare none


@runtime_checkable
class Env(Protocol):
  observation_space: spaces.Space
  action_space: spaces.Space

  def reset(self, key: jax.Array) -> tuple[Any, Any]:
    ...

  def step(self, state: Any, action: jax.Array, key: jax.Array) -> tuple[Any, Any, jax.Array,
                                                                          jax.Array]:
    ...


def episode_length(env: Env, override: int | None = None) -> int:
  """The rollout's cut-off: ``override``, else the env's own, else 1000."""
  if override is not None:
    return int(override)
  own = getattr(env, "episode_length", None)
  return DEFAULT_EPISODE_LENGTH if own is None else int(own)


def sample_action(env: Env, key: jax.Array) -> jax.Array:
  """A random action: the env's own ``sample_action``, else uniform over its action space."""
  own = getattr(env, "sample_action", None)
  if own is not None:
    return own(key)
  space = env.action_space
  if isinstance(space, spaces.Discrete):
    return jax.random.randint(key, (), 0, space.n)
  if isinstance(space, spaces.MultiDiscrete):
    import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
    return jax.random.randint(key, (len(space.nvec),), 0, jnp.asarray(space.nvec))
  if space.unit:  # the exact draw of esjax 0.2's Brax reference batch
    return jax.random.uniform(key, space.shape, minval=-1.0, maxval=1.0)
  low, high = space.bounds()
  return jax.random.uniform(key, (space.size,), minval=low, maxval=high).reshape(space.shape)
