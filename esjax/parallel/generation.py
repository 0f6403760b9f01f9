"""One generation of ES as one compiled, device-sharded function.

Data flow (see docs/architecture.md): every device holds the same ``TrainState``; each
evaluates its contiguous slice of member ids, and only the population's scalar returns (an
all-gather) and the observation sums (a psum) cross devices. Every device then rebuilds all
perturbations from keys and applies the identical update, so the state stays replicated
without ever sending a parameter vector.

``comm="gradient"`` is the data-parallel alternative kept for comparison: each device sums
its own members' weighted noise and the parameter-sized vector is psummed.
"""
from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
from jax.sharding import Mesh, PartitionSpec as P

from esjax import keys
from esjax.parallel.mesh import AXIS
from esjax.problems import normalizer as norm_lib
from esjax.problems.base import Problem
from esjax.problems.normalizer import NormalizerState
from esjax.strategies import base as strategy_lib
from esjax.strategies.base import Strategy


@flax.struct.dataclass
class TrainState:
  es: Any  # the strategy's state (``mean``, ``sigma``, ...)
  normalizer: NormalizerState
  key: jax.Array  # the run key: with the generation it decides every random number
  generation: jnp.ndarray  # () int32


@flax.struct.dataclass
class GenMetrics:
  pop_return_mean: jnp.ndarray
  pop_return_max: jnp.ndarray
  pop_return_min: jnp.ndarray
  pop_return_std: jnp.ndarray
  nonfinite_returns: jnp.ndarray  # members whose return was NaN or inf (ranked last)
  episode_length_mean: jnp.ndarray
  gen_env_steps: jnp.ndarray  # env steps of live episodes in this generation
  param_norm: jnp.ndarray  # norm of the strategy's mean
  best_member: jnp.ndarray  # () int32 id of the highest finite return (0 if none is finite)
  info: Any  # the strategy's own pytree of scalars (grad norm, sigma stats, ...)


def metric_rows(metrics: GenMetrics) -> dict[str, Any]:
  """Flat ``{name: value}`` of a GenMetrics, the strategy's info fields by their own names."""
  # best_member is an index, not a statistic (a mean over seeds would mean nothing): it is
  # there for optimize, which rebuilds the best member's params from its key.
  row = {name: getattr(metrics, name) for name in metrics.__dataclass_fields__
         if name not in ("info", "best_member")}
  info = metrics.info
  fields = getattr(info, "__dataclass_fields__", None)
  row.update({name: getattr(info, name) for name in fields} if fields else dict(info or {}))
  return row


def init_state(strategy: Strategy, params: jax.Array, obs_size: int, seed: int) -> TrainState:
  return TrainState(strategy.init(params), norm_lib.init(obs_size), jax.random.PRNGKey(seed),
                    jnp.zeros((), jnp.int32))


def make_generation(problem: Problem, strategy: Strategy, num_devices: int,
                    normalize_obs: bool, comm: str = "returns"):
  """The per-device body of one generation; runs inside ``shard_map`` over ``AXIS``."""
  local = strategy.population_size // num_devices
  mirrored = strategy.mirrored

  def generation(state: TrainState):
    gen_key = keys.generation_key(state.key, state.generation)
    members = jax.lax.axis_index(AXIS) * local + jnp.arange(local)  # this device's slice
    candidates = strategy_lib.ask(strategy, state.es, gen_key, members)  # (local, P)
    rollout_keys = jax.vmap(
        lambda m: keys.rollout_key(gen_key, keys.noise_index(m, mirrored)))(members)
    ev = jax.vmap(problem.evaluate, in_axes=(0, None, 0))(candidates, state.normalizer,
                                                          rollout_keys)
    # The only cross-device traffic: pop returns + pop step counts + obs-stat sums.
    returns = jax.lax.all_gather(ev.ret, AXIS, tiled=True)  # (pop,)
    steps = jax.lax.all_gather(ev.steps, AXIS, tiled=True)  # (pop,)
    obs_stats = jax.lax.psum(jax.tree.map(lambda x: x.sum(0), ev.obs_stats), AXIS)

    if comm == "returns":
      es, info = strategy_lib.tell(strategy, state.es, gen_key, returns)
    else:  # the data-parallel pattern, O(P) bytes per generation instead of O(pop)
      es, info = strategy_lib.tell_local(strategy, state.es, gen_key, returns, members, AXIS)

    normalizer = (norm_lib.update(state.normalizer, obs_stats) if normalize_obs
                  else state.normalizer)
    finite = jnp.isfinite(returns)
    safe = jnp.where(finite, returns, 0.0)
    count = jnp.maximum(finite.sum(), 1)
    mean = safe.sum() / count
    metrics = GenMetrics(
        pop_return_mean=mean,
        pop_return_max=jnp.max(jnp.where(finite, returns, -jnp.inf)),
        pop_return_min=jnp.min(jnp.where(finite, returns, jnp.inf)),
        pop_return_std=jnp.sqrt(jnp.where(finite, (safe - mean) ** 2, 0.0).sum() / count),
        nonfinite_returns=(~finite).sum().astype(jnp.int32),
        episode_length_mean=steps.mean(),
        gen_env_steps=steps.sum().astype(jnp.int32),
        param_norm=jnp.linalg.norm(es.mean),
        best_member=jnp.argmax(jnp.where(finite, returns, -jnp.inf)).astype(jnp.int32),
        info=info,
    )
    new_state = TrainState(es, normalizer, state.key, state.generation + 1)
    return new_state, metrics

  return generation


def shard_generation(generation, mesh: Mesh, num_seeds: int = 1):
  """``shard_map`` the per-device body over ``mesh``; vmap it over seeds when more than one.

  The state goes in and out replicated (``P()``): after the collectives every device holds
  the same values, which is what lets the update stay replicated without sending params.
  """
  body = jax.vmap(generation) if num_seeds > 1 else generation
  # check_vma off: the all-gathered returns are equal on every device, but the type system
  # cannot see that, and we want the replicated out_spec.
  return jax.shard_map(body, mesh=mesh, in_specs=P(), out_specs=P(), check_vma=False)


def make_multi_step(sharded_generation, max_generations: int):
  """``run(state, n) -> (state, metrics[max_generations])`` running ``n <= max_generations``
  generations in one compiled call (a ``fori_loop``; ``n`` is traced, so any count up to the
  maximum reuses one compilation). Rows past ``n`` of the metrics buffer are zeros."""

  def run(state: TrainState, n):
    _, shape = jax.eval_shape(sharded_generation, state)
    buf = jax.tree.map(lambda s: jnp.zeros((max_generations,) + s.shape, s.dtype), shape)

    def body(i, carry):
      st, b = carry
      st, m = sharded_generation(st)
      return st, jax.tree.map(lambda bb, x: bb.at[i].set(x), b, m)

    return jax.lax.fori_loop(0, n, body, (state, buf))

  return jax.jit(run, donate_argnums=0)


def make_evaluate(problem: Problem, episodes: int, num_seeds: int = 1):
  """Mean return of the unperturbed policy over ``episodes`` episodes: ``(state) -> (mean, std)``."""

  def evaluate(state: TrainState):
    episode_keys = jax.random.split(keys.eval_key(state.key, state.generation), episodes)
    ev = jax.vmap(problem.evaluate, in_axes=(None, None, 0))(state.es.mean, state.normalizer,
                                                              episode_keys)
    return ev.ret.mean(), ev.ret.std()

  return jax.jit(jax.vmap(evaluate) if num_seeds > 1 else evaluate)
