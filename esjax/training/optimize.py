"""Black-box optimization on the compiled, sharded ES step: ``minimize`` and ``maximize``.

For users outside RL: any ``f(params, key) -> scalar`` over a flat float vector, optimized by
any registered strategy with exactly the step ``esjax.train`` runs (keys-only perturbations,
only scalar returns crossing devices, ``generations_per_call`` generations per compiled call).

What is "best". Every member of every generation is evaluated once by the step; its return
crosses devices, its params do not. So the step reports the id of the best member, and the
params are rebuilt from that member's key (``strategies.ask`` on the pre-update state) on
every device, inside the compiled call. The distribution's mean is what the search converges
to, so it is evaluated too: once before the first generation (``x0``) and once after every
generation, with the evaluation key stream (``keys.eval_key``), which never changes what the
search sees. That costs one fitness call per generation (1/population of the work) and
makes ``history["mean_fitness"]`` the learning curve of the mean. ``best_*`` is the best of
all those evaluations, members and means alike; for a noisy ``f`` it is the best *observed*
value, which favours lucky draws.

Importing this module pulls in jax, flax and optax only (no brax, orbax or matplotlib).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np

from esjax import keys
from esjax.config.train_config import check_devices, check_options, check_run
from esjax.errors import ConfigError
from esjax.core import step as step_lib
from esjax.core.mesh import make_mesh, replicate, to_host
from esjax.problems.base import is_pytree, ravel_tree
from esjax.problems.black_box import black_box, check_fitness, check_signature
from esjax.strategies import REGISTRY, base as strategy_lib
from esjax.strategies import options as options_lib

# Generations fused into one compiled call. The fused count is traced, so every chunk (the
# last one shorter) reuses one compilation; the cap only bounds the metrics buffer.
MAX_GENERATIONS_PER_CALL = 1000
DEFAULT_POPULATION = 64
# The black-box defaults: options laid over a factory's own defaults, which are tuned for
# Brax policies (thousands of weights near 0: a small sigma, small steps, an L2 pull towards
# 0 that would bias the optimum of f). The options a caller gives win over both. Strategies
# that adapt sigma (pgpe, snes, sep_cma_es) keep their own. With these, every strategy brings
# a 20-d sphere from f = 81 to below 1 % of it in the default 100 generations of 64
# (tests/training/test_optimize.py).
BLACK_BOX_OPTIONS = {
    "open_es": {"sigma": 0.1, "learning_rate": 0.1, "weight_decay": 0.0},
    "ars": {"sigma": 0.3, "learning_rate": 0.2},
}


@dataclasses.dataclass(frozen=True)
class OptimizeResult:
  """What ``minimize``/``maximize`` return: the best point evaluated, the final mean, and one
  history entry per generation."""
  best_params: Any  # (P,) the best evaluated point: a member or a mean (x0's pytree shape)
  best_fitness: float  # f at best_params as evaluated (in f's own sign)
  mean: Any  # (P,) the search distribution's final mean (x0's pytree shape)
  history: dict[str, np.ndarray]  # one entry per generation (see ``minimize``)


@flax.struct.dataclass
class Best:
  fitness: jax.Array  # () in the step's sign (higher is better); -inf until something finite
  params: jax.Array  # (P,)


@flax.struct.dataclass
class Tracked:
  """The multi-step's carry: the replicated train state and the best point so far."""
  train: step_lib.TrainState
  best: Best


@flax.struct.dataclass
class StepRecord:
  gen: step_lib.GenMetrics
  mean_fitness: jax.Array  # f at the updated mean (step's sign; NaN/inf as f returned it)
  best_fitness: jax.Array  # best so far, after this generation (step's sign)


@dataclasses.dataclass(frozen=True)
class Prepared:
  """What ``minimize``/``maximize`` run: exposed so that tests can inspect the compiled step
  (its cache size, its HLO) without running a search."""
  strategy: strategy_lib.Strategy
  mesh: Any
  carry: Tracked  # replicated over ``mesh``
  run: Callable  # (carry, n) -> (carry, StepRecord[max_generations]), one compiled program
  generations: int
  generations_per_call: int
  sign: float  # +1 maximize, -1 minimize: the step always maximizes sign * f


def minimize(f: Callable[[jax.Array, jax.Array], jax.Array], x0, strategy="open_es",
             generations: int = 100, seed: int = 0, num_devices: int | None = None,
             population_size: int | None = None, **options) -> OptimizeResult:
  """Minimizes ``f(params, key) -> scalar`` from ``x0``: a 1-D float vector, or any pytree of
  float arrays (a flax params dict), which ``f`` then receives in the same structure.

  ``strategy``: a registry name (``esjax.strategies.REGISTRY``; ``options`` go to its factory,
  over the black-box defaults ``BLACK_BOX_OPTIONS``, which replace step sizes tuned for Brax
  policies) or a ``Strategy`` object (then no options, and its own population size). Options
  are checked as ``TrainConfig`` checks them (``sigma`` > 0 and so on). ``population_size``
  defaults to 64 and must divide by the device count (``num_devices``, default: all visible)
  into slices that keep mirrored pairs whole.
  ``key`` lets ``f`` be noisy; mirrored partners share it (common random numbers).

  ``history`` holds one value per generation: ``pop_fitness_mean``/``_std`` (finite members),
  ``pop_fitness_best``, ``nonfinite`` (members whose fitness was NaN/inf: they rank last),
  ``mean_fitness`` (f at the mean after the generation), ``best_fitness`` (best so far), and
  the strategy's info fields by their own names. Fitness values are in f's own sign.
  """
  return _optimize(f, x0, strategy, generations, seed, num_devices, population_size, -1.0,
                   options)


def maximize(f: Callable[[jax.Array, jax.Array], jax.Array], x0, strategy="open_es",
             generations: int = 100, seed: int = 0, num_devices: int | None = None,
             population_size: int | None = None, **options) -> OptimizeResult:
  """``minimize`` for an ``f`` where higher is better."""
  return _optimize(f, x0, strategy, generations, seed, num_devices, population_size, 1.0,
                   options)


def _optimize(f, x0, strategy, generations, seed, num_devices, population_size, sign, options):
  check_signature(f, "f")  # the user's own f, before as_flat wraps it
  f, x0, unravel = as_flat(f, x0)
  p = prepare(f, x0, strategy, generations, seed, num_devices, population_size, sign, options)
  carry, chunks, done = p.carry, [], 0
  while done < p.generations:
    n = min(p.generations_per_call, p.generations - done)
    carry, buf = p.run(carry, n)
    chunks.append(jax.tree.map(lambda x: x[:n], to_host(buf)))
    done += n
  records = jax.tree.map(lambda *x: np.concatenate(x), *chunks)
  host = to_host(carry)
  return OptimizeResult(best_params=unravel(host.best.params),
                        best_fitness=float(sign * host.best.fitness),
                        mean=unravel(host.train.es.mean), history=_history(records, sign))


def as_flat(f, x0):
  """``(f_flat, x0_flat, unravel)``: a pytree ``x0`` as one flat vector, ``f`` called on the
  pytree it encodes. ES perturbs the flat vector (every leaf gets its own slice of each
  member's noise); a flat ``x0`` passes through with ``unravel`` the identity."""
  if x0 is not None and not isinstance(x0, np.ndarray) and not jax.tree.leaves(x0):
    raise ConfigError(f"x0={x0!r} is empty; expected a non-empty 1-D float vector or a pytree "
                      "of float arrays")
  if not is_pytree(x0):
    return f, x0, lambda x: x
  leaves = jax.tree.leaves(x0)
  for leaf in leaves:
    if not np.issubdtype(np.asarray(leaf).dtype, np.floating):
      raise ConfigError(f"x0 has a leaf of dtype {np.asarray(leaf).dtype}; expected float "
                        "arrays in every leaf")
  flat, unravel_jax = ravel_tree(x0)

  def f_flat(params, key):
    return f(unravel_jax(params), key)

  def unravel(x):
    return jax.tree.map(np.asarray, unravel_jax(jnp.asarray(x)))

  return f_flat, np.asarray(flat), unravel


def prepare(f, x0, strategy="open_es", generations: int = 100, seed: int = 0,
            num_devices: int | None = None, population_size: int | None = None,
            sign: float = 1.0, options: dict | None = None) -> Prepared:
  """Validates the inputs and builds the replicated carry and the compiled multi-step."""
  options = dict(options or {})
  check_signature(f, "f")
  x0 = _check_x0(x0)
  if not isinstance(generations, (int, np.integer)) or isinstance(generations, bool) \
      or generations < 1:
    raise ConfigError(f"generations={generations!r} is invalid; expected an int >= 1")
  check_run(num_devices, seed)  # num_devices=0 must not read as "all", nor seed=1.5 reach JAX
  es = _strategy(strategy, population_size, options)
  mesh = make_mesh(num_devices if num_devices is not None else
                   step_lib.default_device_count(es.population_size, es.mirrored, None))
  check_devices(es.population_size, es.mirrored, mesh.size)  # the CLI's layout rule
  check_fitness(f, x0)

  def fitness(params, key):  # the step maximizes
    return sign * jnp.asarray(f(params, key), jnp.float32)

  chunk = step_lib.default_member_chunk(es.population_size // mesh.size, jax.default_backend())
  generation = step_lib.make_generation(black_box(fitness), es, mesh.size, normalize_obs=False,
                                        member_chunk=chunk)
  sharded = step_lib.shard_generation(generation, mesh)

  def tracked(carry: Tracked):
    state = carry.train
    new, m = sharded(state)
    # Rebuilt here on every device from the member's key: params never cross devices.
    gen_key = keys.generation_key(state.key, state.generation)
    member = strategy_lib.ask(es, state.es, gen_key, m.best_member[None])[0]
    mean_fit = fitness(new.es.mean, keys.eval_key(new.key, new.generation))
    best = _better(_better(carry.best, m.pop_return_max, member), _safe(mean_fit), new.es.mean)
    return Tracked(new, best), StepRecord(m, mean_fit, best.fitness)

  per_call = min(int(generations), MAX_GENERATIONS_PER_CALL)
  run = step_lib.fuse(tracked, per_call)
  state = step_lib.init_state(es, jnp.asarray(x0), 0, seed)
  # x0 counts as evaluated (with the key the mean of generation 0 is evaluated with), so the
  # result is never worse than the start.
  f0 = _safe(jax.jit(fitness)(jnp.asarray(x0), keys.eval_key(state.key, 0)))
  carry = Tracked(state, Best(f0, jnp.asarray(x0)))
  return Prepared(es, mesh, replicate(carry, mesh), run, int(generations), per_call, sign)


def _safe(fit: jax.Array) -> jax.Array:
  """Non-finite fitness never counts as best (it ranks last in the search too)."""
  return jnp.where(jnp.isfinite(fit), fit, -jnp.inf)


def _better(best: Best, fitness: jax.Array, params: jax.Array) -> Best:
  take = fitness > best.fitness
  return Best(jnp.where(take, fitness, best.fitness), jnp.where(take, params, best.params))


def _check_x0(x0) -> np.ndarray:
  try:
    x = np.asarray(x0)
  except Exception:  # ragged lists and the like
    raise ConfigError(f"x0 of type {type(x0).__name__} is not an array; expected a 1-D float "
                      "vector") from None
  if x.ndim != 1 or x.size == 0 or not np.issubdtype(x.dtype, np.floating):
    raise ConfigError(f"x0 has shape {x.shape} and dtype {x.dtype}; expected a non-empty 1-D "
                      "float vector (e.g. np.zeros(10))")
  if not np.all(np.isfinite(x)):
    raise ConfigError("x0 holds NaN or inf; expected finite values")
  return x.astype(np.float32)


def _strategy(strategy, population_size, options) -> strategy_lib.Strategy:
  if isinstance(strategy, strategy_lib.Strategy):
    if options:
      raise ConfigError(f"options {sorted(options)} apply to a strategy named from the "
                        f"registry, not to the Strategy object {strategy.name!r}")
    if population_size is not None and population_size != strategy.population_size:
      raise ConfigError(f"population_size={population_size} but the Strategy object "
                        f"{strategy.name!r} has population_size={strategy.population_size}")
    es = strategy
  elif isinstance(strategy, str):
    if strategy not in REGISTRY:
      raise ConfigError(f"strategy={strategy!r} is unknown; expected one of: "
                        f"{', '.join(sorted(REGISTRY))}")
    known = list(options_lib.options(REGISTRY[strategy]))
    unknown = sorted(set(options) - set(known))
    if unknown:
      raise ConfigError(f"strategy {strategy!r} takes no option {unknown[0]!r}; its options: "
                        f"{', '.join(known)}")
    check_options(strategy, options)  # the values, as TrainConfig checks them (sigma > 0...)
    pop = DEFAULT_POPULATION if population_size is None else population_size
    if not isinstance(pop, (int, np.integer)) or isinstance(pop, bool) or pop < 2:
      raise ConfigError(f"population_size={pop!r} is invalid; expected an int >= 2")
    try:
      es = REGISTRY[strategy](int(pop), **{**BLACK_BOX_OPTIONS.get(strategy, {}), **options})
    except ConfigError:
      raise
    except (ValueError, TypeError) as e:  # a bad option value, in the factory's own words
      raise ConfigError(f"strategy {strategy!r}: {e}") from None
  else:
    raise ConfigError(f"strategy={strategy!r} is invalid; expected a name (one of: "
                      f"{', '.join(sorted(REGISTRY))}) or a Strategy")
  if es.mirrored and es.population_size % 2:
    raise ConfigError(f"population_size={es.population_size} is odd but strategy {es.name!r} "
                      "samples mirrored pairs; choose an even population")
  return es


def _history(records: StepRecord, sign: float) -> dict[str, np.ndarray]:
  """Per-generation arrays in f's own sign (the step maximizes sign * f)."""
  g = records.gen
  # A generation without a finite return has pop max -inf and mean 0 (the step's
  # convention); the mean and std read as NaN here rather than as a fitness.
  finite = np.isfinite(g.pop_return_max)
  hist = {
      "pop_fitness_mean": np.where(finite, sign * g.pop_return_mean, np.nan),
      "pop_fitness_std": np.where(finite, g.pop_return_std, np.nan),
      "pop_fitness_best": sign * g.pop_return_max,
      "nonfinite": g.nonfinite_returns,
      "mean_fitness": sign * records.mean_fitness,
      "best_fitness": sign * records.best_fitness,
  }
  info = g.info
  fields = getattr(info, "__dataclass_fields__", None)
  items = {n: getattr(info, n) for n in fields} if fields else dict(info or {})
  for name, value in items.items():
    hist["info_" + name if name in hist else name] = np.asarray(value)
  return hist
