"""Continuous batching of episodes: a device's members run through a fixed number of lanes.

A chunk of vmapped episodes costs its longest episode times its width: members that fell keep
their lane until the last one ends, and early in training most lanes are dead most of the loop.
Here a device's slice is a queue. ``lanes`` episodes are stepped side by side; a lane whose
member ends writes the member's result at the member's index and takes the next member, whose
start state (env reset, params, VBN statistics) was built with the others before the loop.
When no member is left to start, the survivors are compacted into narrower lanes (seven
eighths, three quarters, then halving down to two lanes) so a few long episodes do not drag a
full-width step.

Results are meant to be the same bits as the chunked loop: a member's episode is its own start,
steps and finish whatever lane, neighbours or width run it, and each member's result lands at
its own index, so the per-chunk sums taken afterwards add the same numbers in the same order.
That rests on XLA CPU computing a vmapped episode lane by lane, which it does not for a batch
of one (``widths``: no width is 1), nor when it hands a wide step's dots to the YNNPACK
library (esjax/xla_env.py turns that off). It holds on hopper (the pinned default run, on 1,
2 and 4 devices; pop 16; pop 1024), walker2d and ant (tests/core/test_lanes.py, `==`).
Everything is static-shaped: one ``while_loop`` per width, inside the one compiled generation.
"""
from __future__ import annotations

import dataclasses
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp

from esjax.problems.base import Episode


@flax.struct.dataclass
class _Lanes:
  state: Any  # (width, ...) the lanes' episode states
  member: jnp.ndarray  # (width,) int32 index into the slice; the slice's size when empty
  next: jnp.ndarray  # () int32: the first member not started yet
  out: Any  # (local, ...) Evaluation: each member's result, written when its episode ends


# The default narrowings: 128 lanes narrow to 112, 96, 48, 24, 12, 6, 3 and 2. Early in training
# the two narrowest widths replayed at 0.67 of bare physics against 0.65 without them
# (benchmarks/results/lane_schedule.md, hopper, Intel Xeon, 2026-12-05); each costs one more
# compiled copy of the step.
NARROWINGS = 8


def widths(lanes: int, local: int, narrowings: int = NARROWINGS) -> tuple[int, ...]:
  """The lane widths, widest first: ``lanes`` (at most the slice), then ``narrowings``
  narrower ones down to two lanes: seven eighths and three quarters of the
  lanes, then halving. Each width is one more compiled copy of the step.

  Why two fine steps at the top: late in training most members run to the episode's end (on
  hopper at generations 61-66 the mean episode is 835 of 1000: live_steps.md), so when the
  last member has started the survivors usually number most of the lanes, more than three
  quarters of them: a ladder starting at three quarters would step every lane until the
  episodes' end. Early in training the last episodes end spread
  out, and halving down to a few lanes keeps the copies few while the longest episode's tail
  runs narrow. A narrow step costs more per lane (on CPU, about twice as much at 8 lanes as at
  128 and four times at 2 or 3: benchmarks/results/lane_schedule.md), but far less in all.

  Why never one lane (unless ``lanes`` or the slice is one): XLA compiles a batch of one as
  another program. With the batch axis of size one dropped, its algebraic simplifier rewrites
  most of the step's dots (the policy's and the physics') into multiplies and reductions that
  add in another order: on hopper a 1-lane step keeps 15 dots where a 2-lane step has 53, and
  a 1-lane tail moved a 1000-step episode's return at pop 16 (docs/reproducibility.md). From
  2 lanes up the dots stay batched, and every width tried (2 to 16) gave the chunked loop's
  bits. The halving stops at 2.
  """
  w = [max(1, min(lanes, local))]
  for fine in (w[0] * 7 // 8, w[0] * 3 // 4):
    if len(w) <= narrowings and 2 <= fine < w[-1]:
      w.append(fine)
  while len(w) <= narrowings and w[-1] > 2:
    w.append(max(2, w[-1] // 2))
  return tuple(w)


def default_lanes(local: int, backend: str) -> int:
  """The lanes ``lanes=None`` means for a per-device slice of ``local`` members: on CPU at most
  128, on GPU/TPU the whole slice (width is what keeps an accelerator busy). A CPU step of 128
  lanes costs less per lane than one of 64 (benchmarks/results/lane_widths.md), and late in
  training a queue's second members start when its first end and run narrow after them. At
  pop 256 on 2 devices the whole slice of 128 and a queue of 64 over it were level early in
  training and the whole slice ahead late (live_steps.md: lanes against queue_64). On one
  H200 the whole slice ran humanoid slower than the chunked loop, in other bits
  (live_steps_gpu.md): a GPU's step costs about the same at any width."""
  return min(local, 128) if backend == "cpu" else local


def _take(tree, index):
  return jax.tree.map(lambda x: x[index], tree)


def _advance(episode: Episode, starts, q: _Lanes, local: int, refill: bool) -> _Lanes:
  """One step of every live lane; ended members written out, their lanes refilled."""
  # Every lane is stepped, with no select per lane (the batching rule of a vmapped
  # while_loop has one): a held lane is always running, since a member that ends is written
  # out in the step it ends and a start state is running (``Episode``), and what a lane that
  # holds no member computes is never read. A select per lane cost 3-4 % of a bare step
  # at 128 lanes, most of what the rest of the lanes' bookkeeping costs (the "lane select" and
  # "lanes step" rows of benchmarks/results/lane_widths.md).
  held = q.member < local
  state = jax.vmap(episode.step)(q.state)
  ended = held & ~jax.vmap(episode.running)(state)
  return _retire(q.replace(state=state), ended, episode, starts, local, refill)


def _retire(q: _Lanes, ended, episode: Episode, starts, local: int, refill: bool) -> _Lanes:
  """The ``ended`` lanes' members written out at their indices, in lane order; with ``refill``
  each such lane takes the next member's start state.

  One lane at a time: most steps end no episode, and a step that ends some usually ends one
  or two, so copying those lanes' states (params included) costs far less than gathering and
  selecting every lane's state (measured: benchmarks/results/lane_widths.md)."""

  def one(carry):
    q, ended = carry
    lane = jnp.argmax(ended)
    member = q.member[lane]
    result = episode.finish(_take(q.state, lane))
    out = jax.tree.map(lambda buf, x: buf.at[member].set(x), q.out, result)
    q = q.replace(out=out, member=q.member.at[lane].set(local))
    # Past the queue (every narrower width) nothing is left to start: the lane is emptied and
    # its state, never read again, left as it is, so those widths carry no start-state copy.
    return (_refill(q, lane, starts, local) if refill else q), ended.at[lane].set(False)

  return jax.lax.while_loop(lambda c: c[1].any(), one, (q, ended))[0]


def _refill(q: _Lanes, lane, starts, local: int) -> _Lanes:
  """``lane`` takes the next member's start state, if a member is left to start."""
  take = q.next < local
  nxt = jnp.minimum(q.next, local - 1)
  state = jax.tree.map(lambda s, x: s.at[lane].set(jnp.where(take, x, s[lane])), q.state,
                       _take(starts, nxt))
  return q.replace(state=state, member=q.member.at[lane].set(jnp.where(take, q.next, local)),
                   next=q.next + take.astype(jnp.int32))


def _compact(q: _Lanes, local: int, width: int) -> _Lanes:
  """The lanes that still hold a member, first ``width`` of them (the rest hold none)."""
  order = jnp.argsort(q.member >= local, stable=True)[:width]
  return q.replace(state=_take(q.state, order), member=q.member[order])


def run(episode: Episode, starts, lane_widths: tuple[int, ...]):
  """Every member's ``Evaluation`` ((local,) leading axis, member order) from their start
  states ``starts`` ((local, ...)), stepped in lanes of ``lane_widths`` (``widths``)."""
  local = jax.tree.leaves(starts)[0].shape[0]
  lane_widths = tuple(dict.fromkeys(min(w, local) for w in lane_widths))  # none past the slice
  # Each width vmaps the same three functions: jitted, they are traced once for all widths
  # (a width costs a batching pass over their jaxprs, not another trace of the env's Python).
  episode = dataclasses.replace(episode, step=jax.jit(episode.step),
                                running=jax.jit(episode.running), finish=jax.jit(episode.finish))
  first = lane_widths[0]
  shape = jax.eval_shape(jax.vmap(episode.finish), starts)
  out = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shape)
  # A static slice, not a gather: with the whole slice in lanes it is no copy at all.
  q = _Lanes(jax.tree.map(lambda x: x[:first], starts), jnp.arange(first, dtype=jnp.int32),
             jnp.asarray(first, jnp.int32), out)
  for i, width in enumerate(lane_widths):
    if i:
      q = _compact(q, local, width)
    below = lane_widths[i + 1] if i + 1 < len(lane_widths) else 0

    def more(q, below=below):  # members left to start, or more running than the next width
      return (q.next < local) | ((q.member < local).sum() > below)

    q = jax.lax.while_loop(more, lambda q, i=i: _advance(episode, starts, q, local, i == 0), q)
  return q.out
