"""Who rebuilds the update's noise, per mesh axis: the ``--comm`` modes and ``auto``'s choice.

Every mode all-gathers the population's returns over both mesh axes (core/step.py); they
differ in the update. ``returns``: every device rebuilds all ``n x P`` noise values, chunk after
chunk. ``hierarchical``: the devices of a host split the rebuild and exchange parameter-sized
partial sums over the inner (fast) link only. ``gradient``: all devices split it, and the
partial sums also cross the outer (slow) link. The split modes add their partial sums as one
fixed tree (perturbations/tree.py), so they give the same bits as each other on every layout,
and differ from ``returns`` in the last bits. The tree splits into power-of-two shares only, so
on an axis of any other size (45 hosts, an 18-core host) its largest power-of-two group of
devices rebuilds and the rest receive the result in one more exchange (``split_group``).

``auto`` keeps that promise too: whether the update is split at all (the tree's bits, or
``returns``') is decided by the config alone (the update's size, ``SPLIT_FROM``), never by the
layout or the machine; only where the split happens (which axes) is chosen per layout, from a
cost model: the bytes each axis would carry (the same counts the compiled step's HLO shows,
tests/core/test_hlo_traffic.py), the link bandwidth of each axis (platform defaults, or
``--link-gbps``) and the measured time to rebuild one noise value on this device.
"""
from __future__ import annotations

import dataclasses
import math
import time

import jax
import jax.numpy as jnp
import numpy as np

from esjax import keys
from esjax.errors import ConfigError
from esjax.perturbations import tree
from esjax.perturbations.gaussian import moments_from_keys

# An update that rebuilds fewer noise values than this (n directions x P params) is kept whole
# on every device (``returns``): about 20 ms on one CPU core, too little to be worth results
# that differ in the last bits from the default's. The default run (hopper, pop 256, 1.5k
# params: 0.2M values) stays far below it, so its pinned params do not move.
SPLIT_FROM = 1 << 22

# Link bandwidths in Gbit/s (between hosts, within a host) when --link-gbps is not given:
# CPU hosts on 10 Gb Ethernet (the setting of Salimans et al. 2017) with shared memory inside;
# GPU hosts on 100 Gb InfiniBand/RoCE with NVLink inside; TPU slices on the data-center
# network with ICI inside. Per-exchange latency in seconds, the same order of magnitude.
DEFAULT_GBPS = {"cpu": (10.0, 200.0), "gpu": (100.0, 3600.0), "tpu": (100.0, 3600.0)}
LATENCY_S = (50e-6, 5e-6)

MODES = ("returns", "gradient", "hierarchical")


@dataclasses.dataclass(frozen=True)
class Choice:
  mode: str  # "returns", "gradient", "hierarchical", or "tree" (split modes' bits, no split)
  reason: str  # one line for the pre-run summary


def split_axes(mode: str) -> tuple[str, ...] | None:
  """The mesh axes ``mode`` splits the rebuild over; None: not split (``returns``)."""
  from esjax.core.mesh import INNER, OUTER  # pylint: disable=g-import-not-at-top
  return {"returns": None, "tree": (), "hierarchical": (INNER,),
          "gradient": (OUTER, INNER)}[mode]


def split_group(size: int) -> int:
  """How many devices of a mesh axis of ``size`` rebuild a share: the largest power of two in
  it (the fixed tree splits into power-of-two shares only); the others receive the result."""
  return 1 << (size.bit_length() - 1)


def shares(mode: str, layout: tuple[int, int]) -> int:
  """How many devices split the rebuild: 1 for returns and tree."""
  hosts, local = map(split_group, layout)
  return {"returns": 1, "tree": 1, "hierarchical": local, "gradient": hosts * local}[mode]


def rounds(mode: str, layout: tuple[int, int]) -> tuple[int, int]:
  """(outer, inner) exchanges of a parameter-sized vector: log2 of the axis's split group
  (the butterfly), plus one where the axis has devices outside that group (they receive)."""
  def axis(size, split):
    group = split_group(size)
    return (group.bit_length() - 1 + (group < size)) if split else 0
  return (axis(layout[0], mode == "gradient"),
          axis(layout[1], mode in ("hierarchical", "gradient")))


def axis_bytes(mode: str, layout: tuple[int, int], num_params: int,
               moments: int) -> tuple[int, int]:
  """(outer, inner) payload bytes per generation of ``mode``'s update exchange, on top of the
  returns and step counts every mode gathers: one parameter-sized vector per moment and per
  round (``rounds``). What the compiled step's HLO shows (tests/core/test_hlo_traffic.py)."""
  vec = 4 * num_params * moments
  outer, inner = rounds(mode, layout)
  return outer * vec, inner * vec


def check(mode: str, layout: tuple[int, int], num_directions: int) -> None:
  """ConfigError (one line) when ``mode`` cannot split over this layout in the fixed tree."""
  n = shares(mode, layout)
  most = tree.max_split(num_directions)
  if n > most:
    raise ConfigError(f"comm={mode!r} splits the update into {n} shares on {layout[0]} hosts "
                      f"x {layout[1]} devices, more than the {most} leaves of the fixed "
                      f"summation tree of {num_directions} directions; expected a larger "
                      "population, fewer devices, or --comm returns or auto")


def noise_seconds(num_params: int) -> float:
  """Measured seconds to rebuild one noise value (and weigh it into a moment) on the default
  device: a 64-direction chunk of up to 65,536 params, the best of three timed calls. With
  several processes, process 0's measurement, so every process picks the same mode (and so
  compiles the same collectives)."""
  p = min(num_params, 1 << 16)
  f = jax.jit(lambda k, w: moments_from_keys(k, (w,), (1,), p, 64))
  key, w = keys.generation_key(jax.random.PRNGKey(0), 0), jnp.ones(64)
  jax.block_until_ready(f(key, w))
  best = math.inf
  for _ in range(3):
    t = time.perf_counter()
    jax.block_until_ready(f(key, w))
    best = min(best, time.perf_counter() - t)
  seconds = best / (64 * p)
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    seconds = float(multihost_utils.broadcast_one_to_all(np.float32(seconds)))
  return seconds


def predicted_seconds(mode: str, layout: tuple[int, int], num_directions: int,
                      num_params: int, moments: int, noise_s: float,
                      gbps: tuple[float, float]) -> tuple[float, float]:
  """(rebuild, exchange) seconds of ``mode``'s update per generation: the rebuild on one
  device of its share, and the exchange rounds over each link (bandwidth and latency)."""
  # The tree's padding to a power of two is skipped a block at a time: at most one block of
  # waste, left out of the model.
  rebuild = num_directions * num_params * noise_s / shares(mode, layout)
  exchange = sum(8 * b / (g * 1e9) + r * lat
                 for b, r, g, lat in zip(axis_bytes(mode, layout, num_params, moments),
                                         rounds(mode, layout), gbps, LATENCY_S))
  return rebuild, exchange


def choose(requested: str, layout: tuple[int, int], num_directions: int, num_params: int,
           moments: int, backend: str,
           gbps: tuple[float, float] | None = None, noise_s=None,
           splits: bool = True) -> Choice:
  """The mode a run uses, and one line saying why. ``noise_s``: seconds per noise value
  (default: measured here, only when the choice depends on it); ``splits``: the
  perturbation's ``splits_update`` (False: auto keeps the update whole)."""
  if requested != "auto":
    if requested != "returns":
      check(requested, layout, num_directions)
    return Choice(requested, f"comm: {requested} (as asked)")
  if not splits:
    return Choice("returns", "comm: auto -> returns: low-rank noise is rebuilt chunk by chunk "
                  "as matmuls; the split modes' tree would form each direction's dense noise")
  values = num_directions * num_params
  if values < SPLIT_FROM:
    return Choice("returns", f"comm: auto -> returns: the update rebuilds {_count(values)} "
                  f"noise values, under the {_count(SPLIT_FROM)} worth splitting")
  gbps = tuple(gbps or DEFAULT_GBPS.get(backend, DEFAULT_GBPS["cpu"]))
  noise_s = noise_s if noise_s is not None else noise_seconds(num_params)
  cost = {}
  for mode in ("tree", "hierarchical", "gradient"):
    try:
      check(mode, layout, num_directions)
    except ConfigError:
      continue
    cost[mode] = predicted_seconds(mode, layout, num_directions, num_params, moments,
                                   noise_s, gbps)
  order = list(cost)  # on a tie, the mode that splits over fewer links
  best = min(cost, key=lambda m: (sum(cost[m]), order.index(m)))
  whole = num_directions * num_params * noise_s
  rebuild, exchange = cost[best]
  others = "; ".join(f"{m} {sum(c):.3g} s" for m, c in cost.items() if m != best)
  return Choice(best, f"comm: auto -> {best} ({layout[0]} hosts x {layout[1]} devices at "
                f"{gbps[0]:g}/{gbps[1]:g} Gb/s): the update rebuilds {_count(values)} noise "
                f"values, {whole:.3g} s whole at {noise_s * 1e9:.3g} ns each (measured), "
                f"{rebuild:.3g} s split + {exchange:.3g} s exchange"
                + (f"; {others}" if others else ""))


def _count(n: int) -> str:
  return f"{n / 1e6:.1f}M" if n >= 1e5 else f"{n:,}"
