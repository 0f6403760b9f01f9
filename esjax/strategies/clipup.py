"""ClipUp (Toklu, Liskowski & Srivastava 2020, "ClipUp: a simple and powerful optimizer for
distribution-based policy evolution", arXiv 2008.02387) as an optax transformation.

The paper's update, for a gradient estimate g of the fitness (ascent), step size alpha,
momentum m and maximum speed v_max::

    v <- m * v + alpha * g / ||g||          (normalized gradient: only its direction counts)
    v <- v * v_max / ||v||   if ||v|| > v_max
    theta <- theta + v

so ||step|| <= v_max whatever the scale of the fitness. The norms are global over the whole
pytree. optax transformations receive a *loss* gradient (descent), so ``-g`` comes in and the
update returned is the paper's velocity ``v`` itself. The paper recommends alpha = v_max / 2.
Deviation: a zero gradient (the paper divides by ||g|| unguarded) adds nothing to the velocity
instead of producing NaN; momentum still carries the previous velocity.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax


class ClipUpState(NamedTuple):
  velocity: optax.Updates  # the last step taken, same structure as the params


def _safe_inverse(x: jax.Array) -> jax.Array:
  """1/x where x > 0, else 0 (no NaN, also under jax.grad of a caller)."""
  positive = x > 0
  return jnp.where(positive, 1.0 / jnp.where(positive, x, 1.0), 0.0)


def clipup(learning_rate: float, max_speed: float, momentum: float = 0.9
           ) -> optax.GradientTransformation:
  """ClipUp: momentum over the normalized gradient, the velocity's norm clipped to
  ``max_speed``. ``learning_rate`` is the paper's step size alpha."""
  if learning_rate <= 0 or max_speed <= 0:
    raise ValueError(f"learning_rate={learning_rate} and max_speed={max_speed} must be > 0")
  if not 0 <= momentum < 1:
    raise ValueError(f"momentum={momentum} must be in [0, 1)")

  def init_fn(params):
    return ClipUpState(jax.tree.map(jnp.zeros_like, params))

  def update_fn(updates, state, params=None):
    del params
    # updates is the loss gradient -g: subtracting it ascends the fitness, as the paper does.
    inv_norm = _safe_inverse(optax.tree.norm(updates))
    velocity = jax.tree.map(lambda v, u: momentum * v - learning_rate * inv_norm * u,
                            state.velocity, updates)
    speed = optax.tree.norm(velocity)
    shrink = jnp.where(speed > max_speed, max_speed * _safe_inverse(speed), 1.0)
    velocity = jax.tree.map(lambda v: (v * shrink).astype(v.dtype), velocity)
    return velocity, ClipUpState(velocity)

  return optax.GradientTransformation(init_fn, update_fn)
