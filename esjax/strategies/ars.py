"""ARS: Augmented Random Search (Mania, Guy & Recht 2018, "Simple random search provides a
competitive approach to reinforcement learning", arXiv 1803.07055), Algorithm 2.

Per generation, N antithetic pairs ``theta +- nu * delta_k`` (delta_k ~ N(0, I), the raw noise);
the directions are ranked by ``max(r+_k, r-_k)`` and the top b kept; then exactly the paper's
step, with no division by nu::

    theta <- theta + alpha / (b * sigma_R) * sum_{top b} (r+_k - r-_k) * delta_k

where sigma_R is the (population, ddof=0) standard deviation of the 2b returns used.
``top_directions`` b = 0 or b >= N keeps every direction (ARS V1/V2); 0 < b < N gives the
``-t`` variants (V1-t/V2-t).

What lives elsewhere, and deviations from the paper:

* V2's observation normalization (running state mean/std) is the trainer's normalizer, not
  this module: V1 vs V2 is the trainer's ``normalize_obs`` switch.
* ``reward_shift`` (the paper subtracts the survival bonus from every step's reward in
  training rollouts, e.g. 1 for Hopper/Walker/Ant/Humanoid) is an option of ``ars`` that the
  update never reads: the trainer takes it from the config's resolved options and subtracts it
  per env step in training rollouts only, never in evaluation.
* Non-finite returns (the paper has none) rank last, as in every esjax strategy: a NaN/inf
  return counts as the lowest finite return of the generation (``shaping.identity``), so a
  pair with one blown-up member still says "this direction is bad" and a pair with two
  weighs nothing. A generation with no finite return, or with sigma_R = 0, does not move
  theta.
* Ties at the top-b boundary keep every pair tied with the b-th best score (so b may grow by
  the size of the tie): which of two equal directions is kept must not depend on its index.
* The noise comes from per-pair PRNG keys instead of a shared noise table.
"""
from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from esjax.strategies import base
from esjax.strategies.shaping import identity


@flax.struct.dataclass
class ARSState:
  mean: jax.Array  # (P,) theta (M_j in the paper), flattened
  sigma: jax.Array  # () nu, the exploration noise std
  learning_rate: jax.Array  # () alpha, the step size; traced so that a sweep can vmap it


@flax.struct.dataclass
class ARSInfo:
  grad_norm: jax.Array  # || sum_{top b} (r+ - r-) delta / (b sigma_R) ||
  update_norm: jax.Array  # alpha times the above


def ars(population_size: int, *, learning_rate: float = 0.02, sigma: float = 0.03,
        top_directions: int = 0, reward_shift: float = 0.0) -> base.Strategy:
  """ARS, always mirrored (members 2k, 2k+1 carry +delta_k, -delta_k). ``population_size`` =
  2N. The defaults (alpha 0.02, nu 0.03) are of the order of the paper's MuJoCo settings
  (its Table 9 tunes alpha and nu per task); ``top_directions`` b: 0 or >= N uses all N
  directions. ``reward_shift`` is an option of ARS *training*, not of this update: declared
here so that it is an ARS option (a ``--reward-shift`` flag, refused for other strategies),
and read by the trainer from the config's options (see the module docstring)."""
  if population_size < 2 or population_size % 2:
    raise ValueError(f"population_size={population_size} must be even and >= 2: ARS "
                     "evaluates antithetic pairs")
  if top_directions < 0:
    raise ValueError(f"top_directions={top_directions} must be >= 0 (0 = all directions)")
  del reward_shift  # the trainer's (above): no part of the strategy
  num_pairs = population_size // 2
  top = num_pairs if top_directions == 0 else min(top_directions, num_pairs)

  def init(params: jax.Array) -> ARSState:
    return ARSState(params, jnp.asarray(sigma, jnp.float32),
                    jnp.asarray(learning_rate, jnp.float32))

  def candidate(state: ARSState, eps: jax.Array) -> jax.Array:
    return state.mean + state.sigma * eps

  def utilities(state, returns):
    del state
    returns = identity(returns)  # non-finite -> the lowest finite return
    plus, minus = returns[0::2], returns[1::2]
    score = jnp.maximum(plus, minus)  # (pairs,) the paper's ranking of directions
    chosen = score >= jnp.sort(score)[num_pairs - top]  # the b best, and any tied with them
    count = chosen.sum()
    n = jnp.maximum(2 * count, 1).astype(jnp.float32)
    center = jnp.where(chosen, plus + minus, 0.0).sum() / n
    var = jnp.where(chosen, (plus - center) ** 2 + (minus - center) ** 2, 0.0).sum() / n
    reward_std = jnp.sqrt(var)
    # 1/(b sigma_R), or 0 (no step) when the chosen returns are all equal.
    denom = count * reward_std
    moves = denom > 0
    scale = jnp.where(moves, 1.0 / jnp.where(moves, denom, 1.0), 0.0)
    return (jnp.where(chosen, (plus - minus) * scale, 0.0),)

  def update(state: ARSState, moments):
    # The weights already hold 1/(b sigma_R): moments[0] is the paper's sum, alpha aside.
    grad = moments[0]
    step = state.learning_rate * grad
    info = ARSInfo(jnp.linalg.norm(grad), jnp.linalg.norm(step))
    return state.replace(mean=state.mean + step), info

  spec = base.StrategySpec(name="ars", population_size=population_size, mirrored=True,
                           powers=(1,), sweepable=("sigma", "learning_rate"), isotropic=True)
  return base.Strategy(init=init, candidate=candidate, utilities=utilities, update=update,
                       spec=spec)
