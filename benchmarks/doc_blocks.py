"""The generated blocks of README.md and docs/*.md: every figure read from a committed result
file under ``benchmarks/results/`` or from a test's constant, with where it was measured.

Each entry of ``BLOCKS`` returns the exact text that goes between ``<!-- generated: NAME -->``
and ``<!-- /generated -->`` on a page; ``benchmarks/readme_section.py`` writes them. Nothing
here imports jax or esjax, so checking the pages stays a fraction of a second.
"""
from __future__ import annotations

import json
import os
import re

from benchmarks import doc_claims, doc_findings, doc_gpu, doc_tables
from benchmarks.doc_sources import RESULTS, ROOT, metrics, millions, result, test_constant, where

__all__ = ["BLOCKS", "ROOT"]


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
  rows = {m["generation"]: m for m in metrics("default_run/metrics.jsonl") if "eval_return" in m}
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
      "| env steps | " + " | ".join(millions(rows[g]["env_steps"]) for g in gens) + " |",
      "| wall s | " + " | ".join(f"{rows[g]['wall_s']:.0f}" for g in gens) + " |",
      "| eval return | " + " | ".join(f"{rows[g]['eval_return']:.0f}" for g in gens) + " |",
      "",
  ]
  return "\n".join(lines)


def default_run_split() -> str:
  one, split, machine = _split_rows()
  same = "the identical params" if split["final params equal"] else "different params"
  return (f"\nFrom the command's start, compilation included, it passes 1000 after "
          f"{split['s_to_eval_1000']:.0f} s and ends after {split['total_s']:.0f} s; on one "
          f"device the same run takes {one['s_to_eval_1000']:.0f} s and {one['total_s']:.0f} s "
          f"and ends with {same} ({where(machine, 2)[:-12]}, one run after the other; "
          "`python -m benchmarks.cpu_split`, `benchmarks/results/cpu_split.md`). "
          f"{pinned()}.\n")


def pinned() -> str:
  jax_version = test_constant(PINNED, "PINNED_JAX")
  final = test_constant(PINNED, "DEFAULT_RUN_EVAL")
  return (f"`tests/test_pinned.py` pins those params bit for bit (with jax {jax_version} on a "
          f"CPU; final evaluation {final:.2f} within 0.5 %)")


def hlo_bytes() -> str:
  b = test_constant(HLO, "DEFAULT_RUN_BYTES")
  devices = test_constant(HLO, "DEFAULT_RUN_DEVICES")
  return f"{b:,} bytes per generation (read from its HLO on {devices} forced CPU devices)"


# The default run's pre-run block as esjax prints it (runtime/preflight.py's Plan.lines(), with
# core/comm.py's reason); tests/docs/test_generated.py builds the same lines from the code.
PREFLIGHT_PARAMS = 1539
PREFLIGHT_DIRECTIONS = 128  # pop 256, mirrored: 128 noise directions rebuilt by the update


def preflight_lines() -> list[str]:
  b = test_constant(HLO, "DEFAULT_RUN_BYTES")
  values = PREFLIGHT_DIRECTIONS * PREFLIGHT_PARAMS
  return ["devices: 2 on 1 process(es); 128 of 256 members per device",
          f"parameters: {PREFLIGHT_PARAMS:,}; crossing devices per generation: {b:,} bytes "
          f"(0 between hosts, {b:,} within)",
          f"comm: auto -> returns: the update rebuilds {values / 1e6:.1f}M noise values, under "
          "the 4.2M worth splitting"]


def preflight_sample() -> str:
  return ("\n```\n" + "\n".join(preflight_lines())
          + "\nmemory per device: the step needs … of …   (what XLA and the host report)\n```\n")


def test_tiers() -> str:
  """The two tiers' cold wall times as `.ci/run` measured them (benchmarks/test_tiers.py)."""
  path = os.path.join(RESULTS, "test_tiers.json")
  if not os.path.exists(path):
    return "not yet measured (`benchmarks/results/test_tiers.json` will hold them)"
  with open(path) as f:
    d = json.load(f)
  m = d["machine"]
  tiers = [f"the {t} tier (`{d[t]['command']}`, {d[t]['counts'].get('passed', 0)} tests) "
           f"took {d[t]['seconds'] / 60:.0f} min" for t in ("quick", "slow")]
  lanes = d.get("lanes")
  if lanes:
    tiers.append(f"`.ci/run`'s newest-JAX lane {lanes['newest_lane_s'] / 60:.0f} min")
  return (", ".join(tiers[:-1]) + " and " + tiers[-1] +
          f", cold, on {m['cpu']} ({m['cores']} cores), Python "
          f"{m['python']}, jax {m['jax']}, {m['date_utc'][:10]} "
          "([benchmarks/results/test_tiers.md](benchmarks/results/test_tiers.md))")


def newest_jax() -> str:
  """The default run on the newest jax, 2 CPU devices against 1 (benchmarks/cpu_split.py run
  in the Python 3.13 userland with ``--name newest_jax/cpu_split``)."""
  with open(os.path.join(RESULTS, "newest_jax", "cpu_split.json")) as f:
    d = json.load(f)
  one, split = d["rows"]
  assert one["final params equal"] and split["final params equal"], "params differ"
  m = d["machine"]
  evals = dict(re.findall(r"(\d+): (\d+)", d["notes"][-1]))
  return (f"eval {evals['20']} at generation 20, {evals['60']} at 60, in {split['total_s']:.0f} s "
          f"from the command's start against {one['total_s']:.0f} s on one device; {m['cpu']}, "
          f"{m['cores']} cores, Python {m['python']}, jax {m['jax']}, {m['date_utc'][:10]}, "
          f"load {m['load_avg_1m']}; `python -m benchmarks.cpu_split --name newest_jax/cpu_split`")


BLOCKS = {
    "default-run-time": default_run_time,
    "default-run-table": default_run_table,
    "default-run-split": default_run_split,
    "hlo-bytes": hlo_bytes,
    "preflight-sample": preflight_sample,
    "strategies-readme": doc_tables.strategies_readme,
    "strategies-docs": doc_tables.strategies_docs,
    "peers-table": doc_tables.peers_table,
    "speed-summary": doc_tables.speed_summary,
    "compile-cache-saved": doc_tables.compile_cache_saved,
    "large-table": doc_tables.large_table,
    "presets-table": doc_tables.presets_table,
    "comm-bytes": doc_tables.comm_bytes,
    "comm-time": doc_tables.comm_time,
    "comm-findings": doc_tables.comm_findings,
    "scaling-modes": doc_tables.scaling_modes_table,
    "live-steps-table": doc_tables.live_steps_table,
    "reproducible-table": doc_tables.reproducible_table,
    "test-tiers": test_tiers,
    "newest-jax": newest_jax,
    **doc_claims.BLOCKS,
    **doc_findings.BLOCKS,
    **doc_gpu.BLOCKS,
}
