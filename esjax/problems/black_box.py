"""Any ``f(params, key) -> float`` as a Problem: ES outside RL."""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from esjax.problems.base import Evaluation, Problem
from esjax.problems.normalizer import ObsStats


def black_box(fitness: Callable[[jax.Array, jax.Array], jax.Array]) -> Problem:
  """Wraps ``fitness(flat_params, key) -> scalar`` (higher is better) as a Problem."""

  def evaluate(params, normalizer, key):
    del normalizer
    return Evaluation(jnp.asarray(fitness(params, key), jnp.float32), jnp.ones((), jnp.int32),
                      ObsStats.zeros(0))

  return Problem(evaluate, obs_size=0)
