"""Deterministic policies as flax modules: continuous actions in [-1, 1] (a tanh head; the
problem rescales to the env's bounds) or, for discrete action spaces, the argmax of a logits
head (an int32 action index).

ES perturbs a flat parameter vector; ``Policy`` bundles the module with the ravel/unravel
pair so the rest of the package never touches pytrees of weights.

Kinds: ``mlp`` (vector observations; image observations are flattened), ``linear`` (ARS),
``cnn`` (image observations ``(H, W, C)``: the Atari network of the ES paper scaled to
MinAtar's 10x10 frames) and ``auto`` (``cnn`` for image observations, else ``mlp``).
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from esjax.perturbations.lowrank import LowRankParams
from esjax.policies import lowrank

ACTIVATIONS: dict[str, Callable] = {
    "tanh": jnp.tanh,
    "relu": nn.relu,
    "elu": nn.elu,
    "gelu": nn.gelu,
    "swish": nn.swish,
}


KINDS = ("auto", "mlp", "linear", "cnn")


def _head(x, action_size: int, discrete: bool):
  """The output layer: tanh actions in [-1, 1], or the argmax of logits (int32 index)."""
  # A small output init keeps the first actions near zero; ES then sees a smooth landscape
  # instead of saturated bang-bang control (the "every backprop trick helps ES" slide).
  x = nn.Dense(action_size, kernel_init=nn.initializers.variance_scaling(
      0.01, "fan_in", "truncated_normal"))(x)
  # Deterministic: no sampling, ties broken towards the lowest index (jnp.argmax).
  return jnp.argmax(x, axis=-1).astype(jnp.int32) if discrete else jnp.tanh(x)


class MLP(nn.Module):
  """Hidden layers then a tanh-squashed linear head (2x64 tanh in the paper's MuJoCo runs).
  ``obs_ndim`` > 1 (an image) flattens the last ``obs_ndim`` axes first."""
  action_size: int
  hidden_sizes: Sequence[int] = (64, 64)
  activation: str = "tanh"
  discrete: bool = False
  obs_ndim: int = 1

  @nn.compact
  def __call__(self, obs):
    act = ACTIVATIONS[self.activation]
    x = obs.reshape(obs.shape[:obs.ndim - self.obs_ndim] + (-1,)) if self.obs_ndim > 1 else obs
    for width in self.hidden_sizes:
      x = act(nn.Dense(width)(x))
    return _head(x, self.action_size, self.discrete)


class Linear(nn.Module):
  """ARS-style linear policy on normalized observations, clipped to the action range
  (argmax of the linear scores for discrete actions)."""
  action_size: int
  discrete: bool = False
  obs_ndim: int = 1

  @nn.compact
  def __call__(self, obs):
    x = obs.reshape(obs.shape[:obs.ndim - self.obs_ndim] + (-1,)) if self.obs_ndim > 1 else obs
    y = nn.Dense(self.action_size, kernel_init=nn.initializers.zeros)(x)
    return jnp.argmax(y, axis=-1).astype(jnp.int32) if self.discrete else jnp.clip(y, -1.0, 1.0)


class CNN(nn.Module):
  """The ES paper's Atari network (Mnih et al. 2015's, deterministic) scaled to MinAtar's
  10x10 frames: conv 16 3x3 (stride 1, VALID) -> ReLU -> dense 64 -> ReLU -> head.
  Takes ``(..., H, W, C)`` frames; ~66k params for Breakout's (10, 10, 4) and 3 actions."""
  action_size: int
  discrete: bool = True
  channels: int = 16
  dense: int = 64

  @nn.compact
  def __call__(self, obs):
    x = nn.relu(nn.Conv(self.channels, (3, 3), padding="VALID")(obs.astype(jnp.float32)))
    x = x.reshape(x.shape[:-3] + (-1,))
    x = nn.relu(nn.Dense(self.dense)(x))
    return _head(x, self.action_size, self.discrete)


def resolve_kind(kind: str, obs_shape) -> str:
  """``auto`` -> ``cnn`` for image observations (rank 3: H, W, C), else ``mlp``."""
  if kind != "auto":
    return kind
  return "cnn" if len(_shape(obs_shape)) == 3 else "mlp"


def _shape(obs_shape) -> tuple[int, ...]:
  return (int(obs_shape),) if isinstance(obs_shape, (int,)) or not hasattr(
      obs_shape, "__len__") else tuple(int(d) for d in obs_shape)


@dataclasses.dataclass(frozen=True)
class Policy:
  """A module plus the flat-vector view ES works in."""
  module: nn.Module
  num_params: int
  unravel: Callable[[jax.Array], dict]

  def apply(self, flat_params: jax.Array, obs: jax.Array) -> jax.Array:
    if isinstance(flat_params, LowRankParams):  # a member of a --perturbation lowrank run
      return lowrank.apply(self.module, flat_params, obs)
    return self.module.apply(self.unravel(flat_params), obs)


def make_policy(kind: str, obs_size, action_size: int, hidden_sizes=(64, 64),
                activation: str = "tanh", key: jax.Array | None = None,
                discrete: bool = False):
  """Returns ``(policy, initial_flat_params)``.

  ``obs_size`` is an int (vector observations) or a shape (``(10, 10, 4)`` for MinAtar);
  ``discrete`` gives an argmax-over-logits head with ``action_size`` choices.
  """
  shape = _shape(obs_size)
  kind = resolve_kind(kind, shape)
  if kind == "mlp":
    module = MLP(action_size, tuple(hidden_sizes), activation, discrete, len(shape))
  elif kind == "linear":
    module = Linear(action_size, discrete, len(shape))
  elif kind == "cnn":
    if len(shape) != 3:
      raise ValueError(f"policy 'cnn' needs image observations (H, W, C); got shape {shape}")
    module = CNN(action_size, discrete)
  else:
    raise ValueError(f"unknown policy {kind!r}; expected one of {', '.join(KINDS)}")
  key = jax.random.PRNGKey(0) if key is None else key
  params = module.init(key, jnp.zeros(shape, jnp.float32))
  flat, unravel = ravel_pytree(params)
  return Policy(module, int(flat.shape[0]), unravel), flat.astype(jnp.float32)
