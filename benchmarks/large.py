"""Large networks: full-rank versus low-rank (EGGROLL) perturbations, side by side.

    python -m benchmarks.large            # the committed table: ~15 min on a 2-core CPU
    python -m benchmarks.large --quick    # seconds: the test's smoke run

Part 1, cost: time per generation and compiled memory of one ES generation (``esjax.setup``'s
compiled step: ask, the members' forward passes, all-gather, tell) for MLP policies of about
1e4 .. 1e7 parameters (64 inputs, two hidden layers of width h, 8 outputs), population 256, each
member applying the policy to a batch of observations (no physics), for full-rank noise and
low-rank noise of rank 1, 4, 16. A full-rank column stops where the compiled step would not
fit in memory or a generation would take over a minute (estimated from the size before it).

Part 2, quality at equal budget: learning curves of full rank and rank 1 and 4 on a black box
(a linear regression, a 100 x 50 matrix with a full-rank target) and on Brax hopper, the same
population, generations and env steps for each.

Writes ``benchmarks/results/large.md`` (+ csv/json), ``large_curves.md`` (+ csv/json) and
``large.png``.
"""
from __future__ import annotations

import argparse
import math
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common
import esjax
from esjax.policies import make_policy
from esjax.problems.base import Evaluation, Problem
from esjax.problems.normalizer import ObsStats
from esjax.training.train import setup

OBS, ACT = 64, 8
MINUTE = 60.0


def width_for(params: int) -> int:
  """Hidden width h of a 64-h-h-8 MLP with about ``params`` parameters."""
  # OBS*h + h*h + h*ACT + biases (2h + ACT)  ~  h^2 + (OBS + ACT + 2) h
  b = OBS + ACT + 2
  return max(1, round((-b + math.sqrt(b * b + 4 * params)) / 2))


def policy_problem(policy, batch: int) -> Problem:
  """A member's return: the policy on ``batch`` observations drawn from its key (no physics)."""

  def evaluate(params, normalizer, key):
    del normalizer
    obs = jax.random.normal(key, (batch, OBS))
    act = policy.apply(params, obs)
    return Evaluation(-jnp.mean((act - 0.5) ** 2), jnp.ones((), jnp.int32), ObsStats.zeros(0))

  return Problem(evaluate, obs_size=0)


def _available_bytes() -> int:
  with open("/proc/meminfo") as f:
    for line in f:
      if line.startswith("MemAvailable"):
        return int(line.split()[1]) * 1024
  return 8 * 2**30


def cost_cell(params: int, rank: int | None, pop: int, batch: int, repeats: int):
  """One cell of part 1: ``(row, seconds_per_generation or None)``."""
  h = width_for(params)
  policy, flat = make_policy("mlp", OBS, ACT, hidden_sizes=(h, h), key=jax.random.PRNGKey(0))
  cfg = esjax.TrainConfig.of(population_size=pop, generations=1, eval_every=0,
                             normalize_obs=False, num_devices=1,
                             perturbation="full" if rank is None else "lowrank", rank=rank or 1)
  s = setup(cfg, policy_problem(policy, batch), policy.unravel(flat))
  row = {"params": int(flat.shape[0]), "hidden": h,
         "perturbation": "full" if rank is None else f"rank {rank}"}
  t = time.perf_counter()
  compiled = s.run_generations.lower(s.state, 1).compile()
  row["compile_s"] = time.perf_counter() - t
  mem = compiled.memory_analysis()
  peak = mem.argument_size_in_bytes + mem.output_size_in_bytes - mem.alias_size_in_bytes \
      + mem.temp_size_in_bytes
  row["memory_mib"] = peak / 2**20
  if peak > 0.6 * _available_bytes():
    row.update(status="over memory", gen_s=float("nan"))
    return row, None
  state, times = s.state, []
  for i in range(repeats + 1):  # the first call is timed too: a slow cell stops there
    t = time.perf_counter()
    state, _, _ = common.block(compiled(state, 1))
    times.append(time.perf_counter() - t)
    if times[0] > MINUTE or (i == 1 and times[0] > 10):
      break
  gen_s = float(np.median(times[1:] if len(times) > 1 else times))
  row.update(status="over a minute" if gen_s > MINUTE else "ok", gen_s=gen_s)
  return row, gen_s


def cost_rows(sizes, ranks, pop, batch, repeats):
  rows, last_full = [], None
  for params in sizes:
    for rank in (None,) + tuple(ranks):
      if rank is None and last_full is not None:
        prev_params, prev_s = last_full
        estimate = prev_s * params / prev_params
        if prev_s != prev_s or estimate > MINUTE:  # nan: did not fit before either
          rows.append({"params": params, "hidden": width_for(params), "perturbation": "full",
                       "status": f"skipped (est. {estimate:.0f} s > 60 s)", "gen_s": float("nan"),
                       "memory_mib": float("nan"), "compile_s": float("nan")})
          common.log(rows[-1])
          continue
      row, gen_s = cost_cell(params, rank, pop, batch, repeats)
      if rank is None:
        last_full = (row["params"], gen_s if gen_s is not None else float("nan"))
      rows.append(row)
      common.log(row)
  for r in rows:  # speedup of each low-rank cell over full rank at the same size
    full = [f for f in rows if f["perturbation"] == "full" and f["hidden"] == r["hidden"]]
    if full and full[0]["gen_s"] == full[0]["gen_s"] and r["gen_s"] == r["gen_s"]:
      r["speedup_vs_full"] = full[0]["gen_s"] / r["gen_s"]
  return rows


def regression_problem(m: int, n: int, samples: int = 256):
  """Fit ``X W = Y`` for a full-rank target ``W*`` (m x n): fitness = -mean squared error."""
  kx, kw = jax.random.split(jax.random.PRNGKey(42))
  x = jax.random.normal(kx, (samples, m))
  y = x @ (jax.random.normal(kw, (m, n)) / math.sqrt(m))
  return esjax.black_box(lambda p, k: -jnp.mean((x @ p["W"] - y) ** 2)), {
      "W": jnp.zeros((m, n))}


def curve(config, problem=None, initial=None):
  c = common.es_curve(config, problem=problem, initial_params=initial)
  points = [(m["env_steps"] if problem is None else m["generation"] * config.strategy
             .population_size, m["eval_return"]) for m in c.evals]
  return points, c.wall_s


def curve_rows(variants, quick: bool):
  rows, curves = [], {}
  m, n = (20, 10) if quick else (100, 50)
  problem, init = regression_problem(m, n)
  bb = dict(population_size=16 if quick else 256, generations=4 if quick else 200,
            eval_every=2 if quick else 10, eval_episodes=1, normalize_obs=False, sigma=0.05,
            learning_rate=0.02, weight_decay=0.0)
  tasks = [(f"black box: regression {m}x{n}", bb, problem, init)]
  if not quick:
    tasks.append(("brax hopper", dict(env="hopper", population_size=64, env_steps=300_000,
                                      eval_every=4, eval_episodes=4, hidden_sizes=(64, 64),
                                      num_seeds=2), None, None))
  for task, kw, prob, ini in tasks:
    for name, flat in variants:
      cfg = esjax.TrainConfig.of(**{**kw, **flat})
      points, wall = curve(cfg, prob, ini)
      curves[f"{task} / {name}"] = points
      evals = [v for _, v in points]
      rows.append({"task": task, "perturbation": name, "evaluations": points[-1][0],
                   "first_eval": evals[0], "final_eval": evals[-1], "best_eval": max(evals),
                   "wall_s": wall})
      common.log(rows[-1])
  return rows, curves


def plot(cost, curves, path, title):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  tasks = sorted({k.split(" / ")[0] for k in curves})
  fig, axes = plt.subplots(1, 2 + len(tasks), figsize=(5 * (2 + len(tasks)), 4))
  for name in dict.fromkeys(r["perturbation"] for r in cost):
    pts = [(r["params"], r["gen_s"], r["memory_mib"]) for r in cost
           if r["perturbation"] == name and r["gen_s"] == r["gen_s"]]
    if pts:
      p, t, mem = zip(*pts)
      axes[0].loglog(p, t, "o-", label=name)
      axes[1].loglog(p, mem, "o-", label=name)
  axes[0].set(xlabel="parameters", ylabel="s / generation (pop 256)", title="generation time")
  axes[1].set(xlabel="parameters", ylabel="MiB (compiled step)", title="memory")
  for ax, task in zip(axes[2:], tasks):
    for key, pts in curves.items():
      if key.startswith(task + " / ") and pts:
        x, y = zip(*pts)
        ax.plot(x, y, label=key.split(" / ")[1])
    ax.set(xlabel="env steps" if "brax" in task else "fitness evaluations",
           ylabel="evaluation return", title=task)
  for ax in axes:
    ax.legend(fontsize=8)
  fig.suptitle(title, fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--quick", action="store_true", help="tiny sizes, no Brax: a smoke run")
  p.add_argument("--sizes", default=None, help="parameter counts (default 1e4,1e5,1e6,1e7)")
  p.add_argument("--ranks", default="1,4,16")
  p.add_argument("--population", type=int, default=None)
  p.add_argument("--batch", type=int, default=16, help="observations per member")
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--out", default=None)
  a = p.parse_args(argv)
  sizes = [int(float(s)) for s in (a.sizes or ("1e3" if a.quick else "1e4,1e5,1e6,1e7"))
           .split(",")]
  ranks = [int(r) for r in ("1" if a.quick else a.ranks).split(",")]
  pop = a.population or (16 if a.quick else 256)
  batch = 4 if a.quick else a.batch
  cost = cost_rows(sizes, ranks, pop, batch, 1 if a.quick else a.repeats)
  variants = [("full", {"perturbation": "full"})] + [
      (f"rank {r}", {"perturbation": "lowrank", "rank": r}) for r in (ranks if a.quick
                                                                      else (1, 4))]
  curve_table, curves = curve_rows(variants, a.quick)
  out = a.out or common.RESULTS_DIR
  notes = [
      f"Population {pop} (mirrored), each member applies a {OBS}-h-h-{ACT} tanh MLP to {batch} "
      "observations (no physics); one device, members in chunks of 64, tell in chunks of 64 "
      "directions. gen_s: median wall seconds of a compiled generation (ask, forward passes, "
      f"all-gather, tell, Adam) over {a.repeats} calls after a first one (one call when the first "
      "took over 10 s). memory_mib: the compiled step's arguments + outputs - aliased + "
      "temporaries (XLA memory_analysis), i.e. its peak device memory.",
      "Full rank draws pop x P normals per generation (members, in chunks) and rebuilds P x "
      "pop/2 more in tell; each member's forward pass has its own W. Low rank draws (m + n) r "
      "per matrix and member, the members share the mean's W (one batched x W per chunk) plus "
      "(x A) B^T each, and tell is (m, c r) @ (c r, n) matmuls. A full-rank cell is skipped when "
      "the previous size's time scaled by the parameter ratio exceeds a minute.",
  ]
  common.write_results("large", "Large networks: full-rank vs low-rank perturbations, cost per "
                       "generation", cost, notes, out_dir=out,
                       columns=["params", "hidden", "perturbation", "status", "gen_s",
                                "speedup_vs_full", "memory_mib", "compile_s"])
  curve_notes = [
      "Equal budget per task: the same population, generations (black box) or env steps "
      "(hopper) for each perturbation; evaluation return = the unperturbed mean policy "
      "(black box: minus the mean squared error; hopper: mean of 4 episodes, 2 seeds averaged).",
      "Black box: OpenAI-ES, sigma 0.05, Adam 0.02, no weight decay, pop "
      f"{variants and (16 if a.quick else 256)}; hopper: OpenAI-ES defaults, pop 64, 64x64 tanh "
      "MLP, spring backend, 1000-step episodes, observation normalization.",
  ]
  common.write_results("large_curves", "Large networks: what low rank costs in quality at equal "
                       "budget", curve_table, curve_notes, out_dir=out,
                       extra={"curves": curves})
  info = common.machine_info()
  plot(cost, curves, os.path.join(out, "large.png"),
       f"{info['cpu']}, {info['cores']} cores, jax {info['jax']}, {info['backend']}/"
       f"{info['device']}")
  return cost + curve_table


if __name__ == "__main__":
  main()
