"""Live env steps per second against bare physics, with and without continuous batching.

Only live steps teach anything: a member that fell costs nothing useful. For each env, on
the devices esjax uses by default (here the CPU split into one device per core):
  * bare:  the same population of envs, vmapped and sharded over the same devices, stepped
           with random actions and nothing else (``lax.scan``): the physics limit in steps/s;
  * off:   the default run's generation with ``lanes=0`` (each chunk of 64 runs until its
           longest episode ends: the old loop);
  * lanes: the same with continuous batching in 128 lanes per device (``lanes=128``, what
           ``lanes=None`` means on CPU: the whole slice at pop 256 on 2 devices, narrowed to
           112, 96, 48, 24, 12, 6, 3 and 2 lanes for the last episodes);
  * queue_64: 64 lanes, a queue over the slice of 128 (narrowed to 56, 48, 24, 12, 6, 3, 2).
All are timed from the same state over the same generations, early (generations 2-7 from
scratch) and late (``--late``: the 6 generations after training to generation 60); each row
says whether its params equal off's and queue_64's (equal on hopper, not on every env).
live steps/s = the generations' ``gen_env_steps`` over their wall seconds (compile excluded);
``/bare`` is the median over three rounds of that rate over the rate of bare calls timed one
before each generation (a ratio of numbers timed minutes apart moved by 0.1 on this machine).

``--default-run`` also times the whole default run (``esjax train`` with every default, 60
generations, compile included, no compilation cache) in fresh processes: lanes off (the
default), ``lanes=None`` (8 narrowings) and ``lanes=None`` with no narrowing (one width: no
more compile than off), ``--repeats`` rounds in turn; each final params checked against
tests/test_pinned.py's hash.

    python -m benchmarks.live_steps --envs hopper --late     # ~15 min on 2 cores
    python -m benchmarks.live_steps --envs "" --default-run  # ~30 min: live_steps_default_run.md
    python -m benchmarks.live_steps --envs walker2d,ant --late --name live_steps_more  # ~50 min
"""
from __future__ import annotations

import argparse
import time
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

from benchmarks import common
import esjax
from esjax.core import lanes as lanes_lib
from esjax.core import step as step_lib
from esjax.core.mesh import AXIS, to_host
from esjax.problems import build as build_lib
from esjax.training import setup as setup_lib

# The lanes settings of each variant.
# Named by what they ran: "lanes" is 128 lanes per device (at pop 256 on 2 devices the whole
# slice: compaction only; lanes=None on CPU), queue_64 a queue of 64 lanes over the slice.
# lanes=None: the backend's default lanes (the whole slice on GPU/TPU), for a lent GPU.
VARIANTS = {"off": dict(lanes=0), "lanes": dict(lanes=128), "queue_64": dict(lanes=64),
            "lanes=None": dict(lanes=None)}
CPU_VARIANTS = ("off", "lanes", "queue_64")
PHASE_GENS = 6
BARE_LENGTH = 1000  # env steps per bare call: the episode length


def random_episodes(env, act_size: int, width: int, length: int, random_actions: bool = True):
  """``key -> (width,) rewards``: ``width`` envs stepped ``length`` times with uniform random
  actions (with ``random_actions=False``, one fixed smooth action sequence), nothing else."""

  def episode(k):
    state, _ = env.reset(k)

    def body(s, t):
      if random_actions:
        a = jax.random.uniform(jax.random.fold_in(k, t), (act_size,), minval=-1.0, maxval=1.0)
      else:
        a = 0.3 * jnp.sin(t.astype(jnp.float32)) * jnp.ones((act_size,))
      s, _, reward, _ = env.step(s, a, k)
      return s, reward

    return jax.lax.scan(body, state, jnp.arange(length))[1].sum()

  return lambda key: jax.vmap(episode)(jax.random.split(key, width))


def on_mesh(fn, mesh, in_specs=P()):
  """``fn`` of one device's slice, jitted and run on every device of ``mesh`` at once, its
  outputs stacked over the devices: a reference taken on the devices the generation it is
  compared with runs on (one per core on a CPU host)."""
  return jax.jit(jax.shard_map(fn, mesh=mesh, in_specs=in_specs, out_specs=P(AXIS),
                               check_vma=False))


def per_device_key(run, mesh):
  """``key -> run(key folded with the device's index)`` on every device of ``mesh``."""
  return on_mesh(lambda key: run(jax.random.fold_in(key, jax.lax.axis_index(AXIS))), mesh)


def bare_physics(config, mesh, length: int, local: int | None = None):
  """``key -> rewards``: the population's envs (``local`` per device if given) stepped
  ``length`` times with random actions (``random_episodes``), sharded over ``mesh`` (no
  policy, no ES)."""
  env = build_lib.make_env(config.problem)
  act = build_lib.views(config.problem, env)[1]
  return per_device_key(random_episodes(
      env, act.size, local or config.strategy.population_size // mesh.size, length), mesh)


def copy_state(state):
  return jax.tree.map(jnp.copy, state)


def timed_gens(setup, state, n: int, bare_seconds=None):
  """``(state, live steps, wall seconds, bare seconds)`` of ``n`` generations run one call
  each; with ``bare_seconds``, one bare call timed right before each generation (0 without)."""
  steps, wall, bare = 0, 0.0, 0.0
  for _ in range(n):
    if bare_seconds is not None:
      bare += bare_seconds()
    t = time.perf_counter()
    state, buf, _ = setup.run_generations(state, 1)
    common.block(buf)
    wall += time.perf_counter() - t
    steps += int(to_host(buf).gen_env_steps[0])
  return state, steps, wall, bare


ROUNDS = 3


def paired_ratios(live_steps: int, walls, bare_walls, bare_steps: int) -> list[float]:
  """Per round, the live steps/s of ``walls`` over the bare rate of the bare timings beside it."""
  return [live_steps / w / (bare_steps / b) for w, b in zip(walls, bare_walls)]


def timed_phase(env, phase, setups, state, bare_seconds, compare=("off", "queue_64")):
  """One row per variant: ``ROUNDS`` rounds of every variant in turn, all from ``state``, a
  bare physics call timed right before each generation, each row's params at the end compared
  with those of the variants named in ``compare``. A variant's ratio is the median over
  the rounds of its rate over the rate of the bare calls interleaved with it: this machine's
  speed drifts within tens of seconds by more than some of the differences measured, and
  timings interleaved call by call see the same machine."""
  walls = {name: [] for name in setups}
  bares = {name: [] for name in setups}
  params, steps = {}, {}
  for _ in range(ROUNDS):
    for name, s in setups.items():
      end, steps[name], wall, bare = timed_gens(s, copy_state(state), PHASE_GENS, bare_seconds)
      walls[name].append(wall)
      bares[name].append(bare)
      params[name] = np.asarray(to_host(end.es.mean))
  pop = next(iter(setups.values())).strategy.population_size
  bare_steps = PHASE_GENS * pop * BARE_LENGTH  # the bare calls of one round
  rows = []
  for name, w in walls.items():
    pairs = paired_ratios(steps[name], w, bares[name], bare_steps)
    rows.append({"env": env, "phase": phase, "variant": name, "live_steps": steps[name],
                 "mean_episode": steps[name] / (PHASE_GENS * pop), "wall_s": min(w),
                 "rounds_wall_s": " / ".join(f"{x:.2f}" for x in w),
                 "live_steps_per_s": steps[name] / min(w),
                 "bare_steps_per_s": bare_steps / min(bares[name]),
                 "/bare": float(np.median(pairs)),
                 "rounds_/bare": " / ".join(f"{x:.3f}" for x in pairs)})
  off = rows[0]["wall_s"]
  for r in rows:
    r["speedup"] = off / r["wall_s"]
    # Reported, not asserted: the bits hold on hopper and ant (tests/test_pinned.py,
    # test_lanes), but the chunked loop on 2 devices misses its 1-device bits on walker2d
    # (docs/reproducibility.md).
    for other in compare:
      if other in params:
        r[f"same_bits_as_{other}"] = bool(np.array_equal(params[r["variant"]], params[other]))
  return rows


def bench_env(env: str, late_at: int | None, population: int,
              variants: Sequence[str] = CPU_VARIANTS):
  base = esjax.TrainConfig.of(env=env, eval_every=0, population_size=population)
  setups = {name: setup_lib.setup(base.replace(**VARIANTS[name])) for name in variants}
  return bench_setups(env, setups, "lanes" if "lanes" in setups else variants[-1], late_at)


def bench_setups(env: str, setups: dict, reference: str, late_at: int | None,
                 compare=("off", "queue_64")) -> list[dict]:
  """Rows of ``timed_phase`` for ``setups``, early and (with ``late_at``) late; bare physics
  and the training to the late phase run on ``setups[reference]``."""
  ref = setups[reference]
  bare = bare_physics(ref.config, ref.mesh, BARE_LENGTH)
  key = jax.random.PRNGKey(0)
  common.timed(bare, key)  # compile

  def bare_seconds():
    return common.best_of(lambda: bare(key), 1)

  # Generation 1 compiles each variant; the phases start from the reference's state after it
  # (every variant's, where their bits agree: the same_bits columns).
  firsts = {name: s.run_generations(copy_state(ref.state), 1)[0] for name, s in setups.items()}
  state = firsts[reference]
  rows = timed_phase(env, "generations 2-7", setups, state, bare_seconds, compare)
  common.log(rows)
  if late_at:
    state, _, _, _ = timed_gens(ref, state, late_at - 1)
    rows += timed_phase(env, f"generations {late_at + 1}-{late_at + PHASE_GENS}", setups,
                        state, bare_seconds, compare)
    common.log(rows[-len(setups):])
  return rows


def _narrower(lanes: int) -> str:
  """The widths the default narrowings give ``lanes`` lanes over a slice of 128, after the
  first."""
  narrowings = esjax.TrainConfig().runtime.lane_narrowings
  return ", ".join(map(str, lanes_lib.widths(lanes, 128, narrowings)[1:]))


# The default run's variants: lanes off (the default), then on with the default narrowings
# and with none (each narrower width compiles one more copy of the env step).
DEFAULT_RUN_VARIANTS = {"off": VARIANTS["off"], "lanes=None": dict(lanes=None),
                        "lanes=None, no narrowing": dict(lanes=None, lane_narrowings=0)}


def _cached_runs(kw: dict, root: str) -> dict:
  """Two runs of ``kw`` with one fresh compilation cache, as esjax keeps by default: the
  first fills it (``cold_*``), the second, the row's, reads it (a sweep's next seed)."""
  import tempfile  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory(prefix="esjax-cache-") as cache:
    cold = common.train_in_child(kw, root=root, compile_cache=cache)
    warm = common.train_in_child(kw, root=root, compile_cache=cache)
  return dict(warm, cold_wall_s=cold["wall_s"], cold_sha256=cold["sha256"])


def default_run(before_ref: str, repeats: int, cached: bool = False) -> list[dict]:
  """The default run, 60 generations, compile included, each variant in a fresh process:
  the code at ``before_ref``'s merge base, then this tree with each of
  ``DEFAULT_RUN_VARIANTS``; ``repeats`` rounds of all variants, one after the other (this
  machine's speed drifts by more than the differences measured), each row the fastest round.
  ``cached``: each run twice over one fresh compilation cache, the second timed."""
  from tests.test_pinned import DEFAULT_RUN_SHA256  # pylint: disable=g-import-not-at-top
  runs = ([("before (merge base with " + before_ref + ")", common.checkout(before_ref), {})]
          if before_ref else [])
  runs += [(name, common.ROOT, kw) for name, kw in DEFAULT_RUN_VARIANTS.items()]
  results = {name: [] for name, _, _ in runs}
  for _ in range(repeats):
    for name, root, kw in runs:
      results[name].append(_cached_runs(kw, root) if cached
                           else common.train_in_child(kw, root=root))
  rows = []
  for name, rounds in results.items():
    best = min(rounds, key=lambda r: r["wall_s"])
    shas = [r[k] for r in rounds for k in ("sha256", "cold_sha256") if k in r]
    rows.append({"variant": name, "wall_s": best["wall_s"], "gen_s": best["gen_s"],
                 "rounds_wall_s": " / ".join(f"{r['wall_s']:.1f}" for r in rounds),
                 **({"cold_wall_s": best["cold_wall_s"]} if cached else {}),
                 "eval_return": best["eval_return"],
                 "params_pinned": all(sha == DEFAULT_RUN_SHA256 for sha in shas),
                 "sha256": best["sha256"][:16]})
  for r in rows:
    r["speedup"] = rows[0]["wall_s"] / r["wall_s"]
  return rows


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--envs", default="hopper")
  p.add_argument("--late", action="store_true",
                 help="also the 6 generations after training to generation 60")
  p.add_argument("--late-at", type=int, default=60)
  p.add_argument("--population", type=int, default=256)
  p.add_argument("--default-run", action="store_true")
  p.add_argument("--before", default="main", help="--default-run's baseline: the merge base "
                 "of HEAD and this ref (empty: none, only this tree with lanes off and on)")
  p.add_argument("--repeats", type=int, default=2, help="--default-run's rounds")
  p.add_argument("--cached", action="store_true", help="--default-run with esjax's "
                 "compilation cache: each run twice over one fresh cache, the second timed")
  p.add_argument("--variants", default=",".join(CPU_VARIANTS),
                 help=f"comma-separated, of {', '.join(VARIANTS)}")
  p.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
  p.add_argument("--name", default="live_steps")
  a = p.parse_args(argv)
  variants = tuple(a.variants.split(","))
  if not set(variants) <= set(VARIANTS):
    p.error(f"--variants {a.variants!r}: each must be one of {', '.join(VARIANTS)}")
  if a.default_run:
    _write_default_run(a)
  if not a.envs:
    return
  rows = []
  for env in a.envs.split(","):
    rows += bench_env(env, a.late_at if a.late else None, a.population, variants)
  cols = ["env", "phase", "variant", "mean_episode", "live_steps", "wall_s", "rounds_wall_s",
          "live_steps_per_s", "bare_steps_per_s", "/bare", "rounds_/bare", "speedup",
          "same_bits_as_off", "same_bits_as_queue_64"]
  common.write_results(a.name, "Live env steps/s vs bare physics (continuous batching)", rows,
                       _phase_notes(a.population), columns=cols, out_dir=a.out)


def _write_default_run(a) -> None:
  runs = default_run(a.before, a.repeats, a.cached)
  cache = ("each run twice over one fresh compilation cache (esjax's default keeps one): "
           "wall_s and gen_s are the second run's, which loads its compiled code from the "
           "cache, cold_wall_s the first's, which compiled and filled it" if a.cached
           else "compile (no compilation cache)")
  common.write_results(f"{a.name}_default_run{'_cached' if a.cached else ''}",
                       "The default run with and without lanes", runs, out_dir=a.out, notes=[
      "`esjax.train(TrainConfig())` (hopper, pop 256, 60 generations), a fresh process "
      f"per variant, one after the other, evaluations included; {cache}; "
      f"{a.repeats} rounds of every variant in turn, each row its fastest round "
      "(rounds_wall_s: every round); gen_s: the mean generation after the first; before = the "
      "code this change started from; params_pinned: the final params' sha256 equals "
      "tests/test_pinned.py's DEFAULT_RUN_SHA256 in every round."])


def _phase_notes(population: int) -> list[str]:
  backend = jax.default_backend()
  local = population // jax.device_count()
  chunk = step_lib.default_member_chunk(local, backend)
  chunks = f"chunks of {chunk}" if chunk < local else f"one chunk of the whole slice of {local}"
  return [
      f"Default settings (pop {population}, {chunks}, spring backend) on the devices "
      "esjax uses by default; bare = the same envs, vmapped and sharded over the same devices, "
      f"{BARE_LENGTH} steps of random actions, one call timed right before each generation "
      f"of a variant; {ROUNDS} rounds of every variant in turn. /bare is the median over "
      "the rounds of a variant's live steps/s over the rate of the bare calls between its "
      "generations (rounds_/bare: every round); live_steps_per_s and bare_steps_per_s are "
      "the fastest rounds, wall_s the fastest (rounds_wall_s: every round).",
      f"Each phase: {PHASE_GENS} generations, one compiled call each, from the same state for "
      "every variant; live_steps = their gen_env_steps; same_bits_as_* says whether a "
      f"variant's params equal another's at the phase's end. off = lanes=0 ({chunks}, each "
      "run until its longest episode ends); lanes = lanes=128, what lanes=None means on CPU "
      f"(there the whole slice of 128, compacted to {_narrower(128)} lanes as episodes end); "
      "queue_64 = lanes=64 (a queue: an ended member's lane takes the next of a slice of "
      f"128, then {_narrower(64)} lanes); lanes=None = the backend's default lanes "
      "(lanes.default_lanes: on a GPU the whole slice, narrowed as episodes end).",
  ]

if __name__ == "__main__":
  main()
