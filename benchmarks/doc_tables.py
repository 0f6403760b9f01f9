"""The generated tables of README.md and docs/*.md, each captioned with where it ran."""
from __future__ import annotations

import math
import os

from benchmarks.doc_sources import RESULTS, metrics, millions, result, same_bits, where


# --- tables ---------------------------------------------------------------------------------


def _strategy_rows() -> tuple[list[str], dict, dict]:
  d = result("strategies_rl")
  order = ["open_es", "ars", "pgpe", "snes", "sep_cma_es"]
  cell = {(r["strategy"], r["env"]): r for r in d["rows"]}
  return order, cell, d["machine"]


def strategies_readme() -> str:
  order, cell, machine = _strategy_rows()
  lines = ["", f"Measured on {where(machine)} (`benchmarks/results/strategies_rl.md`):", "",
           "| strategy | hopper | halfcheetah |", "| --- | ---: | ---: |"]
  for s in order:
    h, c = cell[(s, "hopper")], cell[(s, "halfcheetah")]
    lines.append(f"| `{s}` | {h['eval_mean']:.0f} ± {h['eval_std']:.0f} | "
                 f"{c['eval_mean']:.0f} ± {c['eval_std']:.0f} |")
  return "\n".join(lines + [""])


def strategies_docs() -> str:
  order, cell, machine = _strategy_rows()
  opts = {s: cell[(s, "hopper")]["options"] for s in order}
  lines = ["", f"Measured on {where(machine)}; options other than the strategy's defaults: "
           + "; ".join(f"`{s}` {o}" for s, o in opts.items()) + ".", "",
           "| strategy | hopper | halfcheetah | wall s, 3 seeds (hopper / halfcheetah) |",
           "| --- | ---: | ---: | ---: |"]
  for s in order:
    h, c = cell[(s, "hopper")], cell[(s, "halfcheetah")]
    lines.append(f"| `{s}` | {h['eval_mean']:.0f} ± {h['eval_std']:.0f} | "
                 f"{c['eval_mean']:.0f} ± {c['eval_std']:.0f} | "
                 f"{h['wall_s_all_seeds']:.0f} / {c['wall_s_all_seeds']:.0f} |")
  return "\n".join(lines + [""])


def peers_table() -> str:
  d = result("peers")
  lines = ["", f"Measured on {where(d['machine'])} (`benchmarks/results/peers.md`):", "",
           "| method | final eval return | live steps to pop-mean 150 | live steps per CPU-second "
           "| compile s |", "| --- | ---: | ---: | ---: | ---: |"]
  for r in d["rows"]:
    coarse = " (coarse)" if r["method"].startswith("brax") else ""
    lines.append(f"| {r['method']} | {r['final_eval_return']:.1f} | "
                 f"{r['steps_to_threshold']:,}{coarse} | {r['live_steps_per_cpu_s']:,.0f} | "
                 f"{r['compile_s']:.1f} |")
  return "\n".join(lines + [""])


def speed_summary() -> str:
  limit = {r["env"]: r for r in result("physics_limit")["rows"]}
  cache = result("compile_cache")
  c = cache["rows"]
  runs = result("long_run")
  rss = [r["rss_mb"] for r in runs["rows"]]
  return (
      f"\nOne esjax generation costs 1/{limit['hopper']['ratio_bare/esjax']:.3f} (hopper) and "
      f"1/{limit['ant']['ratio_bare/esjax']:.3f} (ant) of bare vmapped Brax physics at population "
      f"{limit['hopper']['pop']}, and {limit['hopper']['recompiles_after_first']} recompilations "
      f"follow the first generation ({where(result('physics_limit')['machine'])}). The compiled "
      "step is kept in JAX's persistent compilation cache (on by default; `--compile-cache DIR`, "
      "`--no-compile-cache`): the second identical start reaches its first generation's record "
      f"{c[1]['saved_s']:.0f} s sooner for the default run ({c[0]['to_first_record_s']} -> "
      f"{c[1]['to_first_record_s']} s) and {c[3]['saved_s']:.0f} s sooner for ant "
      f"({c[2]['to_first_record_s']} -> {c[3]['to_first_record_s']} s; `python -m "
      f"benchmarks.compile_cache`; {where(cache['machine'])}). A run of "
      f"{runs['rows'][-1]['generation']:,} generations keeps flat host memory "
      f"({rss[0]:.0f} -> {rss[-1]:.0f} MB) and time per generation (`benchmarks/long_run.py`; "
      f"{where(runs['machine'])}).\n")


def compile_cache_saved() -> str:
  c = result("compile_cache")
  saved = c["rows"][1]["saved_s"]
  return f"about {saved:.0f} s sooner ({where(c['machine'])})"


def large_table() -> str:
  d = result("large")
  by = {}
  for r in d["rows"]:
    by.setdefault(round(math.log10(r["params"])), {})[r["perturbation"]] = r
  lines = ["", f"Measured on {where(d['machine'])}:", "",
           "| parameters | full rank: s/generation, MiB | rank 1 | rank 4 | rank 16 |",
           "| --- | --- | --- | --- | --- |"]
  for exp in sorted(by):
    cells = []
    for kind in ("full", "rank 1", "rank 4", "rank 16"):
      r = by[exp][kind]
      if r["status"] != "ok":
        cells.append(f"not run ({r['status'].split('(')[1].split(' >')[0]})"
                     if "est." in r["status"] else "not run")
        continue
      shown = kind == "rank 1" and "speedup_vs_full" in r
      speed = f" ({r['speedup_vs_full']:.1f}×)" if shown else ""
      cells.append(f"{_g(r['gen_s'])}{speed}, {_g(r['memory_mib'])}")
    lines.append(f"| 10{_sup(exp)} | " + " | ".join(cells) + " |")
  return "\n".join(lines + [""])


def _g(x: float) -> str:
  return f"{x:.3g}" if x < 100 else f"{x:,.0f}"


def _sup(n: int) -> str:
  return str(n).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


# --- presets --------------------------------------------------------------------------------

# (preset, source, what to know about the row). The figures come from the result files.
PRESET_ROWS = [
    ("hopper", "Brax", "the default run (`esjax train`)"),
    ("inverted_double_pendulum", "Brax", "ARS, linear"),
    ("walker2d", "Brax", "ARS, linear, the ARS paper's Walker2d settings"),
    ("swimmer", "Brax", "ARS with 2 directions, linear; its plateau moves with the run's bits "
                        "(the preset's `verified`)"),
    ("halfcheetah", "Brax", "still rising"),
    ("reacher", "Brax",
     "per 50-step episode; references in `benchmarks/results/reacher_reference.md`"),
    ("humanoid", "Brax, on one GPU", "cut at the GPU lease's deadline"),
    ("ant", "Brax, on one GPU", "still rising; cut at the GPU lease's deadline"),
    ("breakout_minatar_vbn", "gymnax MinAtar",
     "with VBN; PPO's figure from gymnax's README is in claim 8 above"),
    ("breakout_minatar", "gymnax MinAtar", "the same without VBN"),
    ("cartpole_balance", "MuJoCo Playground", "1000 is the maximum"),
    ("cheetah_run", "MuJoCo Playground", "learning; noisy after generation 100"),
]


def _preset_results() -> dict[str, tuple[dict, dict]]:
  found = {}
  for name in ("presets", "presets_gpu"):
    d = result(name)
    for r in d["rows"]:
      found[r["preset"]] = (r, d["machine"])
  cpu = result("presets")["machine"]
  for preset, folder in (("hopper", "default_run"), ("walker2d", "presets/walker2d")):
    if preset in found:
      continue
    m = metrics(f"{folder}/metrics.jsonl")
    last = [r for r in m if "eval_return" in r][-1]
    found[preset] = ({"eval_return": last["eval_return"], "eval_std": last["eval_return_std"],
                      "env_steps": last["env_steps"], "generations": last["generation"],
                      "train_wall_s": last["wall_s"]}, cpu)
  return found


def presets_table() -> str:
  found = _preset_results()
  cpu, gpu = result("presets")["machine"], result("presets_gpu")["machine"]
  lines = ["", f"CPU rows: {where(cpu)[:-12]} (dates in `benchmarks/results/presets.md`); GPU "
           f"rows: {where(gpu)}. Final evaluation ± its std over episodes; training seconds "
           "from the first generation on:", "",
           "| source | command | final eval | env steps | train s | note |",
           "|---|---|---:|---:|---:|---|"]
  for preset, source, note in PRESET_ROWS:
    r, _ = found[preset]
    lines.append(f"| {source} | `esjax train --preset {preset}` | {r['eval_return']:.1f} ± "
                 f"{r['eval_std']:.1f} | {millions(r['env_steps'])} | "
                 f"{r['train_wall_s']:.0f} | {note} |")
  lines.append("| gymnax | `esjax train --preset cartpole` | not in `benchmarks/results/` | | | "
               "what was seen is in the preset's `verified` field |")
  return "\n".join(lines + [""])


# --- scaling and reproducibility tables -----------------------------------------------------


def comm_bytes() -> str:
  """benchmarks/comm.py's bytes per mesh axis, every mode but auto (whose pick is a row)."""
  d = result("comm")
  rows = [r for r in d["rows"] if r["mode"] != "auto"]
  return ("\n" + f"Black box, pop {d['pop']}, from each compiled step's HLO "
          f"({where(d['machine'])}):\n\n" + _table(rows, ["params", "layout", "mode",
                                                            "between_hosts_B", "within_host_B"])
          + "\n")


def comm_time() -> str:
  d = result("comm")
  return ("\n" + f"{where(d['machine'])}, one run, each mode timed round-robin "
          "(`auto`: the step of the mode it picked):\n\n"
          + _table(d["timing"], ["problem", "params", "mode", "picked", "wall_s", "cpu_s",
                                 "cpu_vs_returns"]) + "\n")


def _table(rows, cols) -> str:
  def fmt(v):
    return f"{v:,}" if isinstance(v, int) else f"{v:.3g}" if isinstance(v, float) else str(v)
  return "\n".join(["| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
                    + ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows])


def scaling_modes_table() -> str:
  d = result("claims/scaling_modes")
  cols = ["setting", "workers", "layout", "returns_s", "hierarchical_s", "gradient_s", "auto",
          "auto_s", "ideal_x", "returns_x", "hierarchical_x", "gradient_x", "auto_x"]
  return ("\n" + f"Written on {where(d['machine'], 1)}; the inputs' sources are in the "
          "notes:\n\n" + _table(d["rows"], cols)
          + "\n\n" + "\n".join(f"- {n}" for n in d["notes"]) + "\n")


def comm_findings() -> str:
  """The time ratios of comm.json's timing rows, in one sentence."""
  d = result("comm")
  parts = []
  for problem in dict.fromkeys(r["problem"] for r in d["timing"]):
    rs = [r for r in d["timing"] if r["problem"] == problem and r["mode"] != "returns"]
    parts.append(f"{problem} ({rs[0]['params']:,} params): " + ", ".join(
        f"{r['mode']} {r['cpu_vs_returns']:.2f}×" for r in rs))
  return (f"CPU seconds per generation against `returns` ({where(d['machine'])}): "
          + "; ".join(parts))

def reproducible_table() -> str:
  d = result("reproducible")
  command = d["command"].replace("python benchmarks/", "python -m benchmarks.").replace(".py", "")
  load = d["machine"]["load_avg_1m"]
  lines = ["", f"`{command}` ({where(d['machine'], 1)}, the script's one device; load {load}; "
           "medians of generations after compile, process CPU seconds of one generation):", "",
           "| env | pop | old (whole slice, FMA on) | whole slice, FMA off | chunks of 64, FMA off "
           "| chunked / old |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
  for r in d["rows"]:
    lines.append(f"| {r['env']} | {r['pop']} | {r['old_cpu_s']:#.3g} | "
                 f"{r['slice_nofma_cpu_s']:#.3g} | {r['chunked_cpu_s']:#.3g} | "
                 f"{r['chunked/old']:.3f} |")
  return "\n".join(lines + [""])


def live_steps_table() -> str:
  """Live env steps/s over bare physics per env and phase, each variant (benchmarks/live_steps)."""
  lines, machines, same = [], [], {}
  for name in ("live_steps", "live_steps_more"):
    if not os.path.exists(os.path.join(RESULTS, f"{name}.json")):
      continue
    d = result(name)
    machines.append(where(d["machine"]))
    by = {}
    for r in d["rows"]:
      by.setdefault((r["env"], r["phase"]), {})[r["variant"]] = r
      same[r["env"]] = same.get(r["env"], True) and same_bits(r)
    for (env, phase), v in by.items():
      any_row = next(iter(v.values()))
      gens = phase.replace("generations ", "")
      lines.append(f"| {env} | {gens} | {any_row['mean_episode']:.0f} | "
                   + " | ".join(f"{v[k]['/bare']:.3f}" if k in v else "" for k in LIVE_VARIANTS)
                   + f" | {any_row['bare_steps_per_s']:,.0f} |")
  head = ["", "| env | generations | mean episode | " + " | ".join(
      f"{k} /bare" for k in LIVE_VARIANTS) + " | bare steps/s |",
      "| --- | --- | ---: |" + " ---: |" * (len(LIVE_VARIANTS) + 1)]
  where_ = "; ".join(dict.fromkeys(machines))
  foot = ["", f"Live env steps/s over bare physics on the same devices ({where_}; "
          "`python -m benchmarks.live_steps --envs hopper --late` and `--envs walker2d,ant --late "
          "--name live_steps_more`): off = `--lanes 0` (chunks of 64 run to their longest "
          "episode), lanes = `--lanes 128`, what `lanes=None` means on CPU (the whole slice of "
          "128, narrowed as episodes end), queue_64 = `--lanes 64` (a queue over the slice of "
          f"128). Every variant ended in the same params on {_and(e for e in same if same[e])}"
          + (f"; not on {_and(e for e in same if not same[e])}" if not all(same.values())
             else "")
          + " (the result files' same_bits columns; docs/reproducibility.md).", ""]
  return "\n".join(head + lines + foot)


LIVE_VARIANTS = ("off", "lanes", "queue_64")


def _and(words) -> str:
  words = list(words)
  return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)
