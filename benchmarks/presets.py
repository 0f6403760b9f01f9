"""Trains presets with their exact command and keeps the evidence for their ``verified`` field.

For each preset: ``esjax train --preset NAME --out DIR --quiet --no-tensorboard`` in a
subprocess (the output flags change where files go, not what is trained), then ``esjax plot``.
The run's ``config.json``, ``metrics.jsonl`` and ``curves.png`` are kept under
``benchmarks/results/presets/NAME/``, and one row per preset (final and best evaluation, the
env steps of each, generations, wall time) in ``benchmarks/results/presets.md``; rows of
presets not run this time are kept from the previous table.

    python benchmarks/presets.py cartpole_balance cheetah_run
    python benchmarks/presets.py breakout_minatar --extra --generations 10   # a shorter check

``--extra`` flags go to every ``esjax train`` (a row records them: such a row is not the
preset's exact command).
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

# The environment as the user gave it: importing esjax below adds its CPU device split to
# XLA_FLAGS, and a child that inherited that would run on a layout the user's own
# `esjax train --preset NAME` might not choose (a small population runs on one device).
USER_ENV = dict(os.environ)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import common  # noqa: E402
from esjax.run import files  # noqa: E402

OUT = os.path.join(common.RESULTS_DIR, "presets")
KEPT = ("config.json", "metrics.jsonl", "curves.png")


def train(name: str, extra: list[str]) -> dict:
  run_dir = tempfile.mkdtemp(prefix=f"esjax_preset_{name}_")
  shutil.rmtree(run_dir)  # esjax train --out wants a new directory
  command = ["esjax", "train", "--preset", name, *extra]
  t0 = time.perf_counter()
  subprocess.run(command + ["--out", run_dir, "--quiet", "--no-tensorboard"], check=True,
                 env=USER_ENV)
  wall = time.perf_counter() - t0
  subprocess.run(["esjax", "plot", run_dir], check=True, stdout=subprocess.DEVNULL, env=USER_ENV)
  keep = os.path.join(OUT, name)
  shutil.rmtree(keep, ignore_errors=True)
  os.makedirs(keep)
  for f in KEPT:
    shutil.copy(os.path.join(run_dir, f), keep)
  records = files.read_metrics(run_dir)
  shutil.rmtree(run_dir)
  evals = [r for r in records if "eval_return" in r]
  last, best = evals[-1], max(evals, key=lambda r: r["eval_return"])
  return {"preset": name, "command": " ".join(command),
          "eval_return": round(last["eval_return"], 2),
          "eval_std": round(last.get("eval_return_std", float("nan")), 2),
          "env_steps": last["env_steps"], "generations": records[-1]["generation"],
          "best_eval_return": round(best["eval_return"], 2),
          "best_at_env_steps": best["env_steps"],
          "train_wall_s": round(records[-1]["wall_s"], 1),
          "process_wall_s": round(wall, 1), "date_utc": time.strftime("%Y-%m-%d %H:%M")}


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("presets", nargs="+")
  p.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                 help="flags passed on to esjax train (rows then say so)")
  a = p.parse_args()
  previous = os.path.join(common.RESULTS_DIR, "presets.json")
  rows = {}
  if os.path.exists(previous):
    with open(previous) as f:
      rows = {r["preset"]: r for r in json.load(f)["rows"]}
  for name in a.presets:
    rows[name] = train(name, a.extra)
    common.log(rows[name])
  common.write_results(
      "presets", "Presets trained with their exact command", list(rows.values()),
      ["Each row: `esjax train --preset NAME` (plus the flags in its command, if any), with "
       "--out/--quiet/--no-tensorboard; curves and metrics in presets/NAME/.",
       "eval_return: the last evaluation (deterministic policy, the preset's eval_episodes), "
       "eval_std its spread over episodes; train_wall_s from the run's metrics (compile "
       "included), process_wall_s with start-up and the final save.",
       "The machine is a shared 2-core CPU: wall times are upper bounds for it."],
      command="python benchmarks/presets.py NAME (the latest: " + " ".join(sys.argv[1:]) +
      "); each row's command is what it trained")


if __name__ == "__main__":
  main()
