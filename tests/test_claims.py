"""The paper's claims as experiments (issue 14): each script's --quick setting runs, so the
scripts never rot. The committed full results are in benchmarks/results/claims/."""
import json
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


def test_minatar_quick(tmp_path):
  import pytest
  pytest.importorskip("gymnax")
  table = _quick("minatar.py", tmp_path)
  (row,) = table["rows"]
  assert row["game"] == "Breakout-MinAtar" and row["env_steps"] >= 1500
  assert row["ppo_readme_return"] == 28.0
  assert row["es_eval_return"] == row["es_eval_return"]  # a number, not NaN: it evaluated
  assert (tmp_path / "minatar.png").stat().st_size > 0


def test_parameterization_quick(tmp_path):
  import pytest
  pytest.importorskip("gymnax")
  table = _quick("parameterization.py", tmp_path)
  rows = {r["variant"]: r for r in table["rows"]}
  assert set(rows) == {"mlp", "mlp+vbn", "init x0.1", "init x10", "residual", "big head"}
  assert all(r["env_steps"] >= 3000 and r["final_eval_mean"] > 0 for r in rows.values())
  assert rows["residual"]["params"] == rows["init x10"]["params"]  # same shapes, other init
  assert (tmp_path / "parameterization.png").stat().st_size > 0
