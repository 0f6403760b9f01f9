"""The metrics records: one dict per generation, and where the run stands after it.

With several runs (seeds, sweep points; point-major) a record holds each value's mean over the
runs that ran the generation and, under ``NAME_per_seed``, one entry per run (the key says
"seed" for esjax 0.1's files and readers; a sweep's entries are its runs).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from esjax.config.train_config import TrainConfig
from esjax.core import step as step_lib


@dataclasses.dataclass(frozen=True)
class Position:
  """Where a run stands after its latest generation, on the host."""
  generation: int  # the run's: its furthest run's generation
  run_generation: np.ndarray  # (num_runs,) int64: each run's own generation
  env_steps: np.ndarray  # (num_runs,) int64: each run's env steps
  num_records: int  # records written so far (metrics.jsonl's lines)
  last_record: dict[str, Any] | None = None  # the newest, preferring one with an evaluation

  @classmethod
  def of(cls, host_state, generation: int, num_records: int) -> "Position":
    """From the state itself, so a resumed run continues from its checkpoint's counts."""
    return cls(generation, np.atleast_1d(np.asarray(host_state.generation, np.int64)),
               np.atleast_1d(step_lib.steps_value(host_state.env_steps)), num_records)

  def replace(self, **changes) -> "Position":
    return dataclasses.replace(self, **changes)


def finished(config: TrainConfig, at: Position) -> bool:
  """The generation cap (None: none), or every run at its own env-step budget."""
  rt = config.runtime
  return (rt.generations is not None and at.generation >= rt.generations) or (
      rt.env_steps is not None and bool(np.all(at.env_steps >= rt.env_steps)))


def advance(at: Position, row: dict[str, np.ndarray], live: np.ndarray) -> Position:
  """``at`` after one generation of the runs marked ``live`` (num_runs,)."""
  steps = np.where(live, np.atleast_1d(row["gen_env_steps"]), 0).astype(np.int64)
  return at.replace(generation=at.generation + 1, run_generation=at.run_generation + live,
                    env_steps=at.env_steps + steps)


def written(at: Position, rec: dict[str, Any]) -> Position:
  """``at`` once ``rec`` is written; the sweep's verdict reads ``last_record``."""
  last = at.last_record
  keep = last is not None and "eval_return" in last and "eval_return" not in rec
  return at.replace(num_records=at.num_records + 1, last_record=last if keep else rec)


def record(config: TrainConfig, row: dict[str, np.ndarray], live: np.ndarray, at: Position,
           wall_s: float, steps_per_s: float) -> dict[str, Any]:
  """One metrics line for the generation that brought the run to ``at``. With several runs,
  ``live`` (num_runs,) marks the runs that ran this generation: the others have stopped at
  their env-step budget, their per-run values are ``None`` and means are over the live runs;
  ``generation_per_seed`` and ``env_steps_per_seed`` say where each run is (or stopped), and
  ``env_steps`` is their mean."""
  if config.num_runs == 1:
    rec: dict[str, Any] = {"generation": at.generation, "env_steps": int(at.env_steps[0]),
                           "wall_s": round(wall_s, 3), "steps_per_s": steps_per_s}
    rec.update({name: np.asarray(value).item() for name, value in row.items()})
    return rec
  rec = {"generation": at.generation, "env_steps": int(round(float(at.env_steps.mean()))),
         "wall_s": round(wall_s, 3), "steps_per_s": steps_per_s,
         "generation_per_seed": at.run_generation.tolist(),
         "env_steps_per_seed": at.env_steps.tolist()}
  for name, value in row.items():
    value = np.asarray(value)
    rec[name] = float(value[live].mean())
    rec[name + "_per_seed"] = [v if on else None for v, on in zip(value.tolist(), live)]
  return rec


def add(rec: dict[str, Any], config: TrainConfig, name: str, value) -> None:
  """Adds ``name`` (e.g. an evaluation, one value per run) to ``rec`` as ``record`` would."""
  value = np.asarray(value)
  if config.num_runs > 1:
    rec[name] = float(value.mean())
    rec[name + "_per_seed"] = value.tolist()
  else:
    rec[name] = float(value)
