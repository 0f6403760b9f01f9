"""Which lane widths: the lanes' loop (``esjax/core/lanes.py``) replayed on measured episode
lengths and a measured cost per width, predicting live steps / bare physics per schedule.

Timing a schedule for real costs one compile per width and minutes per phase, and this
machine's speed drifts between rounds by more than schedules differ (live_steps.md,
rounds_wall_s). The replay separates what a schedule decides (which width each step of the
generation runs at) from the machine's noise:
  * lengths: each member's episode length (steps) for a population drawn around the default
    run's mean after generation ``--early`` and ``--late`` (lanes off; antithetic pairs at the
    run's sigma, rollout keys of this script's own: the run's distribution of lengths, not its
    members), cut into device slices of ``--slice`` members;
  * cost: the bare physics step at each width the schedules use (``lane_widths.bare``: the env
    vmapped over W envs, random actions), one XLA CPU device, median of 3 calls;
  * replay: the loop step by step: a queue over the slice through the first width, then
    compaction to each narrower width once the members still running fit in it; its cost is
    the sum over steps of the step's cost at that width.
Predicted /bare = live steps x cost(slice)/slice over the replayed cost (the steps' work around
the physics is left out: lane_widths.md's "lanes step" row). Averaged over the slices.

    python -m benchmarks.lane_schedule                # ~8 min on 2 cores
"""
from __future__ import annotations

import argparse
import os
from typing import Callable, Sequence

os.environ.setdefault("ESJAX_CPU_DEVICES", "1")  # one device on one core, as lane_widths

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax.numpy as jnp  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position

from benchmarks import common  # pylint: disable=wrong-import-position
from benchmarks.lane_widths import bare  # pylint: disable=wrong-import-position
import esjax  # pylint: disable=wrong-import-position
from esjax.core import lanes as lanes_lib  # pylint: disable=wrong-import-position
from esjax.core.mesh import to_host  # pylint: disable=wrong-import-position
from esjax.problems import build as build_lib  # pylint: disable=wrong-import-position
from esjax.training import setup as setup_lib  # pylint: disable=wrong-import-position


def replay(lengths: np.ndarray, lane_widths: Sequence[int], cost: Callable[[int], float]):
  """``(cost, steps)`` of the lanes' loop over one slice whose members' episodes last
  ``lengths`` steps (each at least 1), in lanes of ``lane_widths`` as ``lanes.run`` runs them."""
  local = len(lengths)
  ws = list(dict.fromkeys(min(w, local) for w in lane_widths))
  member = np.arange(ws[0])
  left = np.asarray(lengths[:ws[0]]).copy()
  nxt, total, steps = ws[0], 0.0, 0
  for i, width in enumerate(ws):
    if i:  # the lanes still holding a member first, in lane order
      order = np.argsort(member >= local, kind="stable")[:width]
      member, left = member[order], left[order]
    below = ws[i + 1] if i + 1 < len(ws) else 0
    while nxt < local or (member < local).sum() > below:
      total += cost(width)
      steps += 1
      held = member < local
      left = np.where(held, left - 1, left)
      for lane in np.flatnonzero(held & (left == 0)):
        if i == 0 and nxt < local:
          member[lane], left[lane] = nxt, lengths[nxt]
          nxt += 1
        else:
          member[lane] = local
  return total, steps


def predicted(slices: np.ndarray, lane_widths: Sequence[int], cost: Callable[[int], float]):
  """Mean over ``slices`` ((n, slice) lengths) of live steps at the full width's cost per env
  step over the replayed cost."""
  local = slices.shape[1]
  per_env = cost(local) / local
  return float(np.mean([s.sum() * per_env / replay(s, lane_widths, cost)[0] for s in slices]))


def episode_lengths(config, at: Sequence[int], members: int) -> dict[int, np.ndarray]:
  """``{generation: (members,) episode lengths}`` around the mean after each generation in
  ``at`` of ``config``'s run."""
  s = setup_lib.setup(config)
  state, done, out = s.state, 0, {}
  for gen in sorted(at):
    state, _, _ = s.run_generations(state, gen - done)
    done = gen
    mean = jnp.asarray(to_host(state.es.mean))
    sigma = float(np.mean(np.asarray(to_host(state.es.sigma))))
    key = jax.random.fold_in(jax.random.PRNGKey(0), gen)
    eps = jax.random.normal(key, (members // 2,) + mean.shape)
    params = jnp.concatenate([mean + sigma * eps, mean - sigma * eps])
    norm = to_host(state.normalizer)
    ev = jax.jit(jax.vmap(lambda p, k: s.problem.evaluate(p, norm, k)))(
        params, jax.random.split(key, members))
    out[gen] = np.asarray(ev.steps)
    common.log("generation", gen, "mean episode", out[gen].mean())
  return out


def schedules(local: int) -> dict[str, tuple[int, ...]]:
  """The schedules compared: this tree's rule at a few narrowings, for the whole slice and a
  queue of half of it, and the rule before it (three quarters first) at its default."""
  out = {}
  for lanes in (local, local // 2):
    for n in (5, 6, 8):
      out[f"lanes={lanes}, {n} narrowings"] = lanes_lib.widths(lanes, local, n)
    w = [lanes, lanes * 3 // 4]
    while len(w) <= 5:
      w.append(w[-1] // 2)
    out[f"lanes={lanes}, three quarters first (before)"] = tuple(w)
  return out


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--env", default="hopper")
  p.add_argument("--early", type=int, default=4)
  p.add_argument("--late", type=int, default=63)
  p.add_argument("--members", type=int, default=1024)
  p.add_argument("--slice", type=int, default=128)
  p.add_argument("--name", default="lane_schedule")
  a = p.parse_args(argv)
  config = esjax.TrainConfig.of(env=a.env, eval_every=0)
  plans = schedules(a.slice)
  env = build_lib.make_env(config.problem)
  act = build_lib.views(config.problem, env)[1].size
  key = jax.random.PRNGKey(0)
  us = {}
  for w in sorted({w for ws in plans.values() for w in ws} | {a.slice}):
    fn = bare(env, act, w, 300)
    common.timed(fn, key)  # compile
    us[w] = common.best_of(lambda fn=fn: fn(key), 3) / 300 * 1e6
    common.log("width", w, "us per step", us[w])
  lengths = episode_lengths(config, (a.early, a.late), a.members)
  rows = []
  for name, ws in plans.items():
    row = {"schedule": name, "widths": ", ".join(map(str, ws))}
    for phase, gen in (("early", a.early), ("late", a.late)):
      slices = lengths[gen][: a.members // a.slice * a.slice].reshape(-1, a.slice)
      row[f"{phase} /bare"] = predicted(slices, ws, us.__getitem__)
      row[f"{phase} mean episode"] = float(lengths[gen].mean())
    rows.append(row)
    common.log(row)
  notes = [f"{a.env}, default config (lanes off) trained to generations {a.early} and "
           f"{a.late}; {a.members} members around each mean (antithetic, the run's sigma), "
           f"in slices of {a.slice}; cost per width: bare physics, one XLA CPU device, 300 "
           "steps, median of 3 calls (us per step: "
           + ", ".join(f"{w}: {v:.0f}" for w, v in us.items()) + ").",
           "A prediction from the replay of core/lanes.py's loop, not a timing: the work "
           "around the physics is left out; live_steps.md times the default schedule."]
  common.write_results(a.name, f"Lane schedules replayed on measured episode lengths "
                       f"({a.env})", rows, notes,
                       columns=["schedule", "widths", "early /bare", "late /bare",
                                "early mean episode", "late mean episode"])


if __name__ == "__main__":
  main()
