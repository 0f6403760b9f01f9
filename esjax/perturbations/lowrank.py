"""Low-rank perturbations (EGGROLL: Sarkar et al. 2025, "Evolution Strategies at the
Hyperscale"), rebuilt from PRNG keys like the Gaussian ones.

The search still lives in one flat vector ``theta`` (P,). ``LowRankLayout`` says which flat
slices are 2-D weight matrices ("kernels", m x n, row-major as ``ravel_pytree`` lays them out);
every other slice (biases, conv kernels, scalars) is a "rest" leaf. A member's standardized
noise is

* on a kernel: ``E = A B^T / sqrt(r)`` with ``A`` (m, r), ``B`` (n, r) standard normal, so each
  entry still has variance 1 (a sum of r products of unit normals, over sqrt(r));
* on the rest: the usual full-rank ``N(0, I)``;

and the member's parameters are ``theta + sigma * noise``, exactly the Gaussian contract
(``candidate(state, eps) = mean + sigma * eps``) with a structured ``eps``. So OpenAI-ES and ARS
keep their update unchanged: the gradient ``sum_j w_j eps_j / (n sigma)`` becomes
``sum_j w_j A_j B_j^T / (n sigma sqrt(r))`` on each kernel, the paper's scaling.

Keys: member ``i``'s factors come from ``keys.noise_key(gen_key, noise_index(i))`` folded with
the leaf's index (one ``normal((m + n, r))`` draw split into ``A`` and ``B``; a rest leaf draws
``normal((size,))``); mirrored partners share the draw and carry opposite signs (the sign is put
on ``A`` and on the rest). Nothing but (seed, generation, index) decides a member's noise, so
device invariance and scalar-only traffic hold as for full-rank noise.

The member's params are never formed for policies: ``LowRankParams`` (the shared mean, sigma,
the member's factors and rest noise) is what a rollout receives, and ``Policy.apply`` computes
each dense layer as ``x W + sigma / sqrt(r) * (x A) B^T`` with the mean's ``W``: vmapped over
members, ``x W`` is one batched matmul on the shared weights and the correction costs
O((m + n) r) per row. ``LowRankParams.flat()`` forms ``theta + sigma * E`` densely: the reference,
and what a black-box fitness (a function of a flat vector) gets.

``moments_from_keys`` rebuilds ``sum_j w_j eps_j`` chunk by chunk as matmuls: for a chunk of c
directions, ``(A * w)`` reshaped (m, c r) times ``B`` reshaped (n, c r) transposed, plus
``w @ rest``. Only first moments exist here (``powers == (1,)``): strategies that need
``eps ** 2`` (SNES, sep-CMA-ES) or per-parameter sigma (PGPE) do not take low-rank noise.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Sequence

import flax.struct
import jax
import jax.numpy as jnp

from esjax import keys
from esjax.perturbations.base import chunked
from esjax.perturbations.gaussian import weighted_sum


@dataclasses.dataclass(frozen=True)
class Leaf:
  path: tuple[str, ...]  # e.g. ("params", "Dense_0", "kernel")
  offset: int  # first index in the flat vector
  shape: tuple[int, ...]
  lowrank: bool  # a 2-D leaf: perturbed by A B^T / sqrt(r)

  @property
  def size(self) -> int:
    return math.prod(self.shape)


def _key_name(k) -> str:
  for attr in ("key", "name", "idx"):
    if hasattr(k, attr):
      return str(getattr(k, attr))
  return str(k)


@dataclasses.dataclass(frozen=True)
class LowRankLayout:
  """Where the leaves of a params pytree sit in its flat vector (``ravel_pytree`` order)."""
  leaves: tuple[Leaf, ...]
  treedef: Any  # the pytree's structure, to rebuild it from leaves

  @classmethod
  def of(cls, params) -> "LowRankLayout":
    """From the (initial) params pytree; its leaves in ``jax.tree`` order, as ``ravel_pytree``."""
    with_path, treedef = jax.tree_util.tree_flatten_with_path(params)
    leaves, offset = [], 0
    for path, leaf in with_path:
      shape = tuple(int(d) for d in jnp.shape(leaf))
      leaves.append(Leaf(tuple(_key_name(k) for k in path), offset, shape, len(shape) == 2))
      offset += math.prod(shape)
    return cls(tuple(leaves), treedef)

  @property
  def num_params(self) -> int:
    return sum(l.size for l in self.leaves)

  @property
  def kernels(self) -> tuple[Leaf, ...]:
    return tuple(l for l in self.leaves if l.lowrank)

  @property
  def rest(self) -> tuple[Leaf, ...]:
    return tuple(l for l in self.leaves if not l.lowrank)

  @property
  def rest_size(self) -> int:
    return sum(l.size for l in self.rest)

  def kernel_index(self, path: tuple[str, ...]) -> int | None:
    """Position of the kernel at ``path`` in ``kernels`` (None if it is not one)."""
    for i, l in enumerate(self.kernels):
      if l.path == path:
        return i
    return None


@flax.struct.dataclass
class Noise:
  """One member's signed standardized noise (a batch of them under vmap)."""
  factors: tuple[tuple[jax.Array, jax.Array], ...]  # per kernel: A (m, r), B (n, r)
  rest: jax.Array  # (rest_size,) N(0, I) of the other leaves, concatenated in leaf order


@flax.struct.dataclass
class LowRankParams:
  """A member's params ``mean + sigma * eps`` without forming ``eps`` on the kernels."""
  mean: jax.Array  # (P,) the search mean, shared by every member (never batched)
  sigma: jax.Array  # () the noise std (shared)
  noise: Noise  # the member's own
  layout: LowRankLayout = flax.struct.field(pytree_node=False)

  @property
  def rank(self) -> int:
    return self.noise.factors[0][0].shape[-1]

  def tree(self):
    """The params pytree with every kernel at the *mean* (the low-rank part is applied by the
    caller, ``correction``) and every other leaf perturbed."""
    out, at = [], 0
    for leaf in self.layout.leaves:
      w = self.mean[leaf.offset:leaf.offset + leaf.size]
      if not leaf.lowrank:
        w = w + self.sigma * self.noise.rest[at:at + leaf.size]
        at += leaf.size
      out.append(w.reshape(leaf.shape))
    return jax.tree_util.tree_unflatten(self.layout.treedef, out)

  def correction(self, index: int, x: jax.Array) -> jax.Array:
    """``x E`` for kernel ``index`` (x: (..., m)) as ``sigma / sqrt(r) * (x A) B^T``."""
    a, b = self.noise.factors[index]
    return (x @ a) @ (b.T * (self.sigma / math.sqrt(self.rank)))

  def flat(self) -> jax.Array:
    """``mean + sigma * eps`` formed densely, (P,): the reference, and for flat fitnesses."""
    return self.mean + self.sigma * dense(self.layout, self.noise)


def draw(layout: LowRankLayout, rank: int, key: jax.Array, sign=1.0) -> Noise:
  """The standardized noise of one noise index (``key`` = its ``keys.noise_key``)."""
  factors, rest = [], []
  for i, leaf in enumerate(layout.leaves):
    k = jax.random.fold_in(key, i)
    if leaf.lowrank:
      m, n = leaf.shape
      ab = jax.random.normal(k, (m + n, rank), jnp.float32)
      factors.append((sign * ab[:m], ab[m:]))
    else:
      rest.append(jax.random.normal(k, (leaf.size,), jnp.float32))
  rest = sign * jnp.concatenate(rest) if rest else jnp.zeros((0,), jnp.float32)
  return Noise(tuple(factors), rest)


def dense(layout: LowRankLayout, noise: Noise) -> jax.Array:
  """The flat (P,) standardized noise ``eps`` of one member: ``A B^T / sqrt(r)`` on kernels."""
  parts, k, at = [], 0, 0
  for leaf in layout.leaves:
    if leaf.lowrank:
      a, b = noise.factors[k]
      parts.append((a @ b.T).reshape(-1) * (1.0 / math.sqrt(a.shape[-1])))
      k += 1
    else:
      parts.append(noise.rest[at:at + leaf.size])
      at += leaf.size
  return jnp.concatenate(parts)


@dataclasses.dataclass(frozen=True)
class LowRank:
  """The low-rank perturbation of ``layout`` at ``rank``: a ``perturbations.base.Perturbation``
  for isotropic strategies (the full-rank one is ``perturbations.gaussian.Gaussian``)."""
  layout: LowRankLayout
  rank: int
  # Members are ``LowRankParams(mean, sigma, noise)``, never the strategy's ``candidate``, and
  # the moments are first moments only: right for ``mean + sigma * eps`` with a scalar sigma.
  needs_isotropic: ClassVar[bool] = True
  splits_update: ClassVar[bool] = False  # see base.Perturbation

  def __post_init__(self):
    if self.rank < 1:
      raise ValueError(f"rank={self.rank} must be >= 1")
    if not self.layout.kernels:
      raise ValueError("low-rank perturbations need at least one 2-D weight matrix in the "
                       "params; these have none")

  def _check_size(self, num_params: int) -> None:
    if num_params != self.layout.num_params:
      raise ValueError(f"num_params={num_params} but the low-rank layout has "
                       f"{self.layout.num_params} parameters")

  def member_noise(self, gen_key, member, num_params: int, mirrored: bool) -> Noise:
    self._check_size(num_params)
    key = keys.noise_key(gen_key, keys.noise_index(member, mirrored))
    return draw(self.layout, self.rank, key, keys.member_sign(member, mirrored))

  def member_params(self, candidate, state, noise: Noise) -> LowRankParams:
    del candidate  # mean + sigma * eps, which needs_isotropic guarantees it is
    return self.params(state.mean, state.sigma, noise)

  def member_axes(self) -> LowRankParams:
    return LowRankParams(None, None, 0, self.layout)  # only the noise is per member

  def params(self, mean, sigma, noise: Noise) -> LowRankParams:
    return LowRankParams(mean, sigma, noise, self.layout)

  def moments_from_keys(self, gen_key, weights: Sequence[jax.Array], powers: Sequence[int],
                        num_params: int, chunk_size: int, indices: jax.Array | None = None):
    """``(sum_j weights[m][j] * eps_{indices[j]} for each m)``, each (P,), in chunks of
    ``chunk_size`` directions: at most ``chunk_size x (sum (m + n) r + rest)`` noise floats at
    once. First moments only."""
    if any(p != 1 for p in powers):
      raise ValueError(f"low-rank perturbations give first moments only; powers={powers}")
    self._check_size(num_params)
    layout, rank = self.layout, self.rank
    padded, indices, chunk = chunked(weights, indices, chunk_size)

    def body(totals, xs):
      idx, ws = xs
      noise = jax.vmap(lambda i: draw(layout, rank, keys.noise_key(gen_key, i)))(idx)
      return tuple(t + _weighted(layout, noise, w, chunk) for t, w in zip(totals, ws)), None

    zeros = tuple(jnp.zeros((layout.num_params,), jnp.float32) for _ in weights)
    totals, _ = jax.lax.scan(body, zeros, (indices, padded))
    return totals


def _weighted(layout: LowRankLayout, noise: Noise, w: jax.Array, chunk: int) -> jax.Array:
  """``sum_j w_j eps_j`` (P,) of a chunk of noises, each kernel's sum one matmul of the
  factors reshaped (m, chunk r) and (n, chunk r)."""
  parts, k, at = [], 0, 0
  for leaf in layout.leaves:
    if leaf.lowrank:
      a, b = noise.factors[k]  # (c, m, r), (c, n, r)
      m, n = leaf.shape
      rank = a.shape[-1]
      aw = (a * (w * (1.0 / math.sqrt(rank)))[:, None, None]).transpose(1, 0, 2).reshape(
          m, chunk * rank)
      # A real matmul, left at JAX's default precision like the members' own low-rank
      # products (an accelerator may round both alike); the dense leaves below are plain noise
      # sums, kept float32 as the full-rank ones are.
      parts.append((aw @ b.transpose(1, 0, 2).reshape(n, chunk * rank).T).reshape(-1))
      k += 1
    else:
      parts.append(weighted_sum(w, noise.rest[:, at:at + leaf.size]))
      at += leaf.size
  return jnp.concatenate(parts)
