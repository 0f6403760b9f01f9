"""Trains presets with their exact command and keeps the evidence for their ``verified`` field.

For each preset: ``esjax train --preset NAME --out DIR --quiet --no-tensorboard`` in a
subprocess (the output flags change where files go, not what is trained), then ``esjax plot``.
The run's ``config.json``, ``metrics.jsonl`` and ``curves.png`` are kept under
``benchmarks/results/presets/NAME/``, and one row per preset (final and best evaluation, the
env steps of each, generations, wall time) in ``benchmarks/results/presets.md``; rows of
presets not run this time are kept from the previous table.

    python -m benchmarks.presets cartpole_balance cheetah_run
    python -m benchmarks.presets breakout_minatar --extra --generations 10   # a shorter check

``--extra`` flags go to every ``esjax train`` (a row records them: such a row is not the
preset's exact command).

Runs made on a lent GPU machine (``bash benchmarks/gpu.sh presets``, which cuts them at a
deadline) come back as the same kept files plus the machine's description; ``--recorded``
tables them without training, in ``presets_gpu.md`` with that machine:

    python -m benchmarks.presets ant humanoid --recorded /work/.device/1 --machine-json M.json
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

# The environment as the user gave it: importing esjax below adds its CPU device split to
# XLA_FLAGS, and a child that inherited that would run on a layout the user's own
# `esjax train --preset NAME` might not choose (a small population runs on one device).
USER_ENV = dict(os.environ)

from benchmarks import common  # noqa: E402
from esjax.rundir import files  # noqa: E402

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
  row = summarize(name, " ".join(command), run_dir, wall)
  shutil.rmtree(run_dir)
  return row


def summarize(name: str, command: str, run_dir: str, wall: float | None) -> dict:
  """One table row from a run's metrics: its last and best evaluation, steps and times."""
  records = files.read_metrics(run_dir)
  evals = [r for r in records if "eval_return" in r]
  last, best = evals[-1], max(evals, key=lambda r: r["eval_return"])
  return {"preset": name, "command": command,
          "eval_return": round(last["eval_return"], 2),
          "eval_std": round(last.get("eval_return_std", float("nan")), 2),
          "env_steps": last["env_steps"], "generations": records[-1]["generation"],
          "best_eval_return": round(best["eval_return"], 2),
          "best_at_env_steps": best["env_steps"],
          "train_wall_s": round(records[-1]["wall_s"], 1),
          "process_wall_s": None if wall is None else round(wall, 1),
          "date_utc": time.strftime("%Y-%m-%d %H:%M")}


def recorded(name: str, root: str) -> dict:
  """A row for a run made elsewhere, from ROOT/NAME's kept files; they are copied to
  presets/NAME/ (curves drawn here if they did not come back)."""
  src = os.path.join(root, name)
  with open(os.path.join(src, "config.json")) as f:
    generations_planned = json.load(f)["runtime"]["generations"]
  keep = os.path.join(OUT, name)
  if os.path.abspath(src) != os.path.abspath(keep):
    shutil.rmtree(keep, ignore_errors=True)
    os.makedirs(keep)
    for f in KEPT:
      if os.path.exists(os.path.join(src, f)):
        shutil.copy2(os.path.join(src, f), keep)  # with its time: the row's date is the run's
  if not os.path.exists(os.path.join(keep, "curves.png")):
    subprocess.run(["esjax", "plot", keep], check=True, stdout=subprocess.DEVNULL, env=USER_ENV)
  # gpu.sh's log says how long each process ran ("NAME: exit RC after T s").
  wall = None
  log = os.path.join(root, "presets.log")
  if os.path.exists(log):
    with open(log) as f:
      hits = re.findall(rf"^{re.escape(name)}: exit \d+ after (\d+) s", f.read(), re.M)
    wall = float(hits[-1]) if hits else None
  row = summarize(name, f"esjax train --preset {name}", keep, wall)
  row["date_utc"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime(os.path.getmtime(
      os.path.join(keep, "metrics.jsonl"))))
  # A run cut at the machine's deadline is a partial run of the exact command: say how far.
  row["generations"] = f"{row['generations']} of {generations_planned}"
  return row


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("presets", nargs="+")
  p.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                 help="flags passed on to esjax train (rows then say so)")
  p.add_argument("--recorded", metavar="DIR",
                 help="table runs made elsewhere (DIR/NAME/config.json, metrics.jsonl) "
                      "instead of training; rows go to presets_gpu.md")
  p.add_argument("--machine-json", metavar="FILE",
                 help="with --recorded: the machine the runs were made on (gpu.sh writes it)")
  a = p.parse_args()
  if a.recorded and not a.machine_json:
    p.error("--recorded needs --machine-json FILE (the machine the runs were made on)")
  table = "presets_gpu" if a.recorded else "presets"
  previous = os.path.join(common.RESULTS_DIR, table + ".json")
  rows = {}
  if os.path.exists(previous):
    with open(previous) as f:
      rows = {r["preset"]: r for r in json.load(f)["rows"]}
  for name in a.presets:
    rows[name] = recorded(name, a.recorded) if a.recorded else train(name, a.extra)
    common.log(rows[name])
  notes = ["Each row: `esjax train --preset NAME` (plus the flags in its command, if any), with "
           "--out/--quiet/--no-tensorboard; curves and metrics in presets/NAME/.",
           "eval_return: the last evaluation (deterministic policy, the preset's "
           "eval_episodes), eval_std its spread over episodes; train_wall_s from the run's "
           "metrics, from the first generation on (the evaluation's compile counted, the "
           "step's, made before it, not); process_wall_s with start-up, the step's compile "
           "and the final save."]
  machine = None
  if a.recorded:
    with open(a.machine_json) as f:
      machine = json.load(f)
    notes += ["Made on a lent GPU machine by `bash benchmarks/gpu.sh presets`, which cuts each "
              "run at a shared deadline (generations: run of planned; process_wall_s is then the "
              "cut, with no final save)."]
  else:
    notes += ["The machine is a shared 2-core CPU: wall times are upper bounds for it."]
  common.write_results(
      table, "Presets trained with their exact command" + (" (GPU)" if a.recorded else ""),
      list(rows.values()), notes, machine=machine,
      command="python -m benchmarks.presets NAME (the latest: " + " ".join(sys.argv[1:]) +
      "); each row's command is what it trained")


if __name__ == "__main__":
  main()
