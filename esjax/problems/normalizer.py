"""Running observation mean/std, merged across devices from per-generation sums.

Each generation the rollouts produce plain sums (count, sum, sum of squares) of the
observations they saw; the sums of every member chunk (``2 * obs_dim + 1`` floats each) are
all-gathered and added in member order (``core/step.py``), so the merge is the same bits on
any device count. The running state keeps (count, mean, M2) and absorbs each
generation's batch with Chan et al.'s parallel update, which stays accurate over billions of
observations where float32 running sums would not.

``NormalizerState`` is the problem's whole state (what ``evaluate`` receives besides the params
and the key), so it also carries the reference batch of virtual batch normalization
(``vbn_batch``, raw observations collected once at setup; ``None`` without VBN, which adds no
leaf, so a run without VBN has the very same state and checkpoints as before). It never
changes during a run and never crosses devices: it is part of the replicated state, rebuilt
identically on every process from the run key, and checkpointed with it.
"""
from __future__ import annotations

import flax.struct
import jax.numpy as jnp


@flax.struct.dataclass
class NormalizerState:
  """Running observation statistics (count, mean, M2), merged each generation from every
  member's observation sums in member order (Chan et al.'s update), the same bits on every
  device; with VBN also the reference batch."""
  count: jnp.ndarray  # ()
  mean: jnp.ndarray  # (obs_dim,)
  m2: jnp.ndarray  # (obs_dim,) sum of squared deviations from the mean
  # (N, *obs_shape) raw observations of the VBN reference batch (problems/reference.py), or None
  vbn_batch: jnp.ndarray | None = None


@flax.struct.dataclass
class ObsStats:
  """One generation's observation sums: what crosses devices besides the returns."""
  count: jnp.ndarray  # ()
  sum: jnp.ndarray  # (obs_dim,)
  sumsq: jnp.ndarray  # (obs_dim,)

  @classmethod
  def zeros(cls, obs_dim: int) -> "ObsStats":
    z = jnp.zeros((obs_dim,), jnp.float32)
    return cls(jnp.zeros((), jnp.float32), z, z)

  @classmethod
  def of(cls, obs: jnp.ndarray, weight: jnp.ndarray) -> "ObsStats":
    """Sums of one observation (obs_dim,) counted with ``weight`` (0 or 1: alive or not)."""
    # where, not multiply: a NaN observation times weight 0 would still be NaN.
    obs = jnp.where(weight > 0, obs, 0.0)
    return cls(weight, obs, obs * obs)

  def __add__(self, other: "ObsStats") -> "ObsStats":
    return ObsStats(self.count + other.count, self.sum + other.sum, self.sumsq + other.sumsq)


def init(obs_dim: int) -> NormalizerState:
  z = jnp.zeros((obs_dim,), jnp.float32)
  return NormalizerState(jnp.zeros((), jnp.float32), z, z)


def update(state: NormalizerState, stats: ObsStats) -> NormalizerState:
  # Every division is scalar by scalar, and vectors are only multiplied by the result. XLA's
  # simplifier rewrites ``vector / broadcast(scalar)`` into a multiply by the reciprocal in some
  # programs and not in others (it did in the one-device program and not in the two-device
  # one), and the two round differently: written this way there is nothing left to rewrite,
  # so every layout gets the same bits.
  n_b = stats.count
  inv_n_b = 1.0 / jnp.maximum(n_b, 1.0)
  mean_b = stats.sum * inv_n_b
  m2_b = jnp.maximum(stats.sumsq - n_b * mean_b**2, 0.0)
  n = state.count + n_b
  inv_n = 1.0 / jnp.maximum(n, 1.0)
  delta = mean_b - state.mean
  mean = state.mean + delta * (n_b * inv_n)
  m2 = state.m2 + m2_b + delta**2 * (state.count * n_b * inv_n)
  return state.replace(count=n, mean=mean, m2=m2)  # the VBN reference batch rides along


def mean_std(state: NormalizerState, min_std: float = 1e-2):
  var = state.m2 * (1.0 / jnp.maximum(state.count, 1.0))  # a scalar reciprocal: see update
  # Before any data (count 0) this is mean 0, std 1: the identity transform.
  std = jnp.where(state.count > 0, jnp.maximum(jnp.sqrt(var), min_std), 1.0)
  return state.mean, std


def normalize(state: NormalizerState, obs: jnp.ndarray, clip: float = 5.0) -> jnp.ndarray:
  """(obs - mean) / std clipped to +-clip (the paper clips at 5)."""
  return standardize(obs, *mean_std(state), clip)


def standardize(obs, mean, std, clip: float = 5.0) -> jnp.ndarray:
  """``normalize`` with mean and std computed once, for loops that apply it every step."""
  return jnp.clip((obs - mean) / std, -clip, clip)
