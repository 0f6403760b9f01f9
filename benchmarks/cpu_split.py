"""The default run on one CPU device against esjax's default of one device per core (issue 13).

Runs ``esjax train`` (every default: hopper, pop 256, 60 generations) twice in fresh
processes, one after the other: once with ``ESJAX_CPU_DEVICES=1`` (one device, the old
default) and once as a user gets it (one device per core). Times are from the process start,
so they include imports and compilation: the seconds until metrics.jsonl first shows an
evaluation return of 1000 or more, and until the process exits. The final params of the two
runs must be equal (device invariance); the table says whether they are.

    python -m benchmarks.cpu_split                 # the default run, ~10 min on 2 cores
    python -m benchmarks.cpu_split --generations 10
    python -m benchmarks.cpu_split --name newest_jax/cpu_split   # another JAX: its own table

Writes benchmarks/results/cpu_split.md (+ csv/json) and copies the split run's metrics.jsonl
to benchmarks/results/default_run/ (the README's table).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchmarks import common
TARGET = 1000.0


def run(label: str, cpu_devices: str | None, generations: int, work: str) -> dict:
  out = os.path.join(work, label)
  env = {k: v for k, v in os.environ.items() if k not in ("ESJAX_CPU_DEVICES",)}
  env["XLA_FLAGS"] = " ".join(f for f in env.get("XLA_FLAGS", "").split()
                              if not f.startswith("--xla_force_host_platform_device_count"))
  if cpu_devices:
    env["ESJAX_CPU_DEVICES"] = cpu_devices
  cmd = [sys.executable, "-m", "esjax", "train", "--out", out, "--generations", str(generations),
         "--no-compile-cache"]
  metrics = os.path.join(out, "metrics.jsonl")
  t0 = time.perf_counter()
  proc = subprocess.Popen(cmd, cwd=common.ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
  reached, seen, devices = None, 0, None
  while proc.poll() is None:  # timestamp each metrics line as it appears
    time.sleep(0.25)
    if reached is None and os.path.exists(metrics):
      with open(metrics) as f:
        lines = f.readlines()
      for line in lines[seen:]:
        if line.endswith("\n") and json.loads(line).get("eval_return", -1e9) >= TARGET:
          reached = time.perf_counter() - t0
          break
      seen = len([ln for ln in lines if ln.endswith("\n")])
  total = time.perf_counter() - t0
  printed = proc.stdout.read()
  if proc.returncode:
    raise SystemExit(f"{label}: esjax train failed:\n{printed[-2000:]}")
  for line in printed.splitlines():
    if line.strip().startswith("devices:"):
      devices = line.split("devices:")[1].split(";")[0].strip()
  recs = [json.loads(ln) for ln in open(metrics)]
  evals = [(r["generation"], r["eval_return"]) for r in recs if "eval_return" in r]
  return {"layout": label, "devices": devices, "s_to_eval_1000": reached, "total_s": total,
          "final_eval": evals[-1][1], "evals": evals,
          "params": open(os.path.join(out, "params.msgpack"), "rb").read(), "out": out}


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--generations", type=int, default=60)
  p.add_argument("--name", default="cpu_split",
                 help="results file under benchmarks/results/ (without .md); only the default "
                      "name also refreshes default_run/metrics.jsonl, the README's curve")
  a = p.parse_args()
  work = tempfile.mkdtemp(prefix="esjax-cpu-split-")
  one = run("one device", "1", a.generations, work)
  common.log({k: v for k, v in one.items() if k not in ("params", "evals")})
  split = run("one device per core", None, a.generations, work)
  common.log({k: v for k, v in split.items() if k not in ("params", "evals")})
  # params.msgpack carries the esjax version too; equal files mean equal params.
  same = one["params"] == split["params"]
  rows = [{k: v for k, v in r.items() if k not in ("params", "evals", "out")} for r in (one, split)]
  for r in rows:
    r["final params equal"] = same
  ratio_total = one["total_s"] / split["total_s"]
  ratio_1000 = (one["s_to_eval_1000"] / split["s_to_eval_1000"]
                if one["s_to_eval_1000"] and split["s_to_eval_1000"] else None)
  common.write_results(
      a.name, f"The default run ({a.generations} generations): one CPU device vs one per "
      "core", rows,
      [f"Seconds from process start (imports and compilation included), the two runs one after "
       f"the other in this invocation. Speed-up of the split: {ratio_total:.2f}x total, "
       + (f"{ratio_1000:.2f}x" if ratio_1000 else "n/a") + f" to an evaluation return of "
       f"{TARGET:.0f}.",
       "Evaluations every 10 generations (" + ", ".join(
           f"{g}: {e:.0f}" for g, e in split["evals"]) + ")."])
  if a.generations == 60 and a.name == "cpu_split":
    dest = os.path.join(common.RESULTS_DIR, "default_run")
    os.makedirs(dest, exist_ok=True)
    shutil.copy(os.path.join(split["out"], "metrics.jsonl"), dest)
  shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
  main()
