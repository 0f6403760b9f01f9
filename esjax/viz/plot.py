"""Learning curves from ``metrics.jsonl``: ``esjax plot DIR [DIR ...] --out curves.png``.

Four panels: evaluation return and population mean return, each against env steps and
against wall time, with every run overlaid and named by its directory; a ``--sweep`` run
draws one curve per grid point (the mean over its seeds), its setting in the legend. The population max
is drawn as a faint band edge because ES's best member is a noisy, optimistic signal.
"""
from __future__ import annotations

import json
import os
from typing import Any

# A bare Figure renders with Agg and never touches pyplot's global backend: no display is
# needed, and importing esjax inside a notebook leaves its inline backend alone.
from matplotlib.figure import Figure

from esjax.errors import ConfigError
from esjax.rundir.files import METRICS_FILE


def read_curves(run_dir: str) -> list[dict[str, Any]]:
  """The records of ``run_dir/metrics.jsonl``; a cut-off last line (a killed run) is skipped."""
  path = os.path.join(run_dir, METRICS_FILE)
  try:
    with open(path) as f:
      lines = [line for line in f.read().splitlines() if line.strip()]
  except FileNotFoundError:
    raise ConfigError(f"{path!r} not found; expected a run directory written by `esjax train`")
  records = []
  for i, line in enumerate(lines):
    try:
      rec = json.loads(line)
    except json.JSONDecodeError:
      if i == len(lines) - 1:
        break  # the run was killed mid-write; everything before it is whole
      raise ConfigError(f"{path!r} line {i + 1} is not valid JSON; the metrics file is damaged")
    if not isinstance(rec, dict) or "generation" not in rec:
      raise ConfigError(f"{path!r} line {i + 1} is not an esjax metrics record")
    records.append(rec)
  if not records:
    raise ConfigError(f"{path!r} holds no metrics yet; nothing to plot")
  return records


def _labels(run_dirs: list[str]) -> list[str]:
  """Run names: the directory's base name, with its parent added where two would clash."""
  names = [os.path.basename(os.path.normpath(d)) for d in run_dirs]
  labels = [os.path.join(os.path.basename(os.path.dirname(os.path.abspath(d))), n)
            if names.count(n) > 1 else n for d, n in zip(run_dirs, names)]
  # The same directory given twice still gets two legend entries.
  return [f"{l} ({labels[:i].count(l) + 1})" if labels.count(l) > 1 else l
          for i, l in enumerate(labels)]


def _sweep_of(run_dir: str) -> tuple[list[dict[str, float]], int]:
  """(grid points, seeds per point) of a sweep run; ``([], 1)`` otherwise."""
  try:
    with open(os.path.join(run_dir, "config.json")) as f:
      config = json.load(f)
  except (OSError, ValueError):
    return [], 1
  if not isinstance(config.get("strategy"), dict) or not config["strategy"].get("sweep"):
    return [], 1
  from esjax.config import sweep as sweep_lib  # pylint: disable=g-import-not-at-top
  return sweep_lib.points(config["strategy"]["sweep"]), int(config["runtime"]["num_seeds"])


def _point_records(records, index: int, seeds: int):
  """A sweep point's curve: each per-run list reduced to the mean over the point's seeds."""
  out = []
  for rec in records:
    row = {"generation": rec["generation"], "wall_s": rec["wall_s"]}
    for name, value in rec.items():
      if name.endswith("_per_seed") and isinstance(value, list):
        vals = [v for v in value[index * seeds:(index + 1) * seeds] if v is not None]
        if vals:
          row[name[:-len("_per_seed")]] = sum(vals) / len(vals)
    out.append(row)
  return out


def curves(run_dir: str, label: str) -> list[tuple[str, list[dict[str, Any]]]]:
  """``(legend label, records)`` per curve: one for a run, one per grid point for a sweep."""
  records = read_curves(run_dir)
  grid, seeds = _sweep_of(run_dir)
  if len(grid) < 2:
    return [(label, records)]
  from esjax.config import sweep as sweep_lib  # pylint: disable=g-import-not-at-top
  return [(f"{label}: {sweep_lib.label(p)}", _point_records(records, i, seeds))
          for i, p in enumerate(grid)]


def curve_labels(*run_dirs: str) -> list[str]:
  return [l for d, name in zip(run_dirs, _labels(list(run_dirs))) for l, _ in curves(d, name)]


def _series(records, x_key, y_key):
  pts = [(r[x_key], r[y_key]) for r in records if y_key in r and r[y_key] is not None]
  return [p[0] for p in pts], [p[1] for p in pts]


def plot_runs(run_dirs: list[str], out: str, title: str | None = None) -> str:
  """Writes the learning curves of ``run_dirs`` to ``out`` (format from its suffix)."""
  # Every input is checked before any drawing; a sweep run gives one curve per grid point.
  runs = [c for d, name in zip(run_dirs, _labels(run_dirs)) for c in curves(d, name)]
  fig = Figure(figsize=(12, 8))
  axes = fig.subplots(2, 2, squeeze=False)
  panels = [("eval_return", "env_steps"), ("eval_return", "wall_s"),
            ("pop_return_mean", "env_steps"), ("pop_return_mean", "wall_s")]
  y_names = {"eval_return": "evaluation return (unperturbed policy)",
             "pop_return_mean": "population return (mean, max dotted)"}
  x_names = {"env_steps": "env steps", "wall_s": "wall time (s)"}
  for ax, (y_key, x_key) in zip(axes.flat, panels):
    for i, (label, records) in enumerate(runs):
      color = f"C{i % 10}"
      xs, ys = _series(records, x_key, y_key)
      ax.plot(xs, ys, color=color, label=label, marker="o" if y_key == "eval_return" else None,
              markersize=3)
      if y_key == "pop_return_mean":
        xs, ys = _series(records, x_key, "pop_return_max")
        ax.plot(xs, ys, color=color, linestyle=":", linewidth=1)
    ax.set_xlabel(x_names[x_key])
    ax.set_ylabel(y_names[y_key])
    ax.grid(alpha=0.3)
  axes[0, 0].legend(loc="best", fontsize="small")
  fig.suptitle(title or f"esjax learning curves ({len(run_dirs)} run"
               f"{'s' if len(run_dirs) > 1 else ''})")
  fig.tight_layout()
  # Write aside and rename: a reader never sees half an image.
  root, ext = os.path.splitext(out)
  tmp = f"{root}.tmp{ext}"
  try:
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, out)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)
  return out
