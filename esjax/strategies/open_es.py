"""OpenAI-ES (Salimans, Ho, Chen, Sidor & Sutskever 2017, arXiv 1703.03864).

Fixed isotropic sigma; the gradient estimate ``g = 1/(n sigma) sum_i F_i eps_i`` over shaped
returns (centered ranks by default) with mirrored sampling; weight decay; any optax optimizer
(Adam in the paper). Deviations from the paper: the noise comes from per-member PRNG keys
instead of slices of one shared noise table, and the weight decay is added to the gradient
before the optimizer, as in their released code.
"""
from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import optax

from esjax.strategies import base
from esjax.strategies.shaping import SHAPERS


@flax.struct.dataclass
class OpenESState:
  """OpenAI-ES's state: the mean, its fixed sigma and the optax optimizer's state."""
  mean: jax.Array  # (P,) theta, the search distribution's mean
  sigma: jax.Array  # () fixed noise std, traced so that a sweep can vmap it
  opt_state: optax.OptState


@flax.struct.dataclass
class OpenESInfo:
  grad_norm: jax.Array  # norm of the ES gradient estimate (before weight decay)
  update_norm: jax.Array


def open_es(population_size: int, optimizer: str | optax.GradientTransformation = "adam",
            learning_rate: float = 0.02, sigma: float = 0.05, mirrored: bool = True,
            shaping: str = "centered_rank", weight_decay: float = 0.005) -> base.Strategy:
  """OpenAI-ES. The defaults are esjax's default hopper run (the paper's Humanoid used sigma
  0.02, Adam 0.01, L2 0.005: the ``humanoid_paper`` preset). ``optimizer`` is an optax
  transformation or the name of an optax factory called with ``learning_rate``."""
  optimizer_name, optimizer = optimizer, base.make_optimizer(optimizer, learning_rate)
  shaper = SHAPERS[shaping]

  def init(params: jax.Array) -> OpenESState:
    return OpenESState(params, jnp.asarray(sigma, jnp.float32), optimizer.init(params))

  def candidate(state: OpenESState, eps: jax.Array) -> jax.Array:
    return state.mean + state.sigma * eps

  def utilities(state, returns):
    del state
    return (base.pair_difference(shaper(returns), mirrored),)

  def update(state: OpenESState, moments):
    # The paper's estimate ascends; optax descends, so the sign flips here. Weight decay pulls
    # theta towards 0 as an L2 penalty would.
    # A vector times a scalar reciprocal, never a vector divided by a broadcast scalar: XLA
    # rewrites the latter into the former in some programs only (problems/normalizer.py).
    grad = moments[0] * (1.0 / (population_size * state.sigma))
    loss_grad = -grad + weight_decay * state.mean
    updates, opt_state = optimizer.update(loss_grad, state.opt_state, state.mean)
    mean = optax.apply_updates(state.mean, updates)
    info = OpenESInfo(jnp.linalg.norm(grad), jnp.linalg.norm(updates))
    return state.replace(mean=mean, opt_state=opt_state), info

  # learning_rate is in the optimizer state only for a named optimizer (make_optimizer).
  sweepable = ("sigma", "learning_rate") if isinstance(optimizer_name, str) else ("sigma",)
  spec = base.StrategySpec(name="open_es", population_size=population_size, mirrored=mirrored,
                           powers=(1,), sweepable=sweepable, isotropic=True)
  return base.Strategy(init=init, candidate=candidate, utilities=utilities, update=update,
                       spec=spec)
