"""The generated blocks of README.md and docs/*.md: every figure read from a committed result
file under ``benchmarks/results/`` or from a test's constant, with where it was measured.

Each entry of ``BLOCKS`` returns the exact text that goes between ``<!-- generated: NAME -->``
and ``<!-- /generated -->`` on a page; ``benchmarks/readme_section.py`` writes them. Nothing
here imports jax or esjax, so checking the pages stays a fraction of a second.
"""
from __future__ import annotations

import ast
import json
import math
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")


def result(name: str) -> dict:
  with open(os.path.join(RESULTS, f"{name}.json")) as f:
    return json.load(f)


def test_constant(path: str, name: str):
  """A module-level constant of a test file, read without importing it (no jax)."""
  with open(os.path.join(ROOT, path)) as f:
    tree = ast.parse(f.read())
  for node in tree.body:
    if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
      return ast.literal_eval(node.value)
  raise KeyError(f"{path} defines no constant {name}")


def where(machine: dict, devices: int | None = None) -> str:
  """'AMD EPYC, 2 cores, 2 CPU devices, jax 0.10.2, 2026-11-25' from a result's machine."""
  n = machine.get("device_count") if devices is None else devices
  kind = machine.get("device", "cpu")
  if kind == "cpu":
    host = f"{machine.get('cpu', 'CPU')}, {machine.get('cores')} cores, {n} CPU device{'s' * (n != 1)}"
  else:
    host = f"{n} × {kind}"
  return f"{host}, jax {machine['jax']}, {str(machine['date_utc'])[:10]}"


def _metrics(path: str) -> list[dict]:
  with open(os.path.join(RESULTS, path)) as f:
    return [json.loads(line) for line in f if line.strip()]


def _m(steps: float) -> str:
  return f"{steps / 1e6:.2f}M"


# --- the default run ------------------------------------------------------------------------

PINNED = "tests/test_pinned.py"
HLO = "tests/core/test_hlo_traffic.py"


def _split_rows() -> tuple[dict, dict, dict]:
  d = result("cpu_split")
  one, split = d["rows"]
  return one, split, d["machine"]


def default_run_time() -> str:
  _, split, machine = _split_rows()
  return (f"passes an evaluation return of 1000 after {split['s_to_eval_1000']:.0f} s and ends at "
          f"{split['final_eval']:.0f} after {split['total_s']:.0f} s, compile included "
          f"({where(machine, 2)}; `python -m benchmarks.cpu_split`)")


def default_run_table() -> str:
  rows = {m["generation"]: m for m in _metrics("default_run/metrics.jsonl") if "eval_return" in m}
  gens = sorted(rows)
  _, _, machine = _split_rows()
  lines = [
      "",
      f"Measured on {where(machine, 2)} (the one-device-per-core run of "
      "`python -m benchmarks.cpu_split`; `benchmarks/results/default_run/metrics.jsonl`, wall "
      "seconds as metrics.jsonl counts them, from the first generation on):",
      "",
      "| generation | " + " | ".join(str(g) for g in gens) + " |",
      "| --- |" + " ---: |" * len(gens),
      "| env steps | " + " | ".join(_m(rows[g]["env_steps"]) for g in gens) + " |",
      "| wall s | " + " | ".join(f"{rows[g]['wall_s']:.0f}" for g in gens) + " |",
      "| eval return | " + " | ".join(f"{rows[g]['eval_return']:.0f}" for g in gens) + " |",
      "",
  ]
  return "\n".join(lines)


def default_run_split() -> str:
  one, split, machine = _split_rows()
  same = "the identical params" if split["final params equal"] else "different params"
  return (f"From the command's start, compilation included, it passes 1000 after "
          f"{split['s_to_eval_1000']:.0f} s and ends after {split['total_s']:.0f} s; on one "
          f"device the same run takes {one['s_to_eval_1000']:.0f} s and {one['total_s']:.0f} s "
          f"and ends with {same} ({where(machine, 2)[:-12]}, one run after the other)")


def pinned() -> str:
  jax_version = test_constant(PINNED, "PINNED_JAX")
  final = test_constant(PINNED, "DEFAULT_RUN_EVAL")
  return (f"`tests/test_pinned.py` pins those params bit for bit (with jax {jax_version} on a "
          f"CPU; final evaluation {final:.2f} within 0.5 %)")


def hlo_bytes() -> str:
  b = test_constant(HLO, "DEFAULT_RUN_BYTES")
  devices = test_constant(HLO, "DEFAULT_RUN_DEVICES")
  return f"{b:,} bytes per generation (read from its HLO on {devices} forced CPU devices)"


def preflight_sample() -> str:
  b = test_constant(HLO, "DEFAULT_RUN_BYTES")
  return ("\n```\ndevices: 2 on 1 process(es); 128 of 256 members per device\n"
          f"parameters: 1,539; crossing devices per generation: {b:,} bytes\n"
          "memory per device: the step needs … of …   (what XLA and the host report)\n```\n")


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
      f"One esjax generation costs 1/{limit['hopper']['ratio_bare/esjax']:.3f} (hopper) and "
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
      f"{where(runs['machine'])})")


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
      speed = f" ({r['speedup_vs_full']:.1f}×)" if kind == "rank 1" and "speedup_vs_full" in r else ""
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
    ("reacher", "Brax", "per 50-step episode; references in `benchmarks/results/reacher_reference.md`"),
    ("humanoid", "Brax, on one GPU", "cut at the GPU lease's deadline"),
    ("ant", "Brax, on one GPU", "still rising; cut at the GPU lease's deadline"),
    ("breakout_minatar_vbn", "gymnax MinAtar", "with VBN; gymnax's README lists PPO at 28 after far more steps"),
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
    m = _metrics(f"{folder}/metrics.jsonl")
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
                 f"{r['eval_std']:.1f} | {_m(r['env_steps'])} | {r['train_wall_s']:.0f} | {note} |")
  lines.append("| gymnax | `esjax train --preset cartpole` | not in `benchmarks/results/` | | | "
               "what was seen is in the preset's `verified` field |")
  return "\n".join(lines + [""])


# --- scaling and reproducibility tables -----------------------------------------------------


def comm_table() -> str:
  with open(os.path.join(RESULTS, "comm.md")) as f:
    text = f.read()
  machine = re.search(r"^Machine: (.*)$", text, re.M).group(1)
  rows = re.findall(r"^\| (\d+) \| ([\d,]+) \| (returns|gradient) \| ([\d,]+) \| [^|]* \| ([\d.]+) \|$",
                    text, re.M)
  cell = {(p, n, mode): (b, ms) for p, n, mode, b, ms in rows}
  lines = ["", f"Measured on {machine} (`benchmarks/results/comm.md`):", "",
           "| pop | params | returns: B/gen | gradient: B/gen | returns: ms/gen | gradient: ms/gen |",
           "| ---: | ---: | ---: | ---: | ---: | ---: |"]
  for p, n in [(p, n) for p, n, mode in cell if mode == "returns"]:
    (rb, rms), (gb, gms) = cell[(p, n, "returns")], cell[(p, n, "gradient")]
    lines.append(f"| {p} | {n} | {rb} | {gb} | {rms} | {gms} |")
  return "\n".join(lines + [""])


def reproducible_table() -> str:
  d = result("reproducible")
  lines = ["", f"`{d['command'].replace('python benchmarks/', 'python -m benchmarks.').replace('.py', '')}` "
           f"({where(d['machine'], 1)}, load {d['machine']['load_avg_1m']}; medians of generations "
           "after compile, process CPU seconds of one generation):", "",
           "| env | pop | old (whole slice, FMA on) | whole slice, FMA off | chunks of 64, FMA off | chunked / old |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
  for r in d["rows"]:
    lines.append(f"| {r['env']} | {r['pop']} | {r['old_cpu_s']:.3g} | {r['slice_nofma_cpu_s']:.3g} "
                 f"| {r['chunked_cpu_s']:.3g} | {r['chunked/old']:.3f} |")
  return "\n".join(lines + [""])


def claims_where() -> str:
  names = ["intrinsic_dim", "variance", "scaling", "es_vs_ppo", "frame_skip", "parameterization",
           "minatar_vbn"]
  parts = [f"{n}: {where(result('claims/' + n)['machine'])}" for n in names]
  gpu = result("presets_gpu")["machine"]
  return ("\nWhere each row was measured (from its result file): " + "; ".join(parts)
          + f"; humanoid (claim 7): {where(gpu)}.\n")


def test_tiers() -> str:
  path = os.path.join(RESULTS, "test_tiers.json")
  if not os.path.exists(path):
    return "(test tier timings: not measured yet; `benchmarks/results/test_tiers.json` will hold them)"
  with open(path) as f:
    d = json.load(f)
  tiers = [f"the {t} tier (`{d[t]['command']}`, {d[t]['tests']} tests) took "
           f"{d[t]['seconds'] / 60:.0f} min" for t in ("quick", "slow") if t in d]
  machine = d.get("machine", "this machine")
  if isinstance(machine, dict):
    machine = f"{machine.get('cpu', machine.get('device', 'CPU'))}, {machine.get('cores')} cores"
  return (" and ".join(tiers) + f" on {machine}, jax {d.get('jax')}, "
          f"{str(d.get('date', ''))[:10]}")


def newest_jax() -> str:
  name = "metrics_jax0.12.0.1_2devices.jsonl"
  m = _metrics(f"newest_jax/{name}")
  evals = {r["generation"]: r["eval_return"] for r in m if "eval_return" in r}
  version = name.split("_jax")[1].split("_")[0]
  with open(os.path.join(RESULTS, "newest_jax", "README.md")) as f:  # its record of the machine
    date = re.search(r"\d{4}-\d{2}-\d{2}", f.read()).group(0)
  return (f"eval {evals[20]:.0f} at generation 20, {evals[60]:.0f} at 60; 2-core AMD EPYC, "
          f"jax {version}, {date}")


BLOCKS = {
    "default-run-time": default_run_time,
    "default-run-table": default_run_table,
    "default-run-split": default_run_split,
    "pinned": pinned,
    "hlo-bytes": hlo_bytes,
    "preflight-sample": preflight_sample,
    "strategies-readme": strategies_readme,
    "strategies-docs": strategies_docs,
    "peers-table": peers_table,
    "speed-summary": speed_summary,
    "compile-cache-saved": compile_cache_saved,
    "large-table": large_table,
    "presets-table": presets_table,
    "comm-table": comm_table,
    "reproducible-table": reproducible_table,
    "claims-where": claims_where,
    "test-tiers": test_tiers,
    "newest-jax": newest_jax,
}
