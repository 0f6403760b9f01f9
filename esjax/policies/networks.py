"""Deterministic policies as flax modules acting in Brax's action range [-1, 1].

ES perturbs a flat parameter vector; ``Policy`` bundles the module with the ravel/unravel
pair so the rest of the package never touches pytrees of weights.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

ACTIVATIONS: dict[str, Callable] = {
    "tanh": jnp.tanh,
    "relu": nn.relu,
    "elu": nn.elu,
    "gelu": nn.gelu,
    "swish": nn.swish,
}


class MLP(nn.Module):
  """Hidden layers then a tanh-squashed linear head (2x64 tanh in the paper's MuJoCo runs)."""
  action_size: int
  hidden_sizes: Sequence[int] = (64, 64)
  activation: str = "tanh"

  @nn.compact
  def __call__(self, obs):
    act = ACTIVATIONS[self.activation]
    x = obs
    for width in self.hidden_sizes:
      x = act(nn.Dense(width)(x))
    # A small output init keeps the first actions near zero; ES then sees a smooth landscape
    # instead of saturated bang-bang control (the "every backprop trick helps ES" slide).
    x = nn.Dense(self.action_size, kernel_init=nn.initializers.variance_scaling(
        0.01, "fan_in", "truncated_normal"))(x)
    return jnp.tanh(x)


class Linear(nn.Module):
  """ARS-style linear policy on normalized observations, clipped to the action range."""
  action_size: int

  @nn.compact
  def __call__(self, obs):
    return jnp.clip(nn.Dense(self.action_size, kernel_init=nn.initializers.zeros)(obs), -1.0, 1.0)


@dataclasses.dataclass(frozen=True)
class Policy:
  """A module plus the flat-vector view ES works in."""
  module: nn.Module
  num_params: int
  unravel: Callable[[jax.Array], dict]

  def apply(self, flat_params: jax.Array, obs: jax.Array) -> jax.Array:
    return self.module.apply(self.unravel(flat_params), obs)


def make_policy(kind: str, obs_size: int, action_size: int, hidden_sizes=(64, 64),
                activation: str = "tanh", key: jax.Array | None = None):
  """Returns ``(policy, initial_flat_params)``."""
  if kind == "mlp":
    module = MLP(action_size, tuple(hidden_sizes), activation)
  elif kind == "linear":
    module = Linear(action_size)
  else:
    raise ValueError(f"unknown policy {kind!r}; expected 'mlp' or 'linear'")
  key = jax.random.PRNGKey(0) if key is None else key
  params = module.init(key, jnp.zeros((obs_size,), jnp.float32))
  flat, unravel = ravel_pytree(params)
  return Policy(module, int(flat.shape[0]), unravel), flat.astype(jnp.float32)
