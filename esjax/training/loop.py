"""The loop: compiled calls of ``generations_per_call`` generations, each followed by its
records, an evaluation, the stop agreement and a checkpoint when they are due.

Python wakes only between calls; a call is cut short where an evaluation or a checkpoint falls
due, so both happen at exactly the generations the config names.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np

from esjax.config.train_config import TrainConfig
from esjax.core import step as step_lib
from esjax.core.mesh import to_host
from esjax.rundir.rundir import RunDir
from esjax.runtime.preemption import StopRequest, agree
from esjax.training import records
from esjax.training.records import Position


def call_size(config: TrainConfig, generation: int, checkpointing: bool) -> int:
  """Generations in the next call: at most ``generations_per_call``, ending at the generation
  cap (None: none) and at the next evaluation or checkpoint."""
  rt = config.runtime
  n = rt.generations_per_call
  if rt.generations is not None:
    n = min(n, rt.generations - generation)
  if rt.eval_every:
    n = min(n, rt.eval_every - generation % rt.eval_every)
  if checkpointing and rt.checkpoint_every:
    n = min(n, rt.checkpoint_every - generation % rt.checkpoint_every)
  return n


def run(config: TrainConfig, run_generations: Callable, evaluate: Callable, state,
        at: Position, run_dir: RunDir, sinks: Sequence[Any], stop: StopRequest,
        t0: float) -> tuple[Any, Position]:
  """Runs until the config's budget is spent or a stop signal is agreed on (every process stops
  after the same call, the checkpointed one); returns the final state and position."""
  rt = config.runtime
  while not records.finished(config, at):
    n = call_size(config, at.generation, run_dir.checkpointing)
    t_call = time.time()
    state, buf, ran = run_generations(state, n)
    buf, ran = to_host(buf), np.atleast_1d(to_host(ran))
    timing = (t0, t_call, time.time())
    at = _write_call(config, buf, ran, at, timing, lambda: evaluate(state), sinks)
    done = records.finished(config, at)
    stopping = run_dir.checkpointing and agree(stop.requested is not None)
    if run_dir.checkpointing and (done or stopping or (
        rt.checkpoint_every and at.generation % rt.checkpoint_every == 0)):
      run_dir.checkpoint(to_host(state), at.generation, int(at.env_steps.sum()),
                         time.time() - t0, at.num_records)
    if stopping:
      stop.requested = stop.requested or "SIGTERM"  # another process got the signal
      break
  return state, at


def _write_call(config: TrainConfig, buf, ran: np.ndarray, at: Position,
                timing: tuple[float, float, float], evaluate: Callable,
                sinks: Sequence[Any]) -> Position:
  """Writes one record per generation of a call to every sink; the call's last one carries
  the evaluation when it is due. ``ran`` (num_runs,): the generations each run ran (fewer than
  asked where the env-step budget stopped it)."""
  t0, t_call, t_end = timing
  rt = config.runtime
  rows = int(ran.max())
  for k in range(rows):
    live = k < ran  # (num_runs,): the runs that ran this generation
    row = {name: v[k] for name, v in step_lib.metric_rows(buf).items()}
    before, at = at, records.advance(at, row, live)
    steps = int((at.env_steps - before.env_steps).sum())
    # Generations fused in one call share its wall time evenly.
    wall = t_call - t0 + (t_end - t_call) * (k + 1) / rows
    rec = records.record(config, row, live, at, wall, steps * rows / max(t_end - t_call, 1e-9))
    done = records.finished(config, at)
    if k == rows - 1 and rt.eval_every and (at.generation % rt.eval_every == 0 or done):
      mean, std = to_host(evaluate())
      records.add(rec, config, "eval_return", mean)
      records.add(rec, config, "eval_return_std", std)
    at = records.written(at, rec)
    for sink in sinks:
      sink.write(rec)
    if done:
      break
  return at
