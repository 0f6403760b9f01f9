"""The generated tables of README.md and docs/*.md, each captioned with where it ran."""
from __future__ import annotations

import math
import os
import re

from benchmarks.doc_sources import RESULTS, metrics, millions, result, where


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
  saved = (c[1]["saved_s"] + c[3]["saved_s"]) / 2
  return (
      f"\nOne esjax generation costs 1/{limit['hopper']['ratio_bare/esjax']:.3f} (hopper) and "
      f"1/{limit['ant']['ratio_bare/esjax']:.3f} (ant) of bare vmapped Brax physics at population "
      f"{limit['hopper']['pop']}, and {limit['hopper']['recompiles_after_first']} recompilations "
      f"follow the first generation ({where(result('physics_limit')['machine'])}). The compiled "
      "step is kept in JAX's persistent compilation cache (on by default; `--compile-cache DIR`, "
      "`--no-compile-cache`): the second identical start reaches its first generation's record "
      f"about {saved:.0f} s sooner, {c[0]['to_first_record_s']} -> {c[1]['to_first_record_s']} s "
      f"for the default run and {c[2]['to_first_record_s']} -> {c[3]['to_first_record_s']} s for "
      f"ant (`python -m benchmarks.compile_cache`; {where(cache['machine'])}). A run of "
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
    ("swimmer", "Brax", "ARS with 2 directions, linear"),
    ("halfcheetah", "Brax", "still rising"),
    ("reacher", "Brax",
     "per 50-step episode; references in `benchmarks/results/reacher_reference.md`"),
    ("humanoid", "Brax, on one GPU", "cut at the GPU lease's deadline"),
    ("ant", "Brax, on one GPU", "still rising; cut at the GPU lease's deadline"),
    ("breakout_minatar_vbn", "gymnax MinAtar",
     "with VBN; PPO's figure from gymnax's README is in claim 8 above"),
    ("breakout_minatar", "gymnax MinAtar", "the same without VBN"),
    ("cartpole_balance", "MuJoCo Playground", "1000 is the maximum"),
    ("cheetah_run", "MuJoCo Playground", "still rising"),
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


def _comm() -> tuple[str, dict, list]:
  """comm.md's machine line, its first table by (pop, params, mode) and its second's rows."""
  with open(os.path.join(RESULTS, "comm.md")) as f:
    text = f.read()
  machine = re.search(r"^Machine: (.*)$", text, re.M).group(1)
  row = r"^\| (\d+) \| ([\d,]+) \| (returns|gradient) \| ([\d,]+) \| [^|]* \| ([\d.]+) \|$"
  cell = {(p, n, mode): (b, ms) for p, n, mode, b, ms in re.findall(row, text, re.M)}
  wins = re.findall(r"^\| (\d+) \| ([\d,]+) \| \w+ \| (\w+) \| (\d+)x \| ([^|]*) \|$",
                    text, re.M)
  return machine, cell, wins


def comm_table() -> str:
  machine, cell, _ = _comm()
  lines = ["", f"Measured on {machine} (`benchmarks/results/comm.md`, which records no date):",
           "", "| pop | params | returns: B/gen | gradient: B/gen | returns: ms/gen "
           "| gradient: ms/gen |",
           "| ---: | ---: | ---: | ---: | ---: | ---: |"]
  for p, n in [(p, n) for p, n, mode in cell if mode == "returns"]:
    (rb, rms), (gb, gms) = cell[(p, n, "returns")], cell[(p, n, "gradient")]
    lines.append(f"| {p} | {n} | {rb} | {gb} | {rms} | {gms} |")
  return "\n".join(lines + [""])


def _cell_name(key: tuple[str, str]) -> str:
  return f"pop {key[0]}, {key[1].replace(',000', 'k')} params"


def comm_findings() -> str:
  """What comm.md's tables say about bytes, time and the break-even link, in one sentence."""
  machine, cell, wins = _comm()
  ratio = {(p, n): int(r) for p, n, _, r, _ in wins}
  lo, hi = min(ratio, key=ratio.get), max(ratio, key=ratio.get)
  speed = {(p, n): float(cell[(p, n, "returns")][1]) / float(cell[(p, n, "gradient")][1])
           for p, n in ratio}
  faster = [k for k, v in speed.items() if v > 1]
  slower = [_cell_name(k) for k in speed if k not in faster]
  links = [float(b.split()[0]) for *_, b in wins if "MB/s" in b]
  but = f" but ({'; '.join(slower)})" if slower else ""
  return (f"Bytes: returns mode always, by {ratio[lo]}x ({_cell_name(lo)}) to {ratio[hi]}x "
          f"({_cell_name(hi)}): it moves `4 x pop` bytes, gradient mode adds `4 x params`. Time on "
          "forced CPU devices, where sending is a memcpy: gradient mode, "
          f"{min(speed[k] for k in faster):.1f}-{max(speed[k] for k in faster):.1f}x faster in "
          f"every cell{but}, because returns mode makes every device regenerate all "
          "`pop x params` noise values while gradient mode splits that work. Below the "
          f"break-even link bandwidth ({min(links):.1f}-{max(links):.0f} MB/s for CPU noise "
          f"generation; {machine.split(',')[0]}, {machine.split(', ')[3]}) returns mode is "
          "faster as well")


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
