"""Which lane widths: the lanes' loop (``esjax/core/lanes.py``) replayed on the episodes that
``live_steps.py`` times and a measured cost per width, predicting live steps / bare physics per
schedule.

Timing a schedule for real costs one compile per width and minutes per phase, and this
machine's speed drifts between rounds by more than schedules differ (live_steps.md,
rounds_wall_s). The replay separates what a schedule decides (which width each step of the
generation runs at) from the machine's noise:
  * lengths: every member's episode length in the generations live_steps.md times (the
    default run, lanes off: generations 2-7, and 61-66 after training to generation 60),
    each from the state before its generation and checked against the generation's env-step
    count, in the devices' slices (the first device's members first);
  * cost: a bare physics step at each width (``live_steps.bare_physics``: every device steps
    that many envs at once, random actions) on the devices esjax uses by default, 300 steps,
    each timing paired with one of the widest right before it (``costs``);
  * replay: the loop step by step on each device's slice: a queue over the slice through the
    first width, then compaction to each narrower width once the members still running fit
    in it. A device's cost is the sum over its steps of the step's cost at that width, and a
    generation waits for its slowest device.
Predicted /bare = the phase's live steps at the bare rate (cost(slice) per slice's worth of
steps on every device at once) over the replayed cost; the steps' work around the physics is
left out (lane_widths.md: at 128 lanes the episode step costs what bare physics does). Two
rows are bounds, not settings: the default ladder with the devices sharing their tails
(``replay`` over all devices at once: what moving survivors between devices could give,
the collectives left out), and every measured width (one compiled copy each): what more
widths could give.

    python -m benchmarks.lane_schedule                # ~15 min on 2 cores
"""
from __future__ import annotations

import argparse
import functools
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common
from benchmarks.live_steps import PHASE_GENS, bare_physics
import esjax
from esjax import keys
from esjax.core import lanes as lanes_lib
from esjax.core.mesh import to_host
from esjax.strategies import base as strategy_lib
from esjax.training import setup as setup_lib

# Widths timed besides the schedules' own, for the every-width row.
MORE_WIDTHS = (80, 40, 32, 20, 16, 10, 8, 7, 5, 4, 2)
COST_STEPS = 300
COST_ROUNDS = 5
SHARED = "tails shared across devices (a bound)"


def replay(gen: np.ndarray, lane_widths: Sequence[int], cost: Callable[[int], float]):
  """``(cost, steps)`` of the lanes' loop as ``lanes.run`` runs it over ``gen`` ((devices,
  slice) episode lengths, each at least 1) stepped in lockstep: each device queues its own
  slice through the first width, then all narrow to the next width once the members running
  on all devices fit it on each, the survivors dealt out evenly over the devices. On one
  device that is ``lanes.run``'s loop; on several it is a bound for devices sharing their
  tails (the collectives that would agree each step's width and move the members' states
  between devices are left out)."""
  devices, local = gen.shape
  ws = list(dict.fromkeys(min(w, local) for w in lane_widths))
  left = np.asarray(gen[:, :ws[0]], np.int64).copy()  # steps left per lane; 0 = no member
  nxt, total, steps = np.full(devices, ws[0]), 0.0, 0
  for i, width in enumerate(ws):
    if i:  # the lanes still holding a member first
      alive = left[left > 0]
      left = np.zeros((devices, width), np.int64)
      left[np.arange(len(alive)) % devices, np.arange(len(alive)) // devices] = alive
    below = ws[i + 1] if i + 1 < len(ws) else 0
    while (nxt < local).any() or (left > 0).sum() > devices * below:
      total += cost(width)
      steps += 1
      held = left > 0
      left = np.where(held, left - 1, 0)
      for d, lane in zip(*np.nonzero(held & (left == 0))):
        if i == 0 and nxt[d] < local:  # the lane takes the device's next member
          left[d, lane], nxt[d] = gen[d, nxt[d]], nxt[d] + 1
  return total, steps


def predicted(phases: np.ndarray, lane_widths: Sequence[int], cost: Callable[[int], float],
              shared: bool = False):
  """Live steps / bare physics of ``phases`` ((generations, devices, slice) episode lengths):
  every device steps its slice at once and a generation waits for its slowest device (with
  ``shared``, the devices share their tails: ``replay`` of all devices at once); bare physics
  steps the whole slice on every device at ``cost(slice)`` per step."""
  _, devices, local = phases.shape
  if shared:
    wall = sum(replay(gen, lane_widths, cost)[0] for gen in phases)
  else:
    wall = sum(max(replay(gen[d:d + 1], lane_widths, cost)[0] for d in range(devices))
               for gen in phases)
  return float(phases.sum() * cost(local) / (local * devices) / wall)


def run_lengths(s: setup_lib.Setup, starts: Sequence[int]) -> dict[int, np.ndarray]:
  """``{start: (PHASE_GENS, devices, slice) episode lengths}``: every member's episode in the
  ``PHASE_GENS`` generations of the setup's run after generation ``start``."""
  pop, devices = s.strategy.population_size, s.mesh.size
  members = jnp.arange(pop)

  @jax.jit
  def lengths(state):  # the members as the step builds them (core/step.py)
    gen_key = keys.generation_key(state.key, state.generation)
    params = strategy_lib.ask(s.strategy, state.es, gen_key, members)
    rollout = jax.vmap(lambda m: keys.rollout_key(
        gen_key, keys.noise_index(m, s.strategy.mirrored)))(members)
    return jax.vmap(lambda p, k: s.problem.evaluate(p, state.normalizer, k).steps)(
        params, rollout)

  state, done, out = s.state, 0, {}
  for start in sorted(starts):
    for _ in range(start - done):  # one call per generation: the step fuses one
      state, _, _ = s.run_generations(state, 1)
    phase = []
    for _ in range(PHASE_GENS):
      steps = np.asarray(lengths(to_host(state)))
      state, buf, _ = s.run_generations(state, 1)
      counted = int(to_host(buf).gen_env_steps[0])
      if steps.sum() != counted:  # the replay must see the run's own episodes
        raise RuntimeError(f"members' steps sum to {steps.sum()}, the generation ran {counted}")
      phase.append(steps.reshape(devices, pop // devices))
    done = start + PHASE_GENS
    out[start] = np.stack(phase)
    common.log("after generation", start, "mean episode", out[start].mean())
  return out


def costs(config, mesh, lane_widths: Sequence[int]) -> dict[int, float]:
  """``{width: us}`` of a bare physics step of ``width`` envs on every device of ``mesh`` at
  once. The replay needs each width's cost relative to the widest (``predicted`` is a ratio),
  and this machine's speed drifts by a third within minutes, so each width is timed right
  after the widest (``common.paired``): a width's cost is the median of its paired ratios
  times the widest's time (the median over the widths of the median of its calls paired with
  each)."""
  widest = max(lane_widths)
  fns = {w: bare_physics(config, mesh, COST_STEPS, local=w) for w in lane_widths}
  key = jax.random.PRNGKey(0)
  got = common.paired({w: functools.partial(fns[w], key) for w in fns if w != widest},
                      functools.partial(fns[widest], key), COST_ROUNDS)
  us = float(np.median([g["ref_seconds"] for g in got.values()])) / COST_STEPS * 1e6
  return {widest: us, **{w: g["ratio"] * us for w, g in got.items()}}


FINE_TOP = "sixteenths to three quarters, then halving"


def fine_top(lanes: int) -> tuple[int, ...]:
  """A ladder not built: the lanes narrowed by sixteenths down to three quarters (late in
  training most members run to the end and fall one by one, so the survivors drift down from
  the whole width), then halved down to 2 lanes."""
  w = [lanes - lanes * i // 16 for i in range(5)]
  while w[-1] > 2:
    w.append(max(2, w[-1] // 2))
  return tuple(w)


def schedules(local: int) -> dict[str, tuple[int, ...]]:
  """The schedules compared: this tree's rule at a few narrowings, for the whole slice and a
  queue of half of it, the rule before it (three quarters first) at its default, and the
  whole slice on a ladder with sixteenths at the top (``fine_top``)."""
  out = {}
  for lanes in (local, local // 2):
    for n in (5, 6, 8):
      out[f"lanes={lanes}, {n} narrowings"] = lanes_lib.widths(lanes, local, n)
    w = [lanes, lanes * 3 // 4]
    while len(w) <= 5:
      w.append(w[-1] // 2)
    out[f"lanes={lanes}, three quarters first (before)"] = tuple(w)
  out[f"lanes={local}, {FINE_TOP}"] = fine_top(local)
  return out


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--env", default="hopper")
  p.add_argument("--late-at", type=int, default=60)
  p.add_argument("--population", type=int, default=256)
  p.add_argument("--name", default="lane_schedule")
  a = p.parse_args(argv)
  config = esjax.TrainConfig.of(env=a.env, eval_every=0, population_size=a.population)
  s = setup_lib.setup(config)
  lengths = run_lengths(s, (1, a.late_at))
  local = lengths[1].shape[2]
  plans = schedules(local)
  n = esjax.TrainConfig().runtime.lane_narrowings  # the default ladder
  plans[f"lanes={local}, {n} narrowings, {SHARED}"] = lanes_lib.widths(local, local, n)
  every = {w for ws in plans.values() for w in ws} | {w for w in MORE_WIDTHS if w < local}
  plans[f"every width timed (a bound, {len(every)} copies)"] = tuple(sorted(every, reverse=True))
  us = costs(config, s.mesh, sorted(every, reverse=True))
  common.log("us per step", us)
  rows = []
  for name, ws in plans.items():
    row = {"schedule": name, "widths": ", ".join(map(str, ws))}
    for phase, start in (("early", 1), ("late", a.late_at)):
      row[f"{phase} /bare"] = predicted(lengths[start], ws, us.__getitem__,
                                         name.endswith(SHARED))
      row[f"{phase} mean episode"] = float(lengths[start].mean())
    rows.append(row)
    common.log(row)
  # How many of a slice's members ran the phase's longest episode: the tail the narrowest
  # widths carry.
  full = {start: f"{int((x >= x.max()).sum(axis=2).max())} of {x.max()} steps"
          for start, x in lengths.items()}
  notes = [f"{a.env}, default config (lanes off), pop {a.population} on {s.mesh.size} "
           f"devices: early = generations 2-{1 + PHASE_GENS}, late = generations "
           f"{a.late_at + 1}-{a.late_at + PHASE_GENS}, the generations live_steps.md times; "
           f"at most {full[1]} early and {full[a.late_at]} late ran the phase's longest "
           "episode in one device's slice in one generation.",
           f"Cost per width: bare physics, every device stepping that many envs at once, "
           f"{COST_STEPS} steps; each width's time over the widest's timed right before it, the "
           f"median of {COST_ROUNDS} rounds, times the widest's median time (us per step: "
           + ", ".join(f"{w}: {v:.0f}" for w, v in sorted(us.items())) + ").",
           "A prediction from the replay of core/lanes.py's loop, not a timing: the work "
           "around the physics is left out; live_steps.md times the schedules lanes=128 and "
           f"lanes=64 at {esjax.TrainConfig().runtime.lane_narrowings} narrowings. Tails shared: every device steps at one width, narrowing "
           "when the members running on all devices fit the next width on each, the survivors "
           "dealt out evenly (the collectives this needs are not costed)."]
  common.write_results(a.name, f"Lane schedules replayed on the timed generations' episodes "
                       f"({a.env})", rows, notes,
                       columns=["schedule", "widths", "early /bare", "late /bare",
                                "early mean episode", "late mean episode"])


if __name__ == "__main__":
  main()
