"""Rewrites the generated tables of docs/scaling.md from the result files.

    python -m benchmarks.scaling_doc   # after benchmarks.comm and benchmarks.claims.scaling_modes

Each table sits between ``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->``; the text
around them is hand-written. Numbers come only from ``benchmarks/results/comm.json`` (bytes
per mesh axis and times on forced CPU devices) and ``benchmarks/results/claims/
scaling_modes.json`` (the 18 -> 1,440-worker model).
"""
from __future__ import annotations

import json
import os
import re

from benchmarks import common

DOC = os.path.join(common.ROOT, "docs", "scaling.md")


def _load(*path):
  with open(os.path.join(common.RESULTS_DIR, *path)) as f:
    return json.load(f)


def bytes_table(comm) -> str:
  rows = [r for r in comm["rows"] if r["mode"] != "auto"]
  return (f"From the compiled step's HLO ({comm['machine']['date_utc']} UTC, JAX "
          f"{comm['machine']['jax']}), black box, pop {comm['pop']}, bytes per generation:\n\n"
          + common.markdown_table(rows, ["params", "layout", "mode", "between_hosts_B",
                                         "within_host_B"]))


def time_table(comm) -> str:
  m = comm["machine"]
  return (f"{comm['devices']} forced CPU devices on {m['cores']} cores ({m['cpu']}, load "
          f"{m['load_avg_1m']} at start), one run, each mode timed round-robin:\n\n"
          + common.markdown_table(comm["timing"], ["problem", "params", "mode", "picked",
                                                    "wall_s", "cpu_s", "cpu_vs_returns"]))


def model_table(model) -> str:
  cols = ["setting", "workers", "layout", "returns_s", "hierarchical_s", "gradient_s", "auto",
          "auto_s", "ideal_x", "returns_x", "hierarchical_x", "gradient_x", "auto_x"]
  return (common.markdown_table(model["rows"], cols) + "\n\n"
          + "\n".join(f"- {n}" for n in model["notes"]))


def render(text: str, name: str, body: str) -> str:
  pattern = re.compile(rf"(<!-- generated:{name} -->\n).*?(<!-- /generated:{name} -->)", re.S)
  if not pattern.search(text):
    raise SystemExit(f"docs/scaling.md has no generated:{name} block")
  return pattern.sub(lambda m: m[1] + body + "\n" + m[2], text)


def main():
  with open(DOC) as f:
    text = f.read()
  blocks = {}
  if os.path.exists(os.path.join(common.RESULTS_DIR, "comm.json")):
    comm = _load("comm.json")
    blocks.update(comm_bytes=bytes_table(comm), comm_time=time_table(comm))
  else:  # a block is never filled with anything but a result file's numbers
    print("no benchmarks/results/comm.json: run python -m benchmarks.comm first")
  blocks["scaling_model"] = model_table(_load("claims", "scaling_modes.json"))
  for name, body in blocks.items():
    text = render(text, name, body)
  with open(DOC, "w") as f:
    f.write(text)
  print("wrote", DOC)


if __name__ == "__main__":
  main()
