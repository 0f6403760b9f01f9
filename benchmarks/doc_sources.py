"""Where the generated figures of the docs come from: the committed result files under
``benchmarks/results/`` (each with its machine, JAX version, devices and date) and the tests'
constants, read as text and AST: nothing here imports jax or esjax.
"""
from __future__ import annotations

import ast
import json
import os

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
    plural = "s" * (n != 1)
    host = f"{machine.get('cpu', 'CPU')}, {machine.get('cores')} cores, {n} CPU device{plural}"
  else:
    host = f"{n} × {kind}"
  return f"{host}, jax {machine['jax']}, {str(machine['date_utc'])[:10]}"


def metrics(path: str) -> list[dict]:
  with open(os.path.join(RESULTS, path)) as f:
    return [json.loads(line) for line in f if line.strip()]


def millions(steps: float) -> str:
  return f"{steps / 1e6:.2f}M"


def same_bits(row: dict) -> bool:
  """Whether a live_steps row's variant ended in the params of every other it was compared to."""
  return all(row.get(f"same_bits_as_{k}", True) for k in ("off", "queue_64"))


def bare_ratio(row, digits: int = 2) -> str:
  """A live_steps row's median ratio to bare physics and the spread of its rounds (``digits``
  3 where it is read against a bar: 0.698 is not 0.70)."""
  values = [float(x) for x in row["rounds_/bare"].split(" / ")]
  return f"{row['/bare']:.{digits}f} (rounds {min(values):.{digits}f}-{max(values):.{digits}f})"
