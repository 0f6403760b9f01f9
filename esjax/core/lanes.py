"""Continuous batching of episodes: a device's members run through a fixed number of lanes.

A chunk of vmapped episodes costs its longest episode times its width: members that fell keep
their lane until the last one ends, and early in training most lanes are dead most of the loop.
Here a device's slice is a queue. ``lanes`` episodes are stepped side by side; a lane whose
member ends writes the member's result at the member's index and takes the next member, whose
start state (env reset, params, VBN statistics) was built with the others before the loop.
When no member is left to start, the survivors are compacted into narrower lanes (halving, a
few times) so a few long episodes do not drag a full-width step.

Results are the same bits as the chunked loop: a member's episode is its own start, steps and
finish whatever lane, neighbours or width run it (XLA CPU computes a vmapped episode lane by
lane; measured at widths 8 to 128, in any order), and each member's result lands at its own
index, so the per-chunk sums taken afterwards add the same numbers in the same order.
Everything is static-shaped: one ``while_loop`` per width, inside the one compiled generation.
"""
from __future__ import annotations

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


def widths(lanes: int, local: int, halvings: int) -> tuple[int, ...]:
  """The lane widths, widest first: ``lanes`` (at most the slice), halved ``halvings`` times
  while that leaves at least one lane. Each width is one more compiled copy of the step."""
  w = [max(1, min(lanes, local))]
  while len(w) <= halvings and w[-1] // 2 >= 1:
    w.append(w[-1] // 2)
  return tuple(w)


def _where(mask, new, old):
  return jax.tree.map(
      lambda n, o: jnp.where(mask.reshape(mask.shape + (1,) * (n.ndim - 1)), n, o), new, old)


def _take(tree, index):
  return jax.tree.map(lambda x: x[index], tree)


def _advance(episode: Episode, starts, q: _Lanes, local: int, refill: bool) -> _Lanes:
  """One step of every live lane; ended members written out, their lanes refilled."""
  held = q.member < local
  live = held & jax.vmap(episode.running)(q.state)
  # A select per lane, as the batching rule of a vmapped while_loop does: an ended member's
  # state stays as its last step left it.
  state = _where(live, jax.vmap(episode.step)(q.state), q.state)
  ended = held & ~jax.vmap(episode.running)(state)
  # Most steps end no episode (64 lanes of 800-step episodes: one step in 13 ends one), and the
  # write-out and refill gather and select whole lane states: only on the steps that need them.
  # Where none ended they would change nothing, so the bits are the same either way.
  return jax.lax.cond(ended.any(), lambda q: _retire(q, ended, episode, starts, local, refill),
                      lambda q: q, q.replace(state=state))


def _retire(q: _Lanes, ended, episode: Episode, starts, local: int, refill: bool) -> _Lanes:
  """The ``ended`` lanes' members written out at their indices; with ``refill`` their lanes
  take the next members' start states."""
  slot = jnp.where(ended, q.member, local)  # out of bounds: dropped
  out = jax.tree.map(lambda buf, x: buf.at[slot].set(x, mode="drop"), q.out,
                     jax.vmap(episode.finish)(q.state))
  state, member, nxt = q.state, jnp.where(ended, local, q.member), q.next
  if refill:
    cand = q.next + jnp.cumsum(ended.astype(jnp.int32)) - 1
    take = ended & (cand < local)
    state = _where(take, _take(starts, jnp.minimum(cand, local - 1)), state)
    member = jnp.where(take, cand, member)
    nxt = jnp.minimum(q.next + ended.sum(dtype=jnp.int32), local)
  return _Lanes(state, member, nxt, out)


def _compact(q: _Lanes, local: int, width: int) -> _Lanes:
  """The lanes that still hold a member, first ``width`` of them (the rest hold none)."""
  order = jnp.argsort(q.member >= local, stable=True)[:width]
  return q.replace(state=_take(q.state, order), member=q.member[order])


def run(episode: Episode, starts, lane_widths: tuple[int, ...]):
  """Every member's ``Evaluation`` ((local,) leading axis, member order) from their start
  states ``starts`` ((local, ...)), stepped in lanes of ``lane_widths`` (``widths``)."""
  local = jax.tree.leaves(starts)[0].shape[0]
  lane_widths = tuple(dict.fromkeys(min(w, local) for w in lane_widths))  # none past the slice
  first = lane_widths[0]
  shape = jax.eval_shape(jax.vmap(episode.finish), starts)
  out = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shape)
  q = _Lanes(_take(starts, jnp.arange(first)), jnp.arange(first, dtype=jnp.int32),
             jnp.asarray(first, jnp.int32), out)
  for i, width in enumerate(lane_widths):
    if i:
      q = _compact(q, local, width)
    below = lane_widths[i + 1] if i + 1 < len(lane_widths) else 0

    def more(q, below=below):  # members left to start, or more running than the next width
      return (q.next < local) | ((q.member < local).sum() > below)

    q = jax.lax.while_loop(more, lambda q, i=i: _advance(episode, starts, q, local, i == 0), q)
  return q.out
