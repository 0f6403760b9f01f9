"""sep-CMA-ES (Ros & Hansen 2008, "A simple modification in CMA-ES achieving linear time and
space complexity", PPSN X, LNCS 5199, pp. 296-305).

The (mu_w, lambda)-CMA-ES with its covariance restricted to the diagonal C (P,): candidates
``mean + sigma * sqrt(C) * eps``; weighted recombination of the best ``mu = pop // 2`` with
``w_i ~ ln(mu + 1) - ln i``; cumulative step-size adaptation on ``p_sigma``; rank-one (``p_c``)
and rank-mu updates of C with the learning rate ``c_cov`` scaled by ``(P + 2) / 3``. All O(P).
Keys-only: ``C^(-1/2) y_w = sum w_i eps_i`` is the first noise moment and the rank-mu term
``sum w_i y_i**2 = C * sum w_i eps_i**2`` the second, so no member's noise is ever stored.

Constants (``sep_cma_constants``), the defaults of Hansen & Kern 2004 the paper uses:
``mu_eff = 1 / sum w_i**2``; ``c_sigma = (mu_eff + 2) / (P + mu_eff + 3)``; ``d_sigma = 1 +
2 max(0, sqrt((mu_eff - 1) / (P + 1)) - 1) + c_sigma``; ``c_c = 4 / (P + 4)``; ``mu_cov =
mu_eff``; ``c_cov = 2 / (mu_cov (P + sqrt 2)**2) + (1 - 1/mu_cov) min(1, (2 mu_eff - 1) /
((P + 2)**2 + mu_eff))``, then ``c_cov_sep = (P + 2) / 3 * c_cov``; rank-one share
``c_cov_sep / mu_cov``, rank-mu share the rest. ``E||N(0, I)|| ~ sqrt(P) (1 - 1/(4P) +
1/(21 P**2))``. The stall indicator h_sigma (and its ``delta(h_sigma) C`` correction) is that of
Hansen's tutorial (arXiv 1604.00772, p. 28): ``||p_sigma|| / sqrt(1 - (1 - c_sigma)**(2 g)) <
(1.4 + 2 / (P + 1)) E||N(0, I)||`` with g the updates so far, this one included.

Deviations from the paper: ``c_cov_sep`` is capped at 1 (inactive unless the population is of
the order of P**2); tied returns share the mean of their recombination weights; non-finite
returns rank last (tied with each other); a generation whose returns carry no information
(``base.weigh`` zeroes every weight) leaves the whole state as it was, where the paper's
update would still shrink C and sigma through the decays. Optional mirrored sampling
(Brockhoff et al. 2010) is not in the paper; off by default.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import chex
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from esjax.strategies import base
from esjax.strategies.rank_weights import rank_weights


@flax.struct.dataclass
class SepCMAESState:
  mean: jax.Array  # (P,) the search distribution's mean
  sigma: jax.Array  # () the global step size
  diag_cov: jax.Array  # (P,) C, the diagonal covariance
  p_sigma: jax.Array  # (P,) evolution path of the step size (conjugate: in eps space)
  p_c: jax.Array  # (P,) evolution path of C (in y = sqrt(C) eps space)
  generation: jax.Array  # () int32, updates so far: h_sigma's path normalization needs it


@flax.struct.dataclass
class SepCMAESInfo:
  step_size: jax.Array  # sigma after the update
  std_min: jax.Array  # extremes of the per-parameter std sigma * sqrt(C)
  std_max: jax.Array
  p_sigma_norm: jax.Array
  h_sigma: jax.Array  # 1.0 while the rank-one path is fed, 0.0 when stalled


class SepCMAConstants(NamedTuple):
  weights: np.ndarray  # (pop,) recombination weights by rank, best first, 0 beyond mu
  mu_eff: float
  c_sigma: float
  d_sigma: float
  c_c: float
  c_1: float  # rank-one share of c_cov_sep
  c_mu: float  # rank-mu share of c_cov_sep
  chi_n: float  # E||N(0, I)||
  h_threshold: float  # (1.4 + 2 / (P + 1)) chi_n


def sep_cma_constants(num_params: int, population_size: int) -> SepCMAConstants:
  """The paper's default strategy parameters for P = ``num_params`` (see the module doc)."""
  n, mu = num_params, population_size // 2
  ranks = np.arange(1, population_size + 1)
  raw = np.where(ranks <= mu, np.log(mu + 1) - np.log(ranks), 0.0)
  weights = raw / raw.sum()
  mu_eff = 1.0 / float(np.sum(weights**2))
  c_sigma = (mu_eff + 2) / (n + mu_eff + 3)
  d_sigma = 1 + 2 * max(0.0, math.sqrt((mu_eff - 1) / (n + 1)) - 1) + c_sigma
  c_c = 4 / (n + 4)
  mu_cov = mu_eff
  c_cov = (2 / (mu_cov * (n + math.sqrt(2)) ** 2)
           + (1 - 1 / mu_cov) * min(1.0, (2 * mu_eff - 1) / ((n + 2) ** 2 + mu_eff)))
  c_cov_sep = min(1.0, (n + 2) / 3 * c_cov)
  chi_n = math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n**2))
  return SepCMAConstants(weights.astype(np.float32), mu_eff, c_sigma, d_sigma, c_c,
                         c_cov_sep / mu_cov, c_cov_sep * (1 - 1 / mu_cov), chi_n,
                         (1.4 + 2 / (n + 1)) * chi_n)


def sep_cma_es(population_size: int, sigma: float = 0.1,
               mirrored: bool = False) -> base.Strategy:
  """sep-CMA-ES. ``sigma`` is the initial step size (C starts at the identity). The paper
  recommends ``population_size = 4 + floor(3 ln P)``; larger helps on noisy returns."""
  if population_size < 2 or (mirrored and population_size % 2):
    raise ValueError(f"population_size={population_size} must be >= 2 (and even if mirrored)")

  def init(params: jax.Array) -> SepCMAESState:
    zeros = jnp.zeros_like(params, jnp.float32)
    return SepCMAESState(params, jnp.asarray(sigma, jnp.float32), jnp.ones_like(zeros), zeros,
                         zeros, jnp.zeros((), jnp.int32))

  def candidate(state: SepCMAESState, eps: jax.Array) -> jax.Array:
    return state.mean + state.sigma * jnp.sqrt(state.diag_cov) * eps

  def utilities(state, returns):
    table = jnp.asarray(sep_cma_constants(state.mean.shape[0], population_size).weights)
    w = rank_weights(returns, table)
    return base.pair_difference(w, mirrored), base.pair_sum(w, mirrored)

  def update(state: SepCMAESState, moments):
    z_w, z2_w = moments  # sum w eps = C^(-1/2) y_w;  sum w eps**2 = C^(-1) sum w y**2
    chex.assert_equal_shape([z_w, z2_w, state.mean])
    k = sep_cma_constants(state.mean.shape[0], population_size)
    sqrt_c = jnp.sqrt(state.diag_cov)
    y_w = sqrt_c * z_w
    mean = state.mean + state.sigma * y_w
    p_sigma = ((1 - k.c_sigma) * state.p_sigma
               + math.sqrt(k.c_sigma * (2 - k.c_sigma) * k.mu_eff) * z_w)
    p_sigma_norm = jnp.linalg.norm(p_sigma)
    new_sigma = state.sigma * jnp.exp(k.c_sigma / k.d_sigma * (p_sigma_norm / k.chi_n - 1))
    generation = state.generation + 1
    # p_sigma's variance after g updates from 0 is 1 - (1 - c_sigma)**(2 g): normalize by it
    # so that h_sigma does not stall the rank-one path in the first generations.
    spread = jnp.sqrt(1 - (1 - k.c_sigma) ** (2 * generation.astype(jnp.float32)))
    h_sigma = (p_sigma_norm / spread < k.h_threshold).astype(jnp.float32)
    p_c = (1 - k.c_c) * state.p_c + h_sigma * math.sqrt(k.c_c * (2 - k.c_c) * k.mu_eff) * y_w
    # A stalled p_c (h_sigma = 0) misses its variance c_c (2 - c_c) C; delta puts it back.
    delta = (1 - h_sigma) * k.c_c * (2 - k.c_c)
    diag_cov = ((1 - k.c_1 - k.c_mu) * state.diag_cov + k.c_1 * (p_c**2 + delta * state.diag_cov)
                + k.c_mu * state.diag_cov * z2_w)
    new = SepCMAESState(mean, new_sigma, diag_cov, p_sigma, p_c, generation)
    # Recombination weights are >= 0 and eps**2 > 0 almost surely, so z2_w is all zero exactly
    # when base.weigh silenced the generation: then nothing may move, not even the decays.
    informed = jnp.any(z2_w > 0)
    new = jax.tree.map(lambda a, b: jnp.where(informed, a, b), new, state)
    std = new.sigma * jnp.sqrt(new.diag_cov)
    info = SepCMAESInfo(new.sigma, jnp.min(std), jnp.max(std), jnp.linalg.norm(new.p_sigma),
                        jnp.where(informed, h_sigma, 1.0))
    return new, info

  spec = base.StrategySpec(name="sep_cma_es", population_size=population_size,
                           mirrored=mirrored, powers=(1, 2), sweepable=("sigma",))
  return base.Strategy(init=init, candidate=candidate, utilities=utilities, update=update,
                       spec=spec)
