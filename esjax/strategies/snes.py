"""SNES (Schaul, Glasmachers & Schmidhuber 2011, "High dimensions and heavy tails for natural
evolution strategies", GECCO; also Wierstra et al. 2014, JMLR 15, Algorithm 6).

Separable NES: a Gaussian with per-parameter std sigma, candidates ``mean + sigma * eps``;
rank utilities ``u_k = max(0, log(n/2 + 1) - log k) / sum(...) - 1/n`` (k = 1 the best);
natural gradients ``g_mean = sum u eps`` and ``g_log_sigma = sum u (eps**2 - 1)``; updates
``mean += lr_mean * sigma * g_mean`` and ``sigma *= exp(lr_sigma / 2 * g_log_sigma)``.
Defaults are the paper's: ``lr_mean = 1``, ``lr_sigma = (3 + ln P) / (5 sqrt P)``.

Deviations from the paper: tied returns share the mean of their utilities instead of an
arbitrary order; non-finite returns rank last (tied with each other); a generation whose
returns carry no information (``base.weigh``) weighs nothing and so leaves the state as it
was. ``g_log_sigma`` is taken as the second moment ``sum u eps**2`` alone: its ``- sum u``
term is 0 because the utilities sum to 0 (tie sharing keeps the sum), which saves a moment.
Optional mirrored sampling (Brockhoff et al. 2010) is not in the paper; off by default.
"""
from __future__ import annotations

import math

import chex
import flax.struct
import jax
import jax.numpy as jnp

from esjax.strategies import base
from esjax.strategies.rank_weights import nes_utilities, rank_weights


@flax.struct.dataclass
class SNESState:
  mean: jax.Array  # (P,) the search distribution's mean
  sigma: jax.Array  # (P,) per-parameter std
  learning_rate: jax.Array  # () lr of the mean, traced so that a sweep can vmap it
  sigma_learning_rate: jax.Array  # () lr of log sigma


@flax.struct.dataclass
class SNESInfo:
  grad_norm: jax.Array  # norm of the natural gradient of the mean, sum u eps
  sigma_mean: jax.Array
  sigma_min: jax.Array
  sigma_max: jax.Array


def paper_sigma_learning_rate(num_params: int) -> float:
  """(3 + ln P) / (5 sqrt P), the paper's default learning rate of log sigma."""
  return (3.0 + math.log(num_params)) / (5.0 * math.sqrt(num_params))


def snes(population_size: int, sigma: float = 0.1, learning_rate: float = 1.0,
         sigma_learning_rate: float = 0.0, mirrored: bool = False) -> base.Strategy:
  """SNES. ``sigma`` is the initial std of every parameter; ``sigma_learning_rate`` 0 (the
  default) means the paper's ``(3 + ln P) / (5 sqrt P)``, known once ``init`` sees P. The paper
  recommends ``population_size = 4 + floor(3 ln P)``; any size works, more for noisy returns."""
  if mirrored and population_size % 2:
    raise ValueError(f"mirrored sampling needs an even population_size, got {population_size}")
  if sigma_learning_rate < 0:
    raise ValueError(f"sigma_learning_rate={sigma_learning_rate} must be >= 0 (0: the paper's)")
  table = nes_utilities(population_size)

  def init(params: jax.Array) -> SNESState:
    num_params = params.shape[0]
    lr_sigma = sigma_learning_rate or paper_sigma_learning_rate(num_params)
    return SNESState(params, jnp.full((num_params,), sigma, jnp.float32),
                     jnp.asarray(learning_rate, jnp.float32), jnp.asarray(lr_sigma, jnp.float32))

  def candidate(state: SNESState, eps: jax.Array) -> jax.Array:
    return state.mean + state.sigma * eps

  def utilities(state, returns):
    del state
    u = rank_weights(returns, table)
    # eps for the mean (member sign matters), eps**2 for sigma (it does not).
    return base.pair_difference(u, mirrored), base.pair_sum(u, mirrored)

  def update(state: SNESState, moments):
    grad_mean, grad_log_sigma = moments  # sum u eps; sum u eps**2 (= sum u (eps**2 - 1))
    chex.assert_equal_shape([grad_mean, grad_log_sigma, state.mean])
    mean = state.mean + state.learning_rate * state.sigma * grad_mean
    new_sigma = state.sigma * jnp.exp(0.5 * state.sigma_learning_rate * grad_log_sigma)
    info = SNESInfo(jnp.linalg.norm(grad_mean), jnp.mean(new_sigma), jnp.min(new_sigma),
                    jnp.max(new_sigma))
    return state.replace(mean=mean, sigma=new_sigma), info

  spec = base.StrategySpec(name="snes", population_size=population_size, mirrored=mirrored,
                           powers=(1, 2),
                           sweepable=("sigma", "learning_rate", "sigma_learning_rate"))
  return base.Strategy(init=init, candidate=candidate, utilities=utilities, update=update,
                       spec=spec)
