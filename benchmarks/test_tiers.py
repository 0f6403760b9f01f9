"""The two test tiers' durations, from the pytest logs `.ci/run` keeps (`.ci/logs/`).

`.ci/run` runs the README's test command (the quick tier, `python -m pytest -q`) and then the
slow tier (`python -m pytest -q -m slow`), each cold (a fresh compile cache) with
`--durations=30`, teeing each into `.ci/logs/{quick,slow}.txt`. This script reads those logs and
writes `benchmarks/results/test_tiers.{json,md}`: each tier's wall seconds, counts and slowest
tests, and both CI lanes' seconds (`lanes.json`, written by `.ci/run`), with the machine and JAX
version, so the README's "minutes" come from a measurement.

  python -m benchmarks.test_tiers [--logs .ci/logs]
"""
from __future__ import annotations

import argparse
import json
import os
import re

from benchmarks import common

TIERS = {"quick": "python -m pytest -q", "slow": "python -m pytest -q -m slow"}
_SUMMARY = re.compile(r"=* ?(?P<counts>(?:\d+ \w+(?:, )?)+) in (?P<secs>[\d.]+)s")
_DURATION = re.compile(r"^(?P<secs>[\d.]+)s (?P<when>call|setup|teardown)\s+(?P<test>\S+)")


def parse_log(text: str) -> dict:
  """``{seconds, counts: {passed: n, ...}, slowest: [[seconds, phase, test id], ...]}``."""
  summaries = list(_SUMMARY.finditer(text))
  if not summaries:
    raise SystemExit("no pytest summary line in the log")
  last = summaries[-1]
  counts = {}
  for part in last["counts"].split(", "):
    n, what = part.split(" ", 1)
    counts[what] = int(n)
  slowest = [[float(m["secs"]), m["when"], m["test"]]
             for m in map(_DURATION.match, text.splitlines()) if m]
  return {"seconds": round(float(last["secs"]), 1), "counts": counts, "slowest": slowest}


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--logs", default=os.path.join(common.ROOT, ".ci", "logs"),
                      help="folder with quick.txt and slow.txt (pytest output)")
  args = parser.parse_args(argv)
  table = {"machine": common.machine_info()}
  for tier, command in TIERS.items():
    with open(os.path.join(args.logs, f"{tier}.txt")) as f:
      table[tier] = {"command": command, **parse_log(f.read())}
  lanes = os.path.join(args.logs, "lanes.json")  # .ci/run's two lanes, when it ran both
  if os.path.exists(lanes):
    with open(lanes) as f:
      table["lanes"] = json.load(f)
  os.makedirs(common.RESULTS_DIR, exist_ok=True)
  with open(os.path.join(common.RESULTS_DIR, "test_tiers.json"), "w") as f:
    json.dump(table, f, indent=1)
  with open(os.path.join(common.RESULTS_DIR, "test_tiers.md"), "w") as f:
    f.write(markdown(table))
  print(markdown(table))


def markdown(table: dict) -> str:
  m = table["machine"]
  lines = ["# Test tiers, cold (fresh compile cache), as `.ci/run` ran them\n",
           f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, jax {m['jax']}, "
           f"{m['date_utc']} UTC\n", "| tier | command | minutes | tests |", "| --- | --- | ---: | --- |"]
  for tier in TIERS:
    t = table[tier]
    counts = ", ".join(f"{n} {what}" for what, n in t["counts"].items())
    lines.append(f"| {tier} | `{t['command']}` | {t['seconds'] / 60:.1f} | {counts} |")
  if "lanes" in table:
    lanes = table["lanes"]
    lines += ["", f"`.ci/run`: the main lane (install excluded, both tiers) "
              f"{lanes['main_lane_s'] / 60:.1f} min, the newest-JAX lane (.ci/newest_jax.sh) "
              f"{lanes['newest_lane_s'] / 60:.1f} min."]
  for tier in TIERS:
    lines += ["", f"## The {tier} tier's slowest", "", "| seconds | phase | test |",
              "| ---: | --- | --- |"]
    lines += [f"| {s:.1f} | {when} | `{test}` |" for s, when, test in table[tier]["slowest"]]
  return "\n".join(lines) + "\n"


if __name__ == "__main__":
  main()
