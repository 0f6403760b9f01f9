"""What the persistent compilation cache saves: process start to the first generation's record.

For each case, two identical ``esjax train`` processes share a fresh, empty cache directory:
the first compiles and fills it, the second loads its executables from it. The time is from
``Popen`` to the first line of ``metrics.jsonl`` (polled every 20 ms), so it counts Python and
JAX start-up, imports, env construction, compilation (or cache loads) and the first generation.

    python -m benchmarks.compile_cache            # ~5-10 min on a 2-core CPU
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchmarks import common
CASES = {
    "hopper (default run)": ["--generations", "1", "--eval-every", "0"],
    "ant (population 64)": ["--env", "ant", "--population-size", "64", "--generations", "1",
                           "--eval-every", "0"],
}


def run_once(flags, cache: str, work: str, tag: str) -> dict:
  out = os.path.join(work, tag)
  cmd = [sys.executable, "-m", "esjax", "train", *flags, "--quiet", "--out", out,
         "--compile-cache", cache]
  env = dict(os.environ, PYTHONPATH=common.ROOT)
  env.pop("JAX_COMPILATION_CACHE_DIR", None)
  metrics = os.path.join(out, "metrics.jsonl")
  t0 = time.perf_counter()
  proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
  first = None
  while proc.poll() is None:
    if first is None and os.path.exists(metrics) and os.path.getsize(metrics) > 0:
      first = time.perf_counter() - t0
    time.sleep(0.02)
  total = time.perf_counter() - t0
  stdout, stderr = proc.communicate()
  if proc.returncode != 0:
    raise RuntimeError(f"{cmd} failed ({proc.returncode}): {stderr[-2000:]}")
  if first is None:  # finished between two polls
    first = total
  entries = [f for f in os.listdir(cache) if f.endswith("-cache")]
  size = sum(os.path.getsize(os.path.join(cache, f)) for f in entries)
  return {"to_first_record_s": round(first, 2), "process_total_s": round(total, 2),
          "cache_entries": len(entries), "cache_mb": round(size / 2**20, 2)}


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
  args = ap.parse_args()
  rows = []
  work = tempfile.mkdtemp(prefix="esjax-cc-bench-")
  try:
    for name in args.cases.split(","):
      cache = os.path.join(work, f"cache-{len(rows)}")  # fresh and empty per case
      os.makedirs(cache)
      first = run_once(CASES[name], cache, work, f"{len(rows)}-first")
      common.log(name, "first", first)
      second = run_once(CASES[name], cache, work, f"{len(rows)}-second")
      common.log(name, "second", second)
      rows.append({"case": name, "run": "1st (empty cache)", **first})
      rows.append({"case": name, "run": "2nd (same cache)", **second,
                   "saved_s": round(first["to_first_record_s"] - second["to_first_record_s"], 2)})
  finally:
    shutil.rmtree(work, ignore_errors=True)
  common.write_results(
      "compile_cache", "Persistent compilation cache: process start to the first record", rows,
      notes=["Each case: two identical `esjax train ... --generations 1 --eval-every 0 --quiet` "
             "processes with one fresh --compile-cache directory; the 1st fills it, the 2nd "
             "reads it.",
             "to_first_record_s: Popen to the first line of metrics.jsonl (start-up, imports, "
             "env build, compile or cache load, the first generation); process_total_s: to "
             "exit (adds checkpoint and params writes).",
             "The machine is a shared 2-core CPU (see load_avg_1m): compare rows within a case."],
      columns=["case", "run", "to_first_record_s", "process_total_s", "saved_s",
               "cache_entries", "cache_mb"])


if __name__ == "__main__":
  main()
