"""One generation of ES as one compiled, device-sharded function.

Data flow (see docs/architecture.md): every device holds the same ``TrainState``; each
evaluates its contiguous slice of member ids, and only the population's scalar returns, step
counts and per-chunk observation sums (all-gathers) cross devices. Every device then rebuilds all
perturbations from keys and applies the identical update, so the state stays replicated
without ever sending a parameter vector.

Bit-for-bit the same on any layout (docs/reproducibility.md): a device walks its slice in
chunks of ``member_chunk`` members (vmapped inside, ``lax.map`` over chunks), so every
member's episode runs in the same compiled chunk whatever the device count; and every sum
that feeds the state is taken in one fixed order: the per-chunk observation sums are
gathered in member order and added sequentially, never psummed (whose order follows the
layout).

``comm`` decides who rebuilds the update's noise (core/comm.py). ``returns``: every device
rebuilds all of it, chunk after chunk, so only scalars cross any link. ``gradient``: every
device rebuilds 1/N of it and the parameter-sized partial sums are combined over all devices.
``hierarchical``: scalars across hosts (the outer mesh axis), the rebuild split over the L
devices of each host (the inner axis). The split modes add fixed-size partial sums as one
fixed pairwise tree (perturbations/tree.py) finished by a butterfly exchange in the same order
on every layout, so each mode too gives the same bits on 1 device, N devices or H x L.
"""
from __future__ import annotations

from typing import Any

import chex
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jex_core
from jax.sharding import Mesh, PartitionSpec as P

from esjax import keys, xla_env
from esjax.core import comm as comm_lib
from esjax.core import lanes as lanes_lib
from esjax.core.mesh import AXIS, INNER, OUTER
from esjax.perturbations.base import DEFAULT_NOISE_CHUNK, Perturbation
from esjax.perturbations.gaussian import GAUSSIAN
from esjax.problems import normalizer as norm_lib
from esjax.problems.base import Problem
from esjax.problems.normalizer import NormalizerState
from esjax.problems.tricks import AdaptiveCutoff
from esjax.strategies import base as strategy_lib
from esjax.strategies.base import Strategy


@flax.struct.dataclass
class TrainState:
  """Everything a run carries from generation to generation (replicated over the mesh); a
  checkpoint is this state."""
  es: Any  # the strategy's state (``mean``, ``sigma``, ...)
  normalizer: NormalizerState
  key: jax.Array  # the run key: with the generation it decides every random number
  generation: jnp.ndarray  # () int32
  env_steps: jnp.ndarray  # (2,) int32: live env steps so far, an exact counter (see below)
  # () int32 episode-step limit of the adaptive cutoff (problems/tricks.py); None (no leaf, so
  # checkpoints of runs without it are unchanged) when it is off.
  cutoff: Any = None


# The env-step count lives in the state as two int32 words ``[hi, lo]``, value
# ``hi * 2**30 + lo`` with ``0 <= lo < 2**30``. One int32 overflows at 2.1e9 steps (a long
# Humanoid run takes more), uint32 at 4.3e9, float32 stops counting exactly at 2**24, and
# int64 exists only with ``jax_enable_x64``, a global switch that would change every other
# dtype of the run. Two words are exact up to 2**61 steps, for any per-generation count that
# fits an int32 (the form ``gen_env_steps`` has), and checkpoint as plain int32 arrays.
_STEP_BASE = 2**30


def steps_zero() -> jnp.ndarray:
  return jnp.zeros((2,), jnp.int32)


def steps_add(counter: jnp.ndarray, steps: jnp.ndarray) -> jnp.ndarray:
  """``counter + steps`` (``steps`` >= 0, int32; any leading seed axis broadcast), exactly."""
  steps = jnp.asarray(steps, jnp.int32)
  lo = counter[..., 1] + steps % _STEP_BASE  # < 2**31: no overflow
  hi = counter[..., 0] + steps // _STEP_BASE + lo // _STEP_BASE
  return jnp.stack([hi, lo % _STEP_BASE], axis=-1)


def steps_reached(counter: jnp.ndarray, budget: int) -> jnp.ndarray:
  """``counter >= budget`` (a Python int), per seed."""
  b_hi, b_lo = divmod(int(budget), _STEP_BASE)
  hi, lo = counter[..., 0], counter[..., 1]
  return (hi > b_hi) | ((hi == b_hi) & (lo >= b_lo))


def steps_value(counter) -> Any:
  """The counter's value on the host: an int64 numpy array (shape () or (num_seeds,))."""
  c = np.asarray(counter).astype(np.int64)
  return c[..., 0] * _STEP_BASE + c[..., 1]


@flax.struct.dataclass
class GenMetrics:
  """One generation's statistics, as the compiled step returns them (metrics.jsonl's fields)."""
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
  episode_cutoff: Any = None  # the adaptive cutoff this generation ran under (None: off)


def metric_rows(metrics: GenMetrics) -> dict[str, Any]:
  """Flat ``{name: value}`` of a GenMetrics, the strategy's info fields by their own names."""
  # best_member is an index, not a statistic (a mean over seeds would mean nothing): it is
  # there for optimize, which rebuilds the best member's params from its key.
  row = {name: getattr(metrics, name) for name in metrics.__dataclass_fields__
         if name not in ("info", "best_member") and getattr(metrics, name) is not None}
  info = metrics.info
  fields = getattr(info, "__dataclass_fields__", None)
  row.update({name: getattr(info, name) for name in fields} if fields else dict(info or {}))
  return row


def init_state(strategy: Strategy, params: jax.Array, obs_size: int, seed: int,
               cutoff: AdaptiveCutoff | None = None) -> TrainState:
  return TrainState(strategy.init(params), norm_lib.init(obs_size), jax.random.PRNGKey(seed),
                    jnp.zeros((), jnp.int32), steps_zero(),
                    None if cutoff is None else cutoff.init())


def default_member_chunk(local: int, backend: str) -> int:
  """The chunk size ``member_chunk=None`` means for a per-device slice of ``local`` members.

  On CPU, 64: a vmap of 64 hopper/ant episodes already fills a core's vector units (wider
  chunks barely help, see benchmarks/results/reproducible.md), and 64 divides the slices of
  every layout whose slices are multiples of 64 (pop 256 on 1, 2 or 4 devices), so those all
  run the same chunk and give the same bits. A slice that 64 does not divide gets its largest
  divisor below 64. On GPU/TPU, the whole slice: a chunk must hold thousands of members to
  keep the device busy, so invariance across accelerator layouts is opt-in (set
  ``member_chunk`` to the slice of the largest device count the run may ever use).
  """
  if backend != "cpu":
    return local
  return max(c for c in range(1, min(local, 64) + 1) if local % c == 0)


def split_device_count(population: int, mirrored: bool, member_chunk: int | None,
                       available: int, backend: str) -> int:
  """How many of ``available`` devices a run uses when the user did not say: the most that
  split ``population`` into equal slices of whole mirrored pairs evaluated in the same chunks
  as on one device, so the split changes the wall time and never the result (issue 10)."""
  one = member_chunk or default_member_chunk(population, backend)
  for d in range(max(available, 1), 0, -1):
    local, rest = divmod(population, d)
    if rest or (mirrored and local % 2) or local % one:
      continue
    if (member_chunk or default_member_chunk(local, backend)) == one:
      return d
  return 1


def default_device_count(population: int, mirrored: bool,
                         member_chunk: int | None) -> int | None:
  """The device count of a run that names none: on a CPU that esjax split into one device per
  core (esjax/xla_env.py), ``split_device_count`` of them; otherwise None, every device."""
  if xla_env.cpu_split() is None or jax.default_backend() != "cpu" or jax.process_count() > 1:
    return None
  return split_device_count(population, mirrored, member_chunk, jax.device_count(), "cpu")


def make_generation(problem: Problem, strategy: Strategy, num_devices: int,
                    normalize_obs: bool, comm: str = "returns", member_chunk: int | None = None,
                    cutoff: AdaptiveCutoff | None = None, *,
                    perturbation: Perturbation = GAUSSIAN,
                    noise_chunk: int = DEFAULT_NOISE_CHUNK, hosts: int = 1,
                    lanes: int = 0, lane_narrowings: int = lanes_lib.NARROWINGS):
  """The per-device body of one generation; runs inside ``shard_map`` over ``AXIS`` (a mesh of
  ``hosts`` x ``num_devices // hosts``, core/mesh.py).

  ``member_chunk`` members are evaluated at once (None: the whole per-device slice); it must
  divide the slice. Equal chunks give equal bits on every device count. With ``cutoff`` (the
  adaptive episode cutoff) the rollouts stop at ``state.cutoff`` steps, and the next limit is
  computed from the all-gathered step counts, the same on every device. ``perturbation`` is
  the member noise, ``noise_chunk`` the directions the update rebuilds at once.

  ``lanes``: episodes stepped at once by continuous batching (``core/lanes.py``; 0: off, each
  chunk runs until its last episode ends), narrowed ``lane_narrowings`` times for the last
  episodes. The same bits either way on hopper and ant, not on every env
  (docs/reproducibility.md);
  only problems with an ``episode`` and full-rank noise have lanes.
  """
  local = strategy.population_size // num_devices
  chunk = member_chunk or local
  if local % chunk:
    raise ValueError(f"member_chunk={chunk} does not divide the per-device slice of {local}")
  if lanes and problem.episode is not None and perturbation.member_axes() == 0:
    evaluate_slice = _lane_evaluator(problem, strategy, perturbation, cutoff,
                                     lanes_lib.widths(lanes, local, lane_narrowings))
  else:
    evaluate_slice = _chunked(_chunk_evaluator(problem, strategy, perturbation, cutoff))
  tell = _teller(strategy, comm, perturbation, noise_chunk,
                 {OUTER: hosts, INNER: num_devices // hosts})

  def generation(state: TrainState):
    gen_key = keys.generation_key(state.key, state.generation)
    first = jax.lax.axis_index(AXIS) * local  # this device's slice, in chunks
    members = (first + jnp.arange(local)).reshape(local // chunk, chunk)
    ret, steps, chunk_stats = evaluate_slice(state, gen_key, members)
    # The only cross-device traffic, all gathers in member order: pop returns + pop step
    # counts + one obs-sum triple per chunk.
    returns = jax.lax.all_gather(ret.reshape(-1), AXIS, tiled=True)  # (pop,)
    steps = jax.lax.all_gather(steps.reshape(-1), AXIS, tiled=True)  # (pop,)
    obs_stats = _sum_in_order(jax.lax.all_gather(chunk_stats, AXIS, tiled=True))
    es, info = tell(state.es, gen_key, returns)
    normalizer = (norm_lib.update(state.normalizer, obs_stats) if normalize_obs
                  else state.normalizer)
    # env_steps is counted by make_multi_step, outside this body; it passes through here.
    new_state = state.replace(es=es, normalizer=normalizer, generation=state.generation + 1)
    metrics = _metrics(returns, steps, es, info)
    if cutoff is not None:  # from the gathered (pop,) step counts: replicated, layout-free
      new_state = new_state.replace(cutoff=cutoff.update(state.cutoff, steps))
      metrics = metrics.replace(episode_cutoff=state.cutoff)
    return new_state, metrics

  return generation


def _chunked(evaluate_chunk):
  """``(state, gen_key, members (chunks, chunk)) -> (returns, steps, obs sums)``, one chunk
  after the other, each running until its last episode ends."""
  return lambda state, gen_key, members: jax.lax.map(
      lambda m: evaluate_chunk(state, gen_key, m), members)


def _member_keys(strategy: Strategy, gen_key, members):
  return jax.vmap(
      lambda m: keys.rollout_key(gen_key, keys.noise_index(m, strategy.mirrored)))(members)


def _lane_evaluator(problem: Problem, strategy: Strategy, perturbation: Perturbation,
                    cutoff: AdaptiveCutoff | None, lane_widths: tuple[int, ...]):
  """``(state, gen_key, members (chunks, chunk)) -> (returns, steps, obs sums)`` as
  ``_chunked`` gives them, the episodes batched continuously in lanes (``core/lanes.py``):
  the start states are built per chunk, the sums taken per chunk over the members' results."""

  def evaluate_slice(state: TrainState, gen_key, members):
    episode = problem.episode(state.normalizer, None if cutoff is None else state.cutoff)

    def start(m):
      candidates = strategy_lib.ask(strategy, state.es, gen_key, m, perturbation)
      return jax.vmap(episode.start)(candidates, _member_keys(strategy, gen_key, m))

    starts = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), jax.lax.map(start, members))
    ev = lanes_lib.run(episode, starts, lane_widths)
    per_chunk = jax.tree.map(lambda x: x.reshape(members.shape + x.shape[1:]), ev)
    chunk_stats = jax.lax.map(lambda s: jax.tree.map(lambda x: x.sum(0), s),
                              per_chunk.obs_stats)
    return per_chunk.ret, per_chunk.steps, chunk_stats

  return evaluate_slice


def _chunk_evaluator(problem: Problem, strategy: Strategy, perturbation: Perturbation,
                     cutoff: AdaptiveCutoff | None):
  """``(state, gen_key, members) -> (returns, steps, obs sums)`` of a chunk of members. The
  sums are taken here, over a chunk-shaped axis, so they are the same bits on any layout."""
  axes = perturbation.member_axes()  # low-rank: the shared mean plus each member's factors

  def evaluate_chunk(state: TrainState, gen_key, members):
    candidates = strategy_lib.ask(strategy, state.es, gen_key, members, perturbation)
    rollout_keys = _member_keys(strategy, gen_key, members)
    if cutoff is None:
      ev = jax.vmap(problem.evaluate, in_axes=(axes, None, 0))(candidates, state.normalizer,
                                                               rollout_keys)
    else:
      ev = jax.vmap(lambda p, k: problem.evaluate(p, state.normalizer, k, limit=state.cutoff),
                    in_axes=(axes, 0))(candidates, rollout_keys)
    return ev.ret, ev.steps, jax.tree.map(lambda x: x.sum(0), ev.obs_stats)

  return evaluate_chunk


def _teller(strategy: Strategy, comm: str, perturbation: Perturbation, noise_chunk: int,
            sizes: dict[str, int]):
  """``(es_state, gen_key, returns) -> (es_state, info)``: the update by ``comm``."""
  noise = dict(perturbation=perturbation, noise_chunk=noise_chunk)
  axes = comm_lib.split_axes(comm)
  if axes is None:
    return lambda es_state, gen_key, returns: strategy_lib.tell(strategy, es_state, gen_key,
                                                                returns, **noise)
  groups = {a: comm_lib.split_group(sizes[a]) for a in axes}
  shares = int(np.prod(list(groups.values())))

  def tell(es_state, gen_key, returns):
    share, active = _share(axes, sizes, groups)
    return strategy_lib.tell_split(strategy, es_state, gen_key, returns, share, shares,
                                   lambda m: _butterfly(m, axes, sizes, groups),
                                   active=active, **noise)

  return tell


def _share(axes, sizes, groups):
  """(this device's share of the rebuild, whether it has one): shares are numbered
  outer-major over each axis's split group; a device outside a group (an axis that is no power
  of two) has none and receives the root from the butterfly's end (``_butterfly``)."""
  share, active = 0, True  # Python values where no axis needs them: nothing to trace
  for axis in axes:
    index = jax.lax.axis_index(axis)
    if groups[axis] > 1:
      share = share * groups[axis] + jnp.minimum(index, groups[axis] - 1)
    if groups[axis] < sizes[axis]:
      active = (index < groups[axis]) & active
  return share, active


def _butterfly(moments, axes, sizes, groups):
  """The top levels of the update's pairwise tree, across the devices of ``axes``: round r
  adds the partial sums of the two shares whose index differs in bit r (inner axis first, as
  the share index is outer-major), so after log2(S) rounds of one parameter-sized exchange
  every device of the split groups holds the root. IEEE addition is commutative, so both
  partners hold the same bits; the association is the tree's on every layout, which a psum
  does not promise. Then each axis's devices past its group (index ``g + j``) take the root
  from device ``j``: a copy, the same bits."""
  for axis in reversed(axes):
    bit = 1
    while bit < groups[axis]:
      perm = [(j, j ^ bit) for j in range(groups[axis])]
      moments = tuple(m + jax.lax.ppermute(m, axis, perm) for m in moments)
      bit <<= 1
  for axis in axes:
    group, size = groups[axis], sizes[axis]
    if group < size:
      perm = [(j, group + j) for j in range(size - group)]
      outside = jax.lax.axis_index(axis) >= group
      moments = tuple(jnp.where(outside, jax.lax.ppermute(m, axis, perm), m) for m in moments)
  return moments


def _sum_in_order(chunk_stats):
  """Sum of (num_chunks, ...) per-chunk sums, chunk 0 first: a sequential scan, so the order
  of the float additions is the member order on every layout (a psum's is not)."""
  zero = jax.tree.map(lambda x: jnp.zeros_like(x[0]), chunk_stats)
  total, _ = jax.lax.scan(lambda acc, s: (jax.tree.map(jnp.add, acc, s), None), zero,
                          chunk_stats)
  return total


def _metrics(returns, steps, es, info) -> GenMetrics:
  """Metrics from the gathered (pop,) arrays every device holds in full: layout-free."""
  finite = jnp.isfinite(returns)
  safe = jnp.where(finite, returns, 0.0)
  count = jnp.maximum(finite.sum(), 1)
  mean = safe.sum() / count
  return GenMetrics(
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


def shard_generation(generation, mesh: Mesh, num_seeds: int = 1):
  """``shard_map`` the per-device body over ``mesh``; vmap it over seeds when more than one.

  The state goes in and out replicated (``P()``): after the collectives every device holds
  the same values, which is what lets the update stay replicated without sending params.
  """
  body = jax.vmap(generation) if num_seeds > 1 else generation
  # check_vma off: the all-gathered returns are equal on every device, but the type system
  # cannot see that, and we want the replicated out_spec.
  return _without_empty_operands(
      lambda b: jax.shard_map(b, mesh=mesh, in_specs=P(), out_specs=P(), check_vma=False),
      body)


def _is_empty(x) -> bool:
  return 0 in np.shape(x)


def _without_empty_operands(shard, body):
  """``shard(body)`` with no zero-element array crossing the shard_map boundary.

  jaxlib 0.11.2's XLA CPU compile segfaults (Shardy's ManualComputationUnusedInputsPattern)
  when a shard_map over 2+ devices has a zero-element operand: an argument, a result, or a
  constant the body captures, which JAX hoists into an operand (benchmarks/
  jax_cpu_crash_repro.py). esjax's step has all three: a black-box problem's (0,) normalizer
  and obs stats, Brax's System (zero-row arrays for joint kinds a model lacks), and the (0,)
  scatter index of ``x.at[:n].set(y)``. An empty array holds no values, so each is rebuilt
  where it is needed: inside the body, ``jnp.zeros`` of its shape (an op, not an operand) for
  an empty argument or captured constant; outside, for an empty result. The body's other
  operations are replayed unchanged from its jaxpr, so the compiled arithmetic, and the
  bits, are the same as ``shard(body)``'s.
  """

  def run(*args):
    flat, in_tree = jax.tree.flatten(args)
    empty_in = [_is_empty(x) for x in flat]
    shapes = [jax.ShapeDtypeStruct(np.shape(x), jnp.result_type(x)) for x in flat]
    out_info = {}

    def inner(*kept):
      it = iter(kept)
      full = [jnp.zeros(s.shape, s.dtype) if e else next(it) for s, e in zip(shapes, empty_in)]
      closed, out_shape = jax.make_jaxpr(
          lambda *a: body(*jax.tree.unflatten(in_tree, a)), return_shape=True)(*full)
      consts = [jnp.zeros(np.shape(c), jnp.result_type(c)) if _is_empty(c) else c
                for c in closed.consts]
      out = jex_core.jaxpr_as_fun(jex_core.ClosedJaxpr(closed.jaxpr, consts))(*full)
      out_shapes, out_info["tree"] = jax.tree.flatten(out_shape)
      out_info["shapes"] = out_shapes
      return [o for o, s in zip(out, out_shapes) if not _is_empty(s)]

    kept_out = iter(shard(inner)(*(x for x, e in zip(flat, empty_in) if not e)))
    out = [jnp.zeros(s.shape, s.dtype) if _is_empty(s) else next(kept_out)
           for s in out_info["shapes"]]
    return jax.tree.unflatten(out_info["tree"], out)

  return run


def make_multi_step(sharded_generation, max_generations: int, env_steps: int | None = None):
  """``run(state, n) -> (state, metrics[max_generations], ran)``: up to ``n <= max_generations``
  generations in one compiled call (a ``while_loop``; ``n`` is traced, so any count up to the
  maximum reuses one compilation).

  With an env-step budget ``env_steps``, a generation runs only while the state's counter is
  below it, so the call stops at the generation that reaches the budget, as one-at-a-time calls
  would: the state, its checkpoint and the records agree whatever ``generations_per_call`` is.
  With several seeds (a leading seed axis) each seed stops at its own budget: a seed that has
  reached it keeps its state (a select) while the others go on, and the loop ends when all
  have, or after ``n``. ``ran`` is the number of generations each seed ran in this call (()
  int32, or (num_seeds,)): a seed's rows of the metrics buffer are its first ``ran`` rows; the
  rest are zeros or, for a seed that stopped early, the discarded generations' values.
  """

  # Jitted so the shape query below and the loop's body share one trace of the generation.
  sharded_generation = jax.jit(sharded_generation)

  def run(state: TrainState, n):
    _, shape = jax.eval_shape(sharded_generation, state)
    buf = jax.tree.map(lambda s: jnp.zeros((max_generations,) + s.shape, s.dtype), shape)
    seeds_shape = state.generation.shape  # () or (num_seeds,)
    chex.assert_shape(state.env_steps, seeds_shape + (2,))
    chex.assert_shape(shape.gen_env_steps, seeds_shape)

    def active(st):
      if env_steps is None:  # no budget: decided at trace time, nothing in the loop
        return jnp.ones(seeds_shape, bool)
      return ~steps_reached(st.env_steps, env_steps)

    def cond(carry):
      i, st, _, _ = carry
      return (i < n) & jnp.any(active(st))

    def body(carry):
      i, st, b, ran = carry
      go = active(st)
      new, m = sharded_generation(st)
      new = new.replace(env_steps=steps_add(st.env_steps, m.gen_env_steps))
      if env_steps is not None and go.ndim:  # seeds: one at its budget stays where it is
        new = jax.tree.map(
            lambda a, o: jnp.where(go.reshape(go.shape + (1,) * (a.ndim - go.ndim)), a, o),
            new, st)
      b = jax.tree.map(lambda bb, x: bb.at[i].set(x), b, m)
      return i + 1, new, b, ran + go.astype(jnp.int32)

    init = (jnp.zeros((), jnp.int32), state, buf, jnp.zeros(seeds_shape, jnp.int32))
    _, state, buf, ran = jax.lax.while_loop(cond, body, init)
    return state, buf, ran

  return AtMost(jax.jit(run, donate_argnums=0), max_generations)


class AtMost:
  """A compiled ``run(state, n)`` that refuses ``n`` past its metrics buffer: inside, rows past
  it would be dropped without a word (an out-of-bounds scatter). Everything else (``lower``,
  the cache) is the jitted function's."""

  def __init__(self, fn, max_generations: int):
    self._fn, self.max_generations = fn, max_generations

  def __call__(self, state, n):
    if isinstance(n, (int, np.integer)) and not 0 <= n <= self.max_generations:
      raise ValueError(f"run_generations(state, n={n}): n must be 0..{self.max_generations}, "
                       "the generations_per_call this step was built for")
    return self._fn(state, n)

  def __getattr__(self, name):
    return getattr(self._fn, name)


def fuse(step, max_generations: int):
  """``run(carry, n) -> (carry, metrics[max_generations])``: ``n <= max_generations`` calls of
  ``step(carry) -> (carry, metrics)`` in one compiled call (a ``fori_loop``, ``n`` traced, so
  any count reuses one compilation); rows past ``n`` are zeros. For steps that carry more than
  a TrainState (``training/optimize.py`` tracks the best member) and need no env-step budget."""

  step = jax.jit(step)  # one trace for the shape query and the loop body, as make_multi_step

  def run(carry, n):
    _, shape = jax.eval_shape(step, carry)
    buf = jax.tree.map(lambda s: jnp.zeros((max_generations,) + s.shape, s.dtype), shape)

    def body(i, c):
      c, b = c
      c, m = step(c)
      return c, jax.tree.map(lambda bb, x: bb.at[i].set(x), b, m)

    return jax.lax.fori_loop(0, n, body, (carry, buf))

  return AtMost(jax.jit(run, donate_argnums=0), max_generations)


def make_evaluate(problem: Problem, episodes: int, num_seeds: int = 1):
  """Mean return of the unperturbed policy over ``episodes`` episodes: ``(state) -> (mean, std)``."""

  def evaluate(state: TrainState):
    episode_keys = jax.random.split(keys.eval_key(state.key, state.generation), episodes)
    ev = jax.vmap(problem.evaluate, in_axes=(None, None, 0))(state.es.mean, state.normalizer,
                                                              episode_keys)
    return ev.ret.mean(), ev.ret.std()

  return jax.jit(jax.vmap(evaluate) if num_seeds > 1 else evaluate)
