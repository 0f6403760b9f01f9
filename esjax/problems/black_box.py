"""Any ``f(params, key) -> float`` as a Problem: ES outside RL."""
from __future__ import annotations

import inspect
from typing import Callable

import jax
import jax.numpy as jnp

from esjax.errors import ConfigError
from esjax.perturbations.lowrank import LowRankParams
from esjax.problems.base import Evaluation, Problem
from esjax.problems.normalizer import ObsStats


def black_box(fitness: Callable[[jax.Array, jax.Array], jax.Array]) -> Problem:
  """Wraps ``fitness(params, key) -> scalar`` (higher is better) as a Problem. ``params`` is
  the flat vector, or the pytree ``esjax.train``'s ``initial_params`` was given as."""

  check_signature(fitness)

  def evaluate(params, normalizer, key):
    del normalizer
    if isinstance(params, LowRankParams):  # --perturbation lowrank: the fitness takes a vector
      params = params.flat()
    return Evaluation(jnp.asarray(fitness(params, key), jnp.float32), jnp.ones((), jnp.int32),
                      ObsStats.zeros(0))

  return Problem(evaluate, obs_size=0, check=lambda params: check_fitness(fitness, params),
                 takes_tree=True)


def check_signature(fitness: Callable, name: str = "fitness") -> None:
  """ConfigError unless ``fitness`` can be called as ``fitness(params, key)``: scipy's and
  most optimizers' ``f(x)`` would otherwise fail as a TypeError deep in the first trace."""
  if not callable(fitness):
    raise ConfigError(f"{name}={fitness!r} is not callable; expected {name}(params, key) -> "
                      "scalar")
  try:
    signature = inspect.signature(fitness)
  except (TypeError, ValueError):  # a builtin or C callable: nothing to read, trust it
    return
  try:
    signature.bind(None, None)
  except TypeError:
    raise ConfigError(f"{name} takes {signature}, but esjax calls {name}(params, key) (the key "
                      f"makes noisy objectives fair); for f(x) pass lambda x, key: f(x)") from None


def check_fitness(fitness: Callable[[jax.Array, jax.Array], jax.Array], params) -> None:
  """Raises ``ConfigError`` unless ``fitness(params, key)`` is a real scalar.

  Traced with ``jax.eval_shape`` (nothing runs), once at setup: a vector-valued fitness would
  otherwise surface as a shape error deep inside the compiled, sharded step.
  """
  params = jax.tree.map(lambda x: jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x)), params)
  out = jax.eval_shape(fitness, params, jax.eval_shape(jax.random.PRNGKey, 0))
  shape = (tuple(params.shape) if isinstance(params, jax.ShapeDtypeStruct)
           else jax.tree.map(lambda x: tuple(x.shape), params))
  where = f"for params of shape {shape}; expected a scalar"
  if not isinstance(out, jax.ShapeDtypeStruct):  # a tuple, dict, None, ...
    raise ConfigError(f"fitness returned a {type(out).__name__} {where}")
  if out.shape != ():
    raise ConfigError(f"fitness returned shape {tuple(out.shape)} {where}")
  if jnp.issubdtype(out.dtype, jnp.complexfloating) or not jnp.issubdtype(out.dtype, jnp.number):
    raise ConfigError(f"fitness returned dtype {out.dtype} {where} (a real number)")
