"""OpenAI-ES (Salimans et al. 2017) as pure functions over a named state, optax style.

``open_es(...)`` returns ``OpenES(init, ask, tell)``:

* ``init(params) -> ESState``
* ``ask(state, gen_key, members) -> (len(members), P)`` perturbed parameters
* ``tell(state, gen_key, returns) -> (ESState, TellInfo)``: one update from *all* returns

``ask`` and ``tell`` take only keys and scalars: any device can ``tell`` after an all-gather of
returns, rebuilding every perturbation itself. Deviations from the paper: the noise is
generated from per-member PRNG keys instead of slices of one shared noise table, and the
weight decay is added to the gradient before the optax optimizer (as in their code).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import flax.struct
import jax
import jax.numpy as jnp
import optax

from esjax import noise
from esjax.shaping import SHAPERS


@flax.struct.dataclass
class ESState:
  params: jax.Array  # (P,) the search distribution's mean, theta
  opt_state: optax.OptState


@flax.struct.dataclass
class TellInfo:
  grad_norm: jnp.ndarray  # norm of the ES gradient estimate (before weight decay)
  update_norm: jnp.ndarray


class OpenES(NamedTuple):
  init: Callable
  ask: Callable
  tell: Callable
  weights: Callable  # returns (pop,) -> per-direction weights, for the gradient comm mode
  finish: Callable  # (state, sum_j w_j eps_j) -> (ESState, TellInfo)


def open_es(optimizer: optax.GradientTransformation, sigma: float, population_size: int,
            mirrored: bool = True, shaping: str = "centered_rank", weight_decay: float = 0.0,
            noise_chunk: int = 64) -> OpenES:
  shaper = SHAPERS[shaping]

  def init(params: jax.Array) -> ESState:
    return ESState(params, optimizer.init(params))

  def ask(state: ESState, gen_key: jax.Array, members: jax.Array) -> jax.Array:
    num_params = state.params.shape[0]
    eps = jax.vmap(lambda m: noise.member_noise(gen_key, m, num_params, mirrored))(members)
    return state.params[None, :] + sigma * eps  # (len(members), P)

  def weights(returns: jax.Array) -> jax.Array:
    """Utilities per noise direction: one per pair (w+ - w-) when mirrored."""
    w = shaper(returns)
    return w[0::2] - w[1::2] if mirrored else w

  def finish(state: ESState, weighted_eps: jax.Array):
    # The paper's estimate g = 1/(n sigma) sum_i F_i eps_i ascends; optax descends, so the
    # sign flips here. Weight decay pulls theta towards 0 as an L2 penalty would.
    grad = weighted_eps / (population_size * sigma)
    loss_grad = -grad + weight_decay * state.params
    updates, opt_state = optimizer.update(loss_grad, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    info = TellInfo(jnp.linalg.norm(grad), jnp.linalg.norm(updates))
    return ESState(params, opt_state), info

  def tell(state: ESState, gen_key: jax.Array, returns: jax.Array):
    w = weights(returns)
    total = noise.weighted_noise_sum(gen_key, w, state.params.shape[0], noise_chunk)
    return finish(state, total)

  return OpenES(init, ask, tell, weights, finish)
