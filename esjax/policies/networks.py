"""Deterministic policies as flax modules: continuous actions in [-1, 1] (a tanh head; the
problem rescales to the env's bounds) or, for discrete action spaces, the argmax of a logits
head (an int32 action index).

ES perturbs a flat parameter vector; ``Policy`` bundles the module with the ravel/unravel
pair so the rest of the package never touches pytrees of weights.

Kinds: ``mlp`` (vector observations; image observations are flattened), ``linear`` (ARS),
``cnn`` (image observations ``(H, W, C)``: the Atari network of the ES paper scaled to
MinAtar's 10x10 frames) and ``auto`` (``cnn`` for image observations, else ``mlp``).

Virtual batch normalization (``vbn=True``, Salimans et al. 2016; the ES paper's Atari
networks): every hidden layer's pre-activation is normalized with the mean and variance that
the *same* network, under the *same* (perturbed) weights, produces on a fixed reference batch
of observations, then scaled and shifted by learned per-feature parameters that ES perturbs
like any other weight. ``Policy.reference_stats(flat, ref_batch)`` computes those statistics
(one forward pass of the batch, layer after layer, each layer's statistics taken on the
reference activations already normalized by the layers below it); ``Policy.apply(flat, obs,
stats)`` uses them frozen. This is flax's ``nn.BatchNorm`` with ``momentum=0``: run on the
batch with ``batch_stats`` mutable its "running average" *is* the batch's statistics, and with
``use_running_average=True`` it applies them; so the layer is the stock, tested one, the
statistics are an ordinary ``{"batch_stats": ...}`` pytree outside the flat vector ES perturbs,
and they cost one forward pass of the reference batch per episode. The output head is never
normalized (its small init keeps the first actions near zero), and the Dense/Conv feeding a
VBN layer has no bias (the VBN offset replaces it).
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
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
CUSTOM = "custom"  # the config's kind for a user's own flax module (``module=`` below)


# Batch-norm epsilon: a feature with (near) zero variance on the reference batch (a ReLU unit
# that never fires on it) is scaled by at most 1/sqrt(eps); 1e-3, not flax's 1e-5, so such a
# unit cannot turn rounding noise into a 300x signal for the layers above.
VBN_EPSILON = 1e-3


def _vbn(x, vbn: bool, collect: bool):
  """Virtual batch norm of ``x`` (identity when ``vbn`` is off): ``collect`` computes the
  batch's statistics (and normalizes with them); otherwise the frozen ones are applied."""
  if not vbn:
    return x
  return nn.BatchNorm(use_running_average=not collect, momentum=0.0, epsilon=VBN_EPSILON,
                      use_fast_variance=False)(x)


def _argmax(x, nvec: tuple[int, ...]):
  """The int32 argmax of logits; with ``nvec``, one argmax per consecutive segment of
  ``nvec[i]`` logits (a multi-discrete action)."""
  if not nvec:
    return jnp.argmax(x, axis=-1).astype(jnp.int32)
  bounds = np.cumsum(nvec)[:-1].tolist()
  return jnp.stack([jnp.argmax(s, axis=-1) for s in jnp.split(x, bounds, axis=-1)],
                   axis=-1).astype(jnp.int32)


def _head(x, action_size: int, discrete: bool, nvec: tuple[int, ...] = ()):
  """The output layer: tanh actions in [-1, 1], or the argmax of logits (int32 index; one per
  dimension with ``nvec``)."""
  # A small output init keeps the first actions near zero; ES then sees a smooth landscape
  # instead of saturated bang-bang control (the "every backprop trick helps ES" slide).
  x = nn.Dense(action_size, kernel_init=nn.initializers.variance_scaling(
      0.01, "fan_in", "truncated_normal"))(x)
  # Deterministic: no sampling, ties broken towards the lowest index (jnp.argmax).
  return _argmax(x, nvec) if discrete else jnp.tanh(x)


class MLP(nn.Module):
  """Hidden layers then a tanh-squashed linear head (2x64 tanh in the paper's MuJoCo runs).
  ``obs_ndim`` > 1 (an image) flattens the last ``obs_ndim`` axes first."""
  action_size: int
  hidden_sizes: Sequence[int] = (64, 64)
  activation: str = "tanh"
  discrete: bool = False
  obs_ndim: int = 1
  vbn: bool = False  # virtual batch norm before each hidden activation
  nvec: tuple[int, ...] = ()  # multi-discrete: choices per action dimension

  @nn.compact
  def __call__(self, obs, collect: bool = False):
    act = ACTIVATIONS[self.activation]
    x = obs.reshape(obs.shape[:obs.ndim - self.obs_ndim] + (-1,)) if self.obs_ndim > 1 else obs
    for width in self.hidden_sizes:
      x = act(_vbn(nn.Dense(width, use_bias=not self.vbn)(x), self.vbn, collect))
    return _head(x, self.action_size, self.discrete, self.nvec)


class Linear(nn.Module):
  """ARS-style linear policy on normalized observations, clipped to the action range
  (argmax of the linear scores for discrete actions)."""
  action_size: int
  discrete: bool = False
  obs_ndim: int = 1
  nvec: tuple[int, ...] = ()

  @nn.compact
  def __call__(self, obs):
    x = obs.reshape(obs.shape[:obs.ndim - self.obs_ndim] + (-1,)) if self.obs_ndim > 1 else obs
    y = nn.Dense(self.action_size, kernel_init=nn.initializers.zeros)(x)
    return _argmax(y, self.nvec) if self.discrete else jnp.clip(y, -1.0, 1.0)


class CNN(nn.Module):
  """The ES paper's Atari network (Mnih et al. 2015's, deterministic) scaled to MinAtar's
  10x10 frames: conv 16 3x3 (stride 1, VALID) -> ReLU -> dense 64 -> ReLU -> head.
  Takes ``(..., H, W, C)`` frames; ~66k params for Breakout's (10, 10, 4) and 3 actions."""
  action_size: int
  discrete: bool = True
  channels: int = 16
  dense: int = 64
  vbn: bool = False  # virtual batch norm after the conv (per channel) and the dense layer
  nvec: tuple[int, ...] = ()

  @nn.compact
  def __call__(self, obs, collect: bool = False):
    x = nn.Conv(self.channels, (3, 3), padding="VALID", use_bias=not self.vbn)(
        obs.astype(jnp.float32))
    x = nn.relu(_vbn(x, self.vbn, collect))
    x = x.reshape(x.shape[:-3] + (-1,))
    x = nn.relu(_vbn(nn.Dense(self.dense, use_bias=not self.vbn)(x), self.vbn, collect))
    return _head(x, self.action_size, self.discrete, self.nvec)


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

  @property
  def vbn(self) -> bool:
    """Whether the network uses virtual batch norm (``apply`` then needs ``stats``)."""
    return bool(getattr(self.module, "vbn", False))

  def apply(self, flat_params: jax.Array, obs: jax.Array, stats=None) -> jax.Array:
    """Actions for ``obs`` (any leading axes). A VBN policy needs ``stats``, the
    ``reference_stats`` of the same ``flat_params``; they are ignored otherwise. A member of
    a ``--perturbation lowrank`` run (``LowRankParams``) is applied without forming its
    perturbation (``policies/lowrank.py``)."""
    return self.apply_bound(self.bind(flat_params, stats), obs)

  def bind(self, flat_params: jax.Array, stats=None):
    """What ``apply_bound`` applies for ``flat_params`` (and a VBN policy's ``stats``): the
    module's variables unpacked from the flat vector, once. An episode binds its member at
    its start: unpacking the vector at every step (slices of every member's weights) cost
    more than the dense layers themselves on CPU (hopper, 128 lanes: the "policy only" row of
    benchmarks/results/lane_widths.md went from 0.11 to 0.02-0.03 of a bare physics step)."""
    if isinstance(flat_params, LowRankParams):
      if self.vbn:
        raise ValueError("vbn with perturbation='lowrank' is not supported; use one of them")
      return flat_params
    if not self.vbn:
      return self.unravel(flat_params)
    if stats is None:
      raise ValueError("a VBN policy needs the reference batch's statistics: "
                       "apply(flat, obs, policy.reference_stats(flat, ref_batch))")
    return {**self.unravel(flat_params), **stats}

  def apply_bound(self, bound, obs: jax.Array) -> jax.Array:
    """Actions for ``obs`` from ``bind``'s result."""
    if isinstance(bound, LowRankParams):
      return lowrank.apply(self.module, bound, obs)
    return self.module.apply(bound, obs)

  def reference_stats(self, flat_params: jax.Array, ref_batch: jax.Array):
    """The VBN statistics of ``ref_batch`` (N, *obs_shape; already preprocessed as ``apply``'s
    observations are) under ``flat_params``: ``{"batch_stats": {layer: {"mean", "var"}}}``,
    per feature. One forward pass of the batch; ``{}`` for a policy without VBN."""
    if not self.vbn:
      return {}
    # batch_stats is absent from the variables and mutable: flax creates it, and momentum 0
    # makes the stored "running average" exactly this batch's statistics.
    _, stats = self.module.apply(self.unravel(flat_params), ref_batch, collect=True,
                                 mutable=["batch_stats"])
    return dict(stats)


def make_policy(kind: str, obs_size, action_size: int, hidden_sizes=(64, 64),
                activation: str = "tanh", key: jax.Array | None = None,
                discrete: bool = False, vbn: bool = False, module: nn.Module | None = None,
                nvec: tuple[int, ...] = ()):
  """Returns ``(policy, initial_flat_params)``.

  ``module``: a user's own flax module instead of ``kind``'s: ``module.apply(variables, obs)``
  for one observation of ``obs_size`` returns the action, in [-1, 1] per dimension for
  continuous actions (the problem rescales to the env's bounds) or an int32 index for
  discrete ones. Its "params" collection is what ES perturbs.

  ``obs_size`` is an int (vector observations) or a shape (``(10, 10, 4)`` for MinAtar);
  ``discrete`` gives an argmax-over-logits head with ``action_size`` choices (with ``nvec``,
  a multi-discrete head: one argmax per dimension over ``nvec[i]`` of them); ``vbn`` virtual
  batch norm in the hidden layers (``mlp`` and ``cnn``; a linear policy has none).
  """
  shape = _shape(obs_size)
  kind = CUSTOM if module is not None else resolve_kind(kind, shape)
  if module is not None:
    if vbn and not getattr(module, "vbn", False):
      raise ValueError("vbn is set but the custom module has no vbn attribute")
  elif kind == CUSTOM:
    raise ValueError("policy 'custom' is a user's flax module: pass it as module= "
                     "(esjax.train(..., policy_module=...), esjax.load(..., module=...))")
  elif kind == "mlp":
    module = MLP(action_size, tuple(hidden_sizes), activation, discrete, len(shape), vbn,
                 tuple(nvec))
  elif kind == "linear":
    if vbn:
      raise ValueError("vbn needs hidden layers to normalize; policy 'linear' has none "
                       "(use mlp or cnn)")
    module = Linear(action_size, discrete, len(shape), tuple(nvec))
  elif kind == "cnn":
    if len(shape) != 3:
      raise ValueError(f"policy 'cnn' needs image observations (H, W, C); got shape {shape}")
    module = CNN(action_size, discrete, vbn=vbn, nvec=tuple(nvec))
  else:
    raise ValueError(f"unknown policy {kind!r}; expected one of {', '.join(KINDS)}")
  key = jax.random.PRNGKey(0) if key is None else key
  # Only "params" is ES's flat vector; a VBN net's batch_stats come from the reference batch.
  params = {"params": module.init(key, jnp.zeros(shape, jnp.float32))["params"]}
  flat, unravel = ravel_pytree(params)
  return Policy(module, int(flat.shape[0]), unravel), flat.astype(jnp.float32)
