"""The paper's claims as experiments (issue 14): each script's --quick setting runs, so the
scripts never rot. The committed full results are in benchmarks/results/claims/."""
import json
import math
import os
import subprocess
import sys

from subproc import ROOT


def _quick(script, out):
  env = dict(os.environ, PYTHONPATH=ROOT)
  p = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "claims", script),
                      "--quick", "--out", str(out)], cwd=ROOT, env=env, capture_output=True,
                     text=True, timeout=600)
  assert p.returncode == 0, p.stderr[-2000:]
  return json.loads((out / script.replace(".py", ".json")).read_text())


def test_intrinsic_dim_quick(tmp_path):
  table = _quick("intrinsic_dim.py", tmp_path)
  rows = table["rows"]
  assert {(r["optimizer"], r["D"], r["d"]) for r in rows} == {
      (o, D, d) for o in ("sgd", "adam") for D in (100, 1000) for d in (2, 5)}
  assert all(r["final_f"] < 1.0 for r in rows)  # every run moved the mean towards the target
  assert (tmp_path / "intrinsic_dim.png").stat().st_size > 0
  assert table["machine"]["jax"]


def test_es_vs_ppo_quick(tmp_path):
  table = _quick("es_vs_ppo.py", tmp_path)
  runs = table["runs"]
  assert {(r["env"], r["method"], r["seed"]) for r in runs} == {
      ("hopper", "ES", 0), ("hopper", "PPO", 0)}  # both methods ran, for the one seed
  for r in runs:
    assert r["env_steps"] > 0 and r["evals"] >= 2, r
    assert math.isfinite(r["final_return"]) and math.isfinite(r["best_return"]), r
    assert r["cpu_s"] > 0, r
    steps = [c[0] for c in r["curve"]]
    assert steps == sorted(steps) and all(math.isfinite(c[1]) for c in r["curve"])
  ppo = next(r for r in runs if r["method"] == "PPO")
  assert ppo["env_steps"] >= ppo["budget"]  # PPO ran its budget (ES: 3 generations)
  (row,) = table["rows"]  # one env, one threshold: ES / PPO side by side
  assert row["env"] == "hopper" and row["ratio_env_steps"]
  assert (tmp_path / "es_vs_ppo.png").stat().st_size > 0
  assert table["machine"]["jax"] and table["machine"]["brax"]
