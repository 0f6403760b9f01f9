"""Claim 6 of Salimans et al. (2017): near-perfect scaling, because workers exchange only scalars.

Three parts, each point in its own subprocess (``XLA_FLAGS=--xla_force_host_platform_device_count
=W`` must be set before JAX starts):

1. **Measured on forced CPU devices** (W = 1, 2, 4, 8): weak scaling (a fixed number of members
   per device, population = members x W) and strong scaling (a fixed population), Brax hopper
   with fixed-length episodes (``terminate_when_unhealthy=False``). On this 2-core machine the
   forced devices share the same two cores: the rows measure the sharded path's overhead, not a
   speed-up.
2. **Bytes per generation read from the compiled HLO** (``esjax.core.hlo``) of each of those
   steps, next to the expected O(population) number (4 B return + 4 B step count per member, and
   one observation-sum triple of 2 x obs + 1 floats per member chunk), and of a black-box step
   with 1,000 and 100,000 parameters at the same W and population: the bytes must not move.
3. **A model** of wall time per generation against 1 ... 1,440 workers,
   ``t(W) = c x ceil(pop / W) + t_comm(W) + t_update(pop)``:
   ``c`` = measured compute per member-episode (Brax humanoid, the paper's 2 x 256 tanh policy,
   1,000-step episodes, one CPU device = about one core here); ``t_comm`` = every collective of
   the compiled step as a ring all-gather of its measured bytes, ``(W - 1) / W x bytes / bw``,
   plus ``latency x ceil(log2 W)`` per collective; ``t_update`` = the measured replicated ES
   update (every worker rebuilds all pop/2 noise directions of the humanoid-sized policy and
   sums them; timed alone, scaled linearly in pop). Drawn against the paper's Humanoid figure:
   657 minutes on 18 cores, about 10 minutes on 1,440 cores (a 65.7x speed-up for 80x cores).

The model here is the ``--comm returns`` mode's (every worker rebuilds the whole update);
``benchmarks/claims/scaling_modes.py`` models every mode and ``auto`` from these inputs.

    python -m benchmarks.claims.scaling           # full: ~10-15 min on the 2-core CPU
    python -m benchmarks.claims.scaling --quick   # black box, W = 1, 2, few generations

Writes ``benchmarks/results/claims/scaling.md`` (+ csv/json) and ``scaling.png``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time

from benchmarks import common

RESULTS = os.path.join(common.RESULTS_DIR, "claims")
PAPER = {"cores": (18, 1440), "minutes": (657.0, 10.0)}  # /work/shared/ANCHORS.md, Humanoid 6000
BB_PARAMS = (1_000, 100_000)  # black-box sizes whose bytes per generation must be equal


# ---------------------------------------------------------------------------------- workers


def _gen_times(s, generations):
  state, buf, _ = s.run_generations(s.state, 1)  # compile + first generation
  common.block(buf)
  wall, cpu = [], []
  with common.CompileCounter() as cc:
    for _ in range(generations):
      t0, c0 = time.perf_counter(), time.process_time()
      state, buf, _ = s.run_generations(state, 1)
      common.block(buf)
      wall.append(time.perf_counter() - t0)
      cpu.append(time.process_time() - c0)
  return sorted(wall)[len(wall) // 2], sorted(cpu)[len(cpu) // 2], cc.count


def _bb_setup(pop, params, devices):
  import jax.numpy as jnp
  import esjax
  from esjax.training import train as train_lib
  target = jnp.linspace(-1.0, 1.0, params)
  cfg = esjax.TrainConfig.of(population_size=pop, generations=1, eval_every=0,
                             normalize_obs=False, num_devices=devices, comm="returns")
  return train_lib.setup(cfg, esjax.black_box(lambda p, k: -jnp.sum((p - target) ** 2)),
                         jnp.zeros(params))


def _brax_setup(env_name, backend, pop, T, hidden, devices):
  import jax
  import esjax
  from benchmarks.physics_limit import make_fixed_length_env
  from esjax.policies import make_policy
  from esjax.problems.brax import brax_problem
  from esjax.training import train as train_lib
  env = make_fixed_length_env(env_name, backend)
  cfg = esjax.TrainConfig.of(env=env_name, backend=backend, population_size=pop,
                             episode_length=T, hidden_sizes=hidden, eval_every=0,
                             num_devices=devices)
  policy, params = make_policy("mlp", int(env.observation_size), int(env.action_size), hidden,
                               "tanh", jax.random.PRNGKey(0))
  s = train_lib.setup(cfg, problem=brax_problem(env, policy, T), initial_params=params)
  return s, int(env.observation_size), int(params.shape[0])


def worker_sweep(a):
  """One (W, pop) point: time per generation and the HLO bytes of the step."""
  import jax
  from esjax.core import hlo
  from esjax.core.step import default_member_chunk
  W = jax.device_count()
  if a.problem == "brax":
    s, obs, params = _brax_setup(a.env, a.backend, a.population, a.episode_length,
                                 tuple(int(x) for x in a.hidden.split(",")), W)
  else:
    s, obs, params = _bb_setup(a.population, BB_PARAMS[0], W), 0, BB_PARAMS[0]
  found = hlo.step_traffic(s)
  gen_s, gen_cpu_s, recompiles = _gen_times(s, a.generations)
  chunk = default_member_chunk(a.population // W, "cpu")
  chunks = a.population // chunk
  expected = 8 * a.population + 4 * chunks * (2 * obs + 1) if obs else 4 * a.population
  own = sum(c.bytes for c in found)
  bb = {p: own if (a.problem == "bb" and p == BB_PARAMS[0]) else
        hlo.collective_bytes(hlo.step_hlo(_bb_setup(a.population, p, W))) for p in BB_PARAMS}
  if a.with_compute:
    worker_compute(a)
  print("RESULT " + json.dumps({
      "devices": W, "pop": a.population, "members_per_device": a.population // W,
      "params": params, "gen_s": gen_s, "gen_cpu_s": gen_cpu_s, "recompiles": recompiles,
      "bytes_per_gen": own, "expected_bytes": expected,
      "collectives": len(found), "ops": ", ".join(f"{c.op} {c.bytes} B" for c in found),
      **{f"bb_bytes_{p}": b for p, b in bb.items()}}), flush=True)


def worker_compute(a):
  """The model's inputs: compute per member-episode and the replicated update's time."""
  import jax
  import jax.numpy as jnp
  import esjax
  from esjax import strategies as strategy_lib
  hidden = tuple(int(x) for x in a.model_hidden.split(","))
  if a.problem == "brax":
    s, obs, params = _brax_setup(a.model_env, a.backend, a.model_population,
                                 a.model_episode_length, hidden, 1)
  else:
    s, obs, params = _bb_setup(a.model_population, BB_PARAMS[0], 1), 0, BB_PARAMS[0]
  gen_s, gen_cpu_s, _ = _gen_times(s, a.generations)
  # The update alone, at the policy's size: rebuild pop/2 noise directions from keys, weigh,
  # sum, step the optimizer (strategies.tell: what every worker runs, whatever W).
  strategy = esjax.TrainConfig.of(population_size=a.update_population).strategy.build()
  st = strategy.init(jnp.zeros(params))
  tell = jax.jit(lambda st, k, r: strategy_lib.tell(strategy, st, k, r)[0])
  ret = jax.random.normal(jax.random.PRNGKey(1), (a.update_population,))
  key = jax.random.PRNGKey(2)
  common.block(tell(st, key, ret))
  update_s = common.best_of(lambda: tell(st, key, ret), 3)
  update_at_pop = update_s * a.model_population / a.update_population
  print("COMPUTE " + json.dumps({
      "env": a.model_env if a.problem == "brax" else "black box", "obs": obs,
      "params": params, "pop": a.model_population, "T": a.model_episode_length,
      "gen_s": gen_s, "gen_cpu_s": gen_cpu_s,
      "member_episode_s": max(gen_s - update_at_pop, 0.0) / a.model_population,
      "update_population": a.update_population, "update_s": update_s}), flush=True)


def spawn(a, kind, devices, population=0, with_compute=False):
  """Runs a worker with ``devices`` forced CPU devices; returns its (RESULT, COMPUTE) lines."""
  args = ["--worker", kind, "--population", str(population), *a.passthrough]
  if with_compute:
    args.append("--with-compute")
  found = common.spawn("benchmarks.claims.scaling", args, devices)
  return found["RESULT"], found.get("COMPUTE")


# ------------------------------------------------------------------------------------ model


def model_time(W, pop, member_s, update_s_per_member, bytes_per_gen, n_coll, bw, lat):
  """Seconds per generation on W workers (see the module docstring)."""
  compute = member_s * math.ceil(pop / W)
  comm = 0.0 if W == 1 else ((W - 1) / W * bytes_per_gen * 8 / bw +
                             n_coll * lat * math.ceil(math.log2(W)))
  update = update_s_per_member * pop
  return compute, comm, update


def model_rows(m, a):
  pop = a.model_pop
  # Bytes of the model's step: the O(pop) form the HLO rows confirm, with the model env's obs.
  chunks = math.ceil(pop / 64)
  nbytes = 8 * pop + 4 * chunks * (2 * m["obs"] + 1) if m["obs"] else 4 * pop
  per = m["update_s"] / m["update_population"]
  rows = []
  for W in sorted(set([1, 2, 4, 8, 18, 36, 72, 144, 288, 576, 720, 1024, 1440])):
    c, comm, u = model_time(W, pop, m["member_episode_s"], per, nbytes, a.collectives,
                            a.link_gbps * 1e9, a.latency_us * 1e-6)
    rows.append({"workers": W, "pop": pop, "compute_s": c, "comm_s": comm, "update_s": u,
                 "total_s": c + comm + u, "bytes_per_gen": nbytes})
  t1 = rows[0]["total_s"]
  t18 = next(r["total_s"] for r in rows if r["workers"] == 18)
  for r in rows:
    r["speedup_vs_1"] = t1 / r["total_s"]
    r["speedup_vs_18"] = t18 / r["total_s"]
    r["efficiency"] = r["speedup_vs_1"] / r["workers"]
    r["speedup_vs_18_no_update"] = ((t18 - r["update_s"]) /
                                    (r["total_s"] - r["update_s"]))
  return rows


# ------------------------------------------------------------------------------------ output


def plot(sweep, model, m, a, path):
  plt = common.pyplot()
  fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
  ax = axes[0]
  for name, style in (("weak", "-o"), ("strong", "-s")):
    rs = [r for r in sweep if r["sweep"] == name]
    ax.plot([r["devices"] for r in rs], [r["gen_s"] for r in rs], style,
            label=f"{name} (wall)")
    ax.plot([r["devices"] for r in rs], [r["gen_cpu_s"] for r in rs], style, alpha=0.4,
            label=f"{name} (process CPU)")
  ax.set_xscale("log", base=2)
  ax.set_xlabel("forced CPU devices (2 real cores)")
  ax.set_ylabel("s per generation")
  ax.set_title("measured here: overhead, not speed-up", fontsize=9)
  ax.legend(fontsize=7)
  ax = axes[1]
  ws = [r["workers"] for r in model]
  for key, label in (("compute_s", "compute (pop/W member-episodes)"),
                     ("comm_s", f"collectives ({a.link_gbps:g} Gb/s, {a.latency_us:g} us)"),
                     ("update_s", "replicated update"), ("total_s", "total")):
    ax.plot(ws, [max(r[key], 1e-9) for r in model], label=label)
  ax.set_xscale("log")
  ax.set_yscale("log")
  ax.set_xlabel("workers W")
  ax.set_ylabel("model s per generation")
  ax.set_title(f"model, pop {a.model_pop}, {m['env']} ({m['params']:,} params)", fontsize=9)
  ax.legend(fontsize=7)
  ax = axes[2]
  ax.plot(ws, [w / 18 for w in ws], ":", color="gray", label="ideal (linear)")
  ax.plot(ws, [r["speedup_vs_18"] for r in model], "-", label="model")
  ax.plot(ws, [r["speedup_vs_18_no_update"] for r in model], "--",
          label="model without the replicated update")
  ax.plot(PAPER["cores"], [1.0, PAPER["minutes"][0] / PAPER["minutes"][1]], "r*", ms=12,
          label="paper: 657 min @ 18 cores, 10 min @ 1,440")
  ax.set_xscale("log")
  ax.set_yscale("log")
  ax.set_xlabel("workers (cores)")
  ax.set_ylabel("speed-up relative to 18 workers")
  ax.set_title("predicted speed-up vs the paper's Humanoid points", fontsize=9)
  ax.legend(fontsize=7)
  for ax in axes:
    ax.grid(True, which="both", alpha=0.3)
  common.save_figure(fig, path)


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--devices", default="1,2,4,8")
  p.add_argument("--members-per-device", type=int, default=64, help="weak scaling")
  p.add_argument("--strong-population", type=int, default=512, help="strong scaling")
  p.add_argument("--env", default="hopper")
  p.add_argument("--backend", default="spring")
  p.add_argument("--episode-length", type=int, default=100)
  p.add_argument("--hidden", default="32,32")
  p.add_argument("--generations", type=int, default=3, help="timed generations per point")
  p.add_argument("--model-env", default="humanoid")
  p.add_argument("--model-hidden", default="256,256", help="the paper's Humanoid network")
  p.add_argument("--model-population", type=int, default=32,
                 help="members timed for the compute per member-episode")
  p.add_argument("--model-episode-length", type=int, default=1000)
  p.add_argument("--update-population", type=int, default=1024, help="timed update's pop")
  p.add_argument("--model-pop", type=int, default=10_000,
                 help="the modelled population (the paper: >= 10,000 episodes per update)")
  p.add_argument("--link-gbps", type=float, default=10.0)
  p.add_argument("--latency-us", type=float, default=50.0)
  p.add_argument("--collectives", type=int, default=0,
                 help="collectives per generation in the model (0: as counted in the HLO)")
  p.add_argument("--quick", action="store_true", help="black box, W = 1, 2, few generations")
  p.add_argument("--out", default=RESULTS)
  p.add_argument("--rerender", action="store_true",
                 help="rewrite the tables and plot from --out's scaling.json (no workers)")
  p.add_argument("--worker", choices=("sweep",), help=argparse.SUPPRESS)
  p.add_argument("--with-compute", action="store_true", help=argparse.SUPPRESS)
  p.add_argument("--population", type=int, default=0, help=argparse.SUPPRESS)
  p.add_argument("--problem", default="brax", choices=("brax", "bb"), help=argparse.SUPPRESS)
  return p


def main(argv=None):
  a = _parser().parse_args(argv)
  if a.worker:
    return worker_sweep(a)
  if a.quick:
    a.devices, a.members_per_device, a.strong_population, a.generations = "1,2", 32, 64, 2
    a.problem, a.update_population, a.model_population = "bb", 256, 64
  a.passthrough = ["--problem", a.problem, "--env", a.env, "--backend", a.backend,
                   "--episode-length", str(a.episode_length), "--hidden", a.hidden,
                   "--generations", str(a.generations), "--model-env", a.model_env,
                   "--model-hidden", a.model_hidden,
                   "--model-population", str(a.model_population),
                   "--model-episode-length", str(a.model_episode_length),
                   "--update-population", str(a.update_population)]

  if a.rerender:  # the tables and plot again from the json of a finished run, no workers
    return _rerender(a)
  t_start, a.measured = time.perf_counter(), None
  devices = [int(x) for x in a.devices.split(",")]
  cache, sweep, m = {}, [], None
  for name in ("weak", "strong"):
    for W in devices:
      pop = a.members_per_device * W if name == "weak" else a.strong_population
      if (W, pop) not in cache:
        # The model's inputs are measured in the first one-device worker (one start-up less).
        cache[(W, pop)], got = spawn(a, "sweep", W, pop, with_compute=m is None and W == 1)
        m = m or got
        common.log(name, cache[(W, pop)])
      sweep.append({"sweep": name, **cache[(W, pop)]})
  if m is None:
    m = spawn(a, "sweep", 1, a.members_per_device, with_compute=True)[1]
  common.log("compute", m)
  if not a.collectives:
    a.collectives = max(r["collectives"] for r in sweep)
  return report(a, sweep, m, time.perf_counter() - t_start)


def report(a, sweep, m, wall_s, command=None):
  _add_ratios(sweep)
  model = model_rows(m, a)
  os.makedirs(a.out, exist_ok=True)
  plot(sweep, model, m, a, os.path.join(a.out, "scaling.png"))
  notes = _notes(a, m, model, wall_s)
  cols = ["sweep", "devices", "pop", "members_per_device", "gen_s", "gen_cpu_s", "t1_over_tW",
          "cpu1_over_cpuW", "cpu_ms_per_member", "bytes_per_gen", "expected_bytes",
          "bytes_per_member",
          f"bb_bytes_{BB_PARAMS[0]}", f"bb_bytes_{BB_PARAMS[1]}", "ops", "recompiles"]
  text = common.write_results(
      "scaling", "Claim 6: scaling with only scalars exchanged (measured on forced CPU devices "
      "+ a model to 1,440 workers)", sweep, notes, columns=cols, out_dir=a.out, command=command,
      extra={"wall_s": wall_s, "measured": a.measured, "model": model, "model_inputs": m,
             "paper": PAPER,
             "settings": {k: v for k, v in vars(a).items()
                          if k not in ("passthrough", "rerender", "measured")}})
  # The model's table below the measured one, in the same markdown file.
  mcols = ["workers", "pop", "compute_s", "comm_s", "update_s", "total_s", "speedup_vs_1",
           "efficiency", "speedup_vs_18", "speedup_vs_18_no_update"]
  with open(os.path.join(a.out, "scaling.md"), "a") as f:
    f.write("\n#### Model: seconds per generation against workers\n\n" +
            common.markdown_table(model, mcols) + "\n")
  print(common.markdown_table(model, mcols))
  return text


def _rerender(a):
  """The tables and plot again from --out's scaling.json, no workers."""
  import json as json_lib
  with open(os.path.join(a.out, "scaling.json")) as f:
    old = json_lib.load(f)
  command = old["command"]
  for k in ("link_gbps", "latency_us", "collectives", "model_pop"):
    setattr(a, k, old["settings"][k])
  a.measured = old.get("measured") or {k: old["machine"][k]
                                       for k in ("date_utc", "load_avg_1m")}
  return report(a, [{k: v for k, v in r.items()} for r in old["rows"]], old["model_inputs"],
                old["wall_s"], command)


def _add_ratios(sweep) -> None:
  """Each row's scaling against its sweep's one-device row, and its cost per member."""
  for name in ("weak", "strong"):
    rs = [r for r in sweep if r["sweep"] == name]
    for r in rs:
      # weak: ideal is constant time (efficiency t1/tW); strong: ideal is t1/W (speed-up t1/tW)
      r["t1_over_tW"] = rs[0]["gen_s"] / r["gen_s"]
      r["cpu1_over_cpuW"] = rs[0]["gen_cpu_s"] / r["gen_cpu_s"]
      r["bytes_per_member"] = r["bytes_per_gen"] / r["pop"]
      r["cpu_ms_per_member"] = r["gen_cpu_s"] / r["pop"] * 1e3


def _notes(a, m, model, wall_s) -> list[str]:
  at = {r["workers"]: r for r in model}
  paper_speedup = PAPER["minutes"][0] / PAPER["minutes"][1]
  what = (f"{a.env}/{a.backend}, MLP {a.hidden}, T = {a.episode_length} fixed-length episodes"
          if a.problem == "brax" else "a black-box quadratic (quick setting)")
  notes = [
      f"Measured rows: {what}; weak = {a.members_per_device} members per device, strong = "
      f"population {a.strong_population}; median of {a.generations} generations after the "
      "first; each row a fresh subprocess with W forced CPU devices.",
      f"This machine has {os.cpu_count()} cores: forced CPU devices share them, so these rows "
      "measure the sharded path's overhead, not a speed-up. t1_over_tW: weak-scaling "
      "efficiency (ideal 1) or strong-scaling speed-up (ideal W, unreachable on 2 cores); "
      "cpu1_over_cpuW: the same with process CPU seconds; cpu_ms_per_member: process CPU "
      "seconds per member-episode (all threads), the work each member costs whatever the "
      "load: flat = no per-device overhead.",
      "bytes_per_gen: sum of the compiled step's collectives (esjax.core.hlo), logical "
      "payload; expected_bytes = 8 x pop (f32 return + i32 step count per member) + 4 x "
      "chunks x (2 x obs + 1) (one observation-sum triple per member chunk of <= 64) on every "
      f"device count. bb_bytes_P: a black-box step with P = {BB_PARAMS[0]:,} / {BB_PARAMS[1]:,} "
      "parameters at the same W and pop (4 or 8 B per member: its returns, and its constant step "
      "counts unless XLA folds them away; nothing parameter-sized) with --comm returns, the "
      "paper's exchange (the default auto splits an update of 4.2M noise values or more over "
      "the devices, which sends parameter-sized partial sums: docs/scaling.md). On one "
      "device the all-gathers stay in the program as local copies, so the bytes are counted "
      "there too.",
      f"Model inputs (1 forced device, about one core): {m['env']}, {m['params']:,}-parameter "
      f"MLP {a.model_hidden} tanh, T = {m['T']}, pop {m['pop']}: {m['gen_s']:.2f} s per "
      f"generation -> {m['member_episode_s'] * 1e3:.1f} ms per member-episode "
      f"({m['T'] / max(m['member_episode_s'], 1e-12):,.0f} env steps/s); replicated update "
      f"(strategies.tell, pop {m['update_population']}, rebuilding {m['update_population'] // 2}"
      f" noise directions from keys): {m['update_s'] * 1e3:.1f} ms, scaled linearly in pop.",
      f"Model: t(W) = c x ceil(pop/W) + t_comm + t_update, pop {a.model_pop}; t_comm = "
      f"(W-1)/W x bytes / ({a.link_gbps:g} Gb/s) + {a.collectives} collectives x "
      f"{a.latency_us:g} us x ceil(log2 W) (ring all-gather bandwidth, tree latency); "
      f"bytes = {model[0]['bytes_per_gen']:,} per generation (the measured O(pop) form with "
      f"{m['env']}'s {m['obs']} observations).",
      f"Model at 1,440 workers: {at[1440]['total_s'] * 1e3:.0f} ms per generation = compute "
      f"{at[1440]['compute_s'] * 1e3:.0f} + collectives {at[1440]['comm_s'] * 1e3:.2f} + "
      f"update {at[1440]['update_s'] * 1e3:.0f}; speed-up 18 -> 1,440 workers "
      f"{at[1440]['speedup_vs_18']:.1f}x ({at[1440]['speedup_vs_18_no_update']:.1f}x without "
      f"the replicated update) vs the paper's {paper_speedup:.1f}x (657 -> 10 min) and the "
      "ideal 80x. The paper's workers read their noise from a shared table instead of "
      "regenerating it; the update is replicated work either way.",
      f"Total wall time of this script: {wall_s:.0f} s." + (
          f" Measured {a.measured['date_utc']} UTC (load {a.measured['load_avg_1m']}); the "
          "tables were rewritten from its json with --rerender." if a.measured else ""),
  ]
  return notes


if __name__ == "__main__":
  main()
