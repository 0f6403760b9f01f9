"""PGPE: Parameter-exploring policy gradients (Sehnke, Osendorfer, Rueckstiess, Graves, Peters &
Schmidhuber 2010, Neural Networks 23(4)), symmetric sampling, per-parameter sigma; the center
follows the ClipUp optimizer by default (Toklu et al. 2020, arXiv 2008.02387).

Pair k perturbs by ``delta_k = sigma * eps_k`` (eps_k ~ N(0, I); members 2k, 2k+1 carry
``mean +- delta_k``). With utilities u (shaped returns) over n = 2N members, the paper's
symmetric-sampling gradients, averaged over the N pairs::

    grad_mean  = 1/N sum_k (u+_k - u-_k)/2 * delta_k            = sigma * M1 / n
    grad_sigma = 1/N sum_k ((u+_k + u-_k)/2 - b) * (delta_k**2 - sigma**2) / sigma
               = 1/N sum_k ((u+_k + u-_k)/2 - b) * sigma * (eps_k**2 - 1)
               = sigma * (M2 - sum_k w_k) / n,   w_k = u+_k + u-_k - 2b

with the keys-only moments ``M1 = sum_k (u+_k - u-_k) eps_k`` and ``M2 = sum_k w_k eps_k**2``.
The baseline b is the generation's mean utility, so ``sum_k w_k = 0`` and the sigma**2 term
drops out. The mean takes an optax step on ``-grad_mean`` (optax descends); sigma an ascent
step ``sigma + sigma_learning_rate * grad_sigma``, clipped to ``sigma * (1 +- sigma_max_change)``
so that it stays positive (and it is kept as is should it turn non-finite).

Deviations from Sehnke et al.: utilities are shaped returns (centered ranks by default) instead
of raw rewards; the baseline is the current generation's mean utility rather than a moving
average of past rewards; the center uses ClipUp (or any optax optimizer) instead of a plain
gradient step; the relative clip of the sigma change comes from Toklu et al. / pgpelib.
These are the choices of evotorch's and evosax's PGPE, whose scaling (1/n) this follows.
"""
from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import optax

from esjax.strategies import base
from esjax.strategies.clipup import clipup
from esjax.strategies.shaping import SHAPERS


@flax.struct.dataclass
class PGPEState:
  mean: jax.Array  # (P,) the center mu
  sigma: jax.Array  # (P,) per-parameter std
  sigma_learning_rate: jax.Array  # () traced so that a sweep can vmap it
  opt_state: optax.OptState


@flax.struct.dataclass
class PGPEInfo:
  grad_norm: jax.Array  # || grad_mean ||, in parameter units
  update_norm: jax.Array  # || center step || (<= max_speed under ClipUp)
  sigma_grad_norm: jax.Array
  sigma_mean: jax.Array
  sigma_min: jax.Array
  sigma_max: jax.Array


def pgpe(population_size: int, *, optimizer: str | optax.GradientTransformation = "clipup",
         learning_rate: float = 0.15, max_speed: float = 0.3, sigma: float = 0.1,
         sigma_learning_rate: float = 0.1, sigma_max_change: float = 0.2,
         shaping: str = "centered_rank") -> base.Strategy:
  """PGPE, always symmetric (mirrored). ``optimizer`` "clipup" (the default) is ClipUp with
  step size ``learning_rate`` and ``max_speed``, with the ClipUp paper's relation
  learning_rate = max_speed / 2; any other name is an optax factory called with
  ``learning_rate`` (``max_speed`` unused), or pass a transformation. ``sigma_learning_rate``
  0.1 and ``sigma_max_change`` 0.2 are pgpelib's / evosax's defaults; ``sigma`` 0.1 is the
  initial std of every parameter."""
  if population_size < 2 or population_size % 2:
    raise ValueError(f"population_size={population_size} must be even and >= 2: PGPE "
                     "samples symmetric pairs")
  if not 0 < sigma_max_change < 1:
    raise ValueError(f"sigma_max_change={sigma_max_change} must be in (0, 1) to keep sigma > 0")
  if sigma <= 0:
    raise ValueError(f"sigma={sigma} must be > 0")
  spec = base.StrategySpec(name="pgpe", population_size=population_size, mirrored=True,
                           powers=(1, 2), sweepable=_sweepable(optimizer))
  optimizer = _center_optimizer(optimizer, learning_rate, max_speed)
  shaper = SHAPERS[shaping]

  def init(params: jax.Array) -> PGPEState:
    return PGPEState(params, jnp.full(params.shape, sigma, jnp.float32),
                     jnp.asarray(sigma_learning_rate, jnp.float32), optimizer.init(params))

  def candidate(state: PGPEState, eps: jax.Array) -> jax.Array:
    return state.mean + state.sigma * eps

  def utilities(state, returns):
    del state
    u = shaper(returns)
    pair_sums = base.pair_sum(u, True)
    # Subtracting the mean pair sum is subtracting the baseline 2b = 2 mean(u), and it makes
    # the second-moment weights sum to 0: the -sigma**2 term of grad_sigma vanishes.
    return base.pair_difference(u, True), pair_sums - jnp.mean(pair_sums)

  def update(state: PGPEState, moments):
    # Times the reciprocal, not divided by a broadcast scalar (see open_es.update).
    grad_mean = state.sigma * moments[0] * (1.0 / population_size)
    grad_sigma = state.sigma * moments[1] * (1.0 / population_size)
    updates, opt_state = optimizer.update(-grad_mean, state.opt_state, state.mean)
    mean = optax.apply_updates(state.mean, updates)
    limit = sigma_max_change * state.sigma
    new_sigma = jnp.clip(state.sigma + state.sigma_learning_rate * grad_sigma,
                         state.sigma - limit, state.sigma + limit)
    new_sigma = jnp.where(jnp.isfinite(new_sigma), new_sigma, state.sigma)
    info = PGPEInfo(jnp.linalg.norm(grad_mean), jnp.linalg.norm(updates),
                    jnp.linalg.norm(grad_sigma), jnp.mean(new_sigma), jnp.min(new_sigma),
                    jnp.max(new_sigma))
    return state.replace(mean=mean, sigma=new_sigma, opt_state=opt_state), info

  return base.Strategy(init=init, candidate=candidate, utilities=utilities, update=update,
                       spec=spec)


def _center_optimizer(optimizer: str | optax.GradientTransformation, learning_rate: float,
                      max_speed: float) -> optax.GradientTransformation:
  """ClipUp for "clipup", else ``base.make_optimizer``'s optax transformation."""
  if isinstance(optimizer, str) and optimizer == "clipup":
    return clipup(learning_rate, max_speed)
  return base.make_optimizer(optimizer, learning_rate)


def _sweepable(optimizer: str | optax.GradientTransformation) -> tuple[str, ...]:
  # ClipUp's step size and max speed are Python constants of its update (it checks them), so
  # only a named optax optimizer's learning rate (make_optimizer) can be swept.
  named_optax = isinstance(optimizer, str) and optimizer != "clipup"
  return ("sigma", "sigma_learning_rate") + (("learning_rate",) if named_optax else ())
