"""The strategy contract that keeps every evolution strategy keys-only.

Every Gaussian-family ES (OpenAI-ES, ARS, PGPE, SNES, sep-CMA-ES) updates its search
distribution from the population's *returns* and a few weighted *noise moments*
``sum_j w_j * eps_j ** k`` (k = 1, 2), which any device rebuilds from PRNG keys chunk by chunk
(``perturbations.moments_from_keys``). So a strategy is four pure functions over its own state:

* ``init(params) -> state``: a replicated pytree with at least ``mean`` (P,), the policy that
  evaluation runs, and ``sigma`` (a scalar or (P,)), both read by the step;
* ``candidate(state, eps) -> params``: member params from its signed standard-normal noise;
* ``utilities(state, returns) -> weights``: one (num_directions,) array per entry of
  ``powers``; scalars only (shaping, top-b selection, baselines). A direction is a noise index:
  a mirrored pair, or a member when unmirrored;
* ``update(state, moments) -> (state, info)``: ``moments[m] = sum_j weights[m][j] *
  eps_j ** powers[m]``; ``info`` is a pytree of scalars that reaches the metrics as is;

and a frozen ``StrategySpec`` of its static facts (population, mirroring, ``powers``, what a
sweep may vary, isotropy), built by keyword like the ``Strategy`` itself.

The member noise is a ``perturbations.base.Perturbation``: full-rank Gaussian by default
(``perturbations.gaussian.GAUSSIAN``), or low-rank ``A B^T / sqrt(r)`` noise on weight matrices
(``perturbations.lowrank.LowRank``), which only isotropic strategies (OpenAI-ES, ARS) take. It
is an argument of ``ask`` and ``tell``, as the update's memory knob ``noise_chunk`` is: neither
is a fact of the strategy.

``tell`` (all-gathered returns, every device rebuilds the moments) and ``tell_split`` (each
device of a group a fixed share of the directions, then the partial sums combined in a fixed
order: the ``--comm gradient`` and ``hierarchical`` modes) are written once here, for every
strategy.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple

import chex
import jax
import jax.numpy as jnp
import optax

from esjax.perturbations.base import DEFAULT_NOISE_CHUNK, Perturbation
from esjax.perturbations import tree as tree_lib
from esjax.perturbations.gaussian import GAUSSIAN, weighted_sum

State = Any  # a flax.struct dataclass with ``mean`` and ``sigma``


@dataclasses.dataclass(frozen=True, kw_only=True)
class StrategySpec:
  """The static facts of a strategy that the step and the config read."""
  name: str
  population_size: int  # members per generation, mirrored partners counted
  mirrored: bool  # members 2k, 2k+1 carry +eps_k, -eps_k
  powers: tuple[int, ...]  # the power of eps in each moment ``utilities`` weighs
  # Options whose value lives only in the state ``init`` returns (traced, never closed over),
  # so one compiled step serves every value: what ``--sweep`` may vary (config/sweep.py).
  sweepable: tuple[str, ...] = ()
  # True when ``candidate`` is ``mean + sigma * eps`` with a scalar sigma and ``powers`` is
  # (1,): then any standardized noise fits, low-rank included.
  isotropic: bool = False


class Strategy(NamedTuple):
  """A keys-only ES, optax-style: its four pure functions and its spec, built by keyword."""
  init: Callable[[jax.Array], State]
  candidate: Callable[[State, jax.Array], jax.Array]
  utilities: Callable[[State, jax.Array], tuple[jax.Array, ...]]
  update: Callable[[State, tuple[jax.Array, ...]], tuple[State, Any]]
  spec: StrategySpec

  # The spec's facts read through (``es.population_size`` is ``es.spec.population_size``).
  @property
  def name(self) -> str:
    return self.spec.name

  @property
  def population_size(self) -> int:
    return self.spec.population_size

  @property
  def mirrored(self) -> bool:
    return self.spec.mirrored

  @property
  def powers(self) -> tuple[int, ...]:
    return self.spec.powers

  @property
  def sweepable(self) -> tuple[str, ...]:
    return self.spec.sweepable

  @property
  def isotropic(self) -> bool:
    return self.spec.isotropic


def check_perturbation(strategy: Strategy, perturbation: Perturbation) -> None:
  """ValueError unless ``strategy`` takes ``perturbation`` (low-rank noise needs an isotropic
  strategy: ``mean + sigma * eps``, first moments only)."""
  if perturbation.needs_isotropic and not strategy.isotropic:
    raise ValueError(f"strategy {strategy.name!r} does not take low-rank perturbations (its "
                     "candidates or moments are not mean + sigma * eps); use open_es or ars, "
                     "or --perturbation full")


# Optax factories that take the learning rate as their first argument: what a strategy's
# ``optimizer`` option may name.
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adabelief", "lion", "nadam", "adagrad", "lamb")


def make_optimizer(optimizer: str | optax.GradientTransformation,
                   learning_rate: float) -> optax.GradientTransformation:
  """An optax transformation, or the named optax factory called with ``learning_rate``.

  A named factory goes through ``optax.inject_hyperparams``, so ``learning_rate`` is an array
  in the optimizer state rather than a constant of the compiled step: a sweep vmaps it, and a
  single run computes exactly what each sweep point does."""
  if isinstance(optimizer, str):
    if optimizer not in OPTIMIZERS:
      raise ValueError(f"optimizer={optimizer!r} is invalid; expected one of: "
                       f"{', '.join(OPTIMIZERS)} (or an optax GradientTransformation)")
    factory = getattr(optax, optimizer)
    # Only the learning rate: the factory's other constants (Adam's b1, b2, eps) stay constants.
    return optax.inject_hyperparams(lambda learning_rate: factory(learning_rate))(
        learning_rate=learning_rate)
  return optimizer


def num_directions(strategy: Strategy) -> int:
  return strategy.population_size // 2 if strategy.mirrored else strategy.population_size


def pair_difference(u: jax.Array, mirrored: bool) -> jax.Array:
  """Member utilities (pop,) -> first-moment weights per direction: ``u+ - u-`` per pair."""
  return u[0::2] - u[1::2] if mirrored else u


def pair_sum(u: jax.Array, mirrored: bool) -> jax.Array:
  """Member utilities (pop,) -> second-moment weights per direction: ``u+ + u-`` per pair
  (``eps**2`` is the same for both members of a pair)."""
  return u[0::2] + u[1::2] if mirrored else u


def ask(strategy: Strategy, state: State, gen_key: jax.Array, members: jax.Array,
        perturbation: Perturbation = GAUSSIAN):
  """Params of ``members`` (len(members), P), each rebuilt from its own key. With low-rank
  noise, a ``LowRankParams`` whose mean and sigma are shared (unbatched) and whose noise has a
  leading member axis: vmap an evaluation over it with ``perturbation.member_axes()``."""
  check_perturbation(strategy, perturbation)
  num_params = state.mean.shape[0]
  noise = jax.vmap(lambda m: perturbation.member_noise(gen_key, m, num_params,
                                                       strategy.mirrored))(members)
  return perturbation.member_params(strategy.candidate, state, noise)


def _moments(strategy: Strategy, state: State, gen_key, weights, perturbation: Perturbation,
             noise_chunk: int, indices=None):
  check_perturbation(strategy, perturbation)
  return perturbation.moments_from_keys(gen_key, weights, strategy.powers, state.mean.shape[0],
                                        noise_chunk, indices)


def weigh(strategy: Strategy, state: State, returns: jax.Array) -> tuple[jax.Array, ...]:
  """``strategy.utilities``, except that returns carrying no information (all non-finite, or
  all equal) weigh nothing: such a generation must not move the search, whatever the shaper."""
  weights = tuple(strategy.utilities(state, returns))
  # The contract, checked at trace time (no runtime cost): a wrong length would otherwise
  # broadcast or index silently in the moments.
  chex.assert_equal(len(weights), len(strategy.powers))
  chex.assert_shape(weights, (num_directions(strategy),))
  silent = no_signal(returns)
  return tuple(jnp.where(silent, 0.0, w) for w in weights)


def _update(strategy: Strategy, state: State, moments):
  """``strategy.update``, checked at trace time to return a state of the same shapes and
  dtypes (a dtype drift, e.g. a float64 or int leaf, would otherwise surface as an opaque
  loop-carry mismatch in the fused generations)."""
  new, info = strategy.update(state, moments)
  chex.assert_trees_all_equal_shapes_and_dtypes(new, state)
  return new, info


def tell(strategy: Strategy, state: State, gen_key: jax.Array, returns: jax.Array, *,
         perturbation: Perturbation = GAUSSIAN, noise_chunk: int = DEFAULT_NOISE_CHUNK):
  """One update from *all* returns (pop,), every perturbation rebuilt from keys,
  ``noise_chunk`` directions at a time."""
  weights = weigh(strategy, state, returns)
  moments = _moments(strategy, state, gen_key, weights, perturbation, noise_chunk)
  return _update(strategy, state, moments)


def tell_split(strategy: Strategy, state: State, gen_key: jax.Array, returns: jax.Array,
               share: jax.Array, shares: int, combine: Callable, *, active=True,
               perturbation: Perturbation = GAUSSIAN, noise_chunk: int = DEFAULT_NOISE_CHUNK):
  """``tell`` with the noise rebuild split in ``shares`` parts: this device sums part
  ``share`` (a subtree of the fixed tree of perturbations/tree.py) and ``combine`` finishes the
  tree across the group (core/step.py's butterfly), so the bits do not depend on ``shares``.
  Every device weighs all returns, so rank-based utilities see the whole population. A device
  with ``active`` false (outside the split group) skips the rebuild; ``combine`` gives it the
  root."""
  weights = weigh(strategy, state, returns)
  check_perturbation(strategy, perturbation)
  num_params = state.mean.shape[0]

  def rebuild(_):
    return tree_lib.share_moments(perturbation, gen_key, weights, strategy.powers, num_params,
                                  noise_chunk, share, shares)

  def none(_):
    return tuple(jnp.zeros((num_params,), jnp.float32) for _ in weights)

  if isinstance(active, jax.Array):  # traced: which device runs this is known at run time
    local = jax.lax.cond(active, rebuild, none, None)
  else:
    local = (rebuild if active else none)(None)
  return _update(strategy, state, combine(local))


def dense_tell(strategy: Strategy, state: State, eps: jax.Array, returns: jax.Array):
  """``tell`` from an explicit (num_directions, P) noise matrix: the reference the keys-only
  path is tested against, and the entry point for noise that did not come from keys."""
  weights = weigh(strategy, state, returns)
  moments = tuple(weighted_sum(w, eps if p == 1 else eps**p)
                  for w, p in zip(weights, strategy.powers))
  return _update(strategy, state, moments)


def no_signal(returns: jax.Array) -> jax.Array:
  """True when the returns carry no information: all non-finite, or all equal."""
  finite = jnp.isfinite(returns)
  lo = jnp.min(jnp.where(finite, returns, jnp.inf))
  hi = jnp.max(jnp.where(finite, returns, -jnp.inf))
  return (~jnp.any(finite)) | (jnp.all(finite) & (lo == hi))
