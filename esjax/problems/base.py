"""What the ES step evaluates: a ``Problem`` maps one member's params to a return.

``evaluate(flat_params, normalizer, key) -> Evaluation``; the step vmaps it over a device's
slice of the population and never looks inside. The env rollout (``rollout.env_problem``) also
takes ``limit=``, a traced episode-step limit (the adaptive cutoff). ``obs_stats`` is what the
problem wants summed over the population and folded into its state (the observation
normalizer).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from esjax.problems.normalizer import NormalizerState, ObsStats


@flax.struct.dataclass
class Evaluation:
  """One member's evaluation: its return, live env steps and observation sums."""
  ret: jnp.ndarray  # () episode return (NaN if the episode blew up)
  steps: jnp.ndarray  # () env steps of the live episode
  obs_stats: ObsStats  # observation sums for the normalizer
  trace: object = None  # what a rendering rollout recorded (``rollout.env_problem(record=)``)


@dataclasses.dataclass(frozen=True)
class Episode:
  """One member's episode in pieces, for a scheduler that steps many members' episodes side
  by side (``core/lanes.py``): ``finish(while running: step(start(params, key)))`` is
  ``evaluate(params, normalizer, key, limit)`` for the normalizer and limit it was built for.
  The state carries everything the member needs, so any lane may run it. A start state is
  running (every episode takes at least one step), and ``step`` may be called on a state that
  no longer runs: the scheduler discards what it returns."""
  start: Callable[[jax.Array, jax.Array], object]  # (params, key) -> state
  step: Callable[[object], object]  # state -> state
  running: Callable[[object], jax.Array]  # state -> () bool
  finish: Callable[[object], Evaluation]  # state -> Evaluation


@dataclasses.dataclass(frozen=True)
class Problem:
  """What ES optimizes: ``evaluate(params, normalizer, key) -> Evaluation`` for one member,
  vmapped and sharded by the step. ``black_box``, ``brax_problem`` and ``env_problem`` build
  one; the fields after ``obs_size`` are optional hooks."""
  evaluate: Callable[[jax.Array, NormalizerState, jax.Array], Evaluation]
  obs_size: int  # 0 for a black box: no normalizer
  # Raises ConfigError if ``evaluate`` cannot work on params like these; run once at setup so
  # a user's mistake is one line, not a shape error deep inside the compiled step.
  check: Callable[[jax.Array], None] | None = None
  # With a VBN policy: ``key -> (N, *obs_shape)`` raw observations, the reference batch the
  # trainer draws once from ``keys.vbn_key(run_key)`` into ``NormalizerState.vbn_batch``
  # (problems/reference.py). None: the policy has no VBN.
  reference_batch: Callable[[jax.Array], jax.Array] | None = None
  # True for ``black_box`` fitnesses: given ``initial_params`` as a pytree, they receive that
  # tree (``on_pytree``); any other Problem gets the flat vector (or a ``LowRankParams``).
  takes_tree: bool = False
  # ``(normalizer, limit) -> Episode``: the rollout in pieces, so the step can batch episodes
  # continuously (a lane whose episode ends takes the next member); None: a black box, whose
  # evaluate is all there is.
  episode: Callable[[NormalizerState, object], Episode] | None = None


def is_pytree(params) -> bool:
  """A structure of arrays (dict, tuple, flax params), not one array or a list of numbers."""
  if isinstance(params, (np.ndarray, jax.Array)) or np.isscalar(params):
    return False
  if isinstance(params, (list, tuple)) and all(np.isscalar(v) for v in params):
    return False  # a vector written out, e.g. [1.0, 2.0]
  leaves = jax.tree.leaves(params)
  # A Python or numpy scalar leaf ({"a": 1.0}) counts: ravel_tree makes it a float32 array.
  return bool(leaves) and all(isinstance(l, (np.ndarray, jax.Array, np.generic, int, float))
                              and not isinstance(l, bool) for l in leaves)


def ravel_tree(params) -> tuple[jax.Array, Callable[[jax.Array], object]]:
  """``(flat float32 vector, unravel)`` of a params pytree: the vector ES perturbs."""
  return ravel_pytree(jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), params))


def on_pytree(problem: Problem, unravel: Callable[[jax.Array], object]) -> Problem:
  """``problem`` for params given as a pytree: ES still perturbs one flat vector (each leaf
  its slice of every member's noise), and ``unravel`` turns it back into the pytree that
  ``problem.evaluate`` (e.g. a ``black_box`` fitness) receives."""
  from esjax.perturbations.lowrank import LowRankParams  # pylint: disable=g-import-not-at-top
  check = problem.check

  def evaluate(p, normalizer, key):
    if isinstance(p, LowRankParams):  # a low-rank member: the tree it stands for, formed
      p = p.flat()
    return problem.evaluate(unravel(p), normalizer, key)

  return dataclasses.replace(problem, evaluate=evaluate, episode=None,
                             check=None if check is None else (lambda p: check(unravel(p))))
