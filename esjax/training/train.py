"""``train``: the story of one run, from a config to its final params.

Set up (``setup.py``), check the compiled step fits (``runtime/preflight.py``), open the run
directory (``rundir/``), restore or start, loop over compiled calls writing records to the sinks
(``loop.py``, ``records.py``, ``sinks/``), checkpoint, finish. Python wakes only between
compiled calls; everything inside a generation stays on the devices.
"""
from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable, Sequence

import jax
import numpy as np

from esjax.config import sweep as sweep_lib
from esjax.config.train_config import TrainConfig
from esjax.core import multihost
from esjax.core import step as step_lib
from esjax.core.mesh import to_host
from esjax.problems.base import Problem
from esjax.rundir import files
from esjax.rundir.rundir import RunDir
from esjax.runtime import compile_cache as cache_lib
from esjax.runtime import preflight
from esjax.runtime.preemption import StopRequest, agree
from esjax.sinks import base as sinks_lib, defaults as default_sinks
from esjax.training import loop, records
from esjax.training.records import Position
from esjax.training.setup import Setup, setup

__all__ = ["TrainResult", "Setup", "setup", "train"]


@dataclasses.dataclass(frozen=True)
class TrainResult:
  """What ``train`` returns: the final mean params (the search distribution's, not a member's),
  the normalizer, every metrics record, the trained policy as ``act: obs -> env action`` (env
  runs; ``esjax.load(...).act`` is the same function), the final state (``state.es`` holds the
  strategy's), and where the run was written."""
  config: TrainConfig
  params: Any  # flax params pytree (leading run axis if num_runs > 1: sweep points x seeds)
  flat_params: np.ndarray
  normalizer: Any
  metrics: list[dict[str, Any]]  # with an out_dir, read from its metrics.jsonl on first use
  act: Callable[[jax.Array], jax.Array] | None  # obs -> action (seed 0 if several)
  state: step_lib.TrainState
  run_dir: str | None
  interrupted: str | None = None  # the signal (SIGTERM/SIGINT) that stopped the run early
  # With a sweep: the grid point with the best final evaluation (mean over its seeds).
  best_setting: dict[str, float] | None = None

  @property
  def policy(self) -> Callable[[jax.Array], jax.Array] | None:
    """``act`` by its earlier name. ``act`` is the one to use: on ``esjax.load``'s
    ``SavedRun``, ``policy`` is the network (``Policy``) and ``act`` this function."""
    return self.act


def train(config: TrainConfig, out_dir: str | None = None, problem: Problem | None = None,
          initial_params: jax.Array | None = None, sinks: Sequence[Any] | None = None,
          resume: bool = False, compile_cache: cache_lib.Setting = True,
          memory_limit: int | str | None = None, policy_module=None, env=None,
          **keywords) -> TrainResult:
  """Trains ``config`` and returns the final params, normalizer, metrics and policy.

  With ``out_dir``, process 0 writes ``config.json``, ``metrics.jsonl`` and ``params.msgpack``
  there, and checkpoints go to ``out_dir/checkpoints`` every ``checkpoint_every`` generations,
  at the end, and on SIGTERM/SIGINT (which then end the run early: ``interrupted`` names the
  signal). ``resume=True`` continues ``out_dir`` from its newest good checkpoint. The directory
  is created only after the config is validated, and is locked while the run writes it
  (``rundir/``); an ``out_dir`` that cannot be created or holds another run's files, and a
  resume's budget below what its checkpoint has done, are refused in one line. A write that
  fails raises ``esjax.errors.RunIOError`` naming the path; the checkpoints before it are
  intact and ``resume=True`` continues from them.

  ``sinks`` receive every record (``esjax.sinks``: ``TensorBoard()``, ``WandbOptions(...)``,
  ``ProgressBar()``, any object with ``write``/``close``, or a callable). Without it: TensorBoard
  under ``out_dir/tb/`` and the progress bar, which the shorthand keywords ``progress=False``,
  ``tensorboard=False``, ``wandb=WandbOptions(...)`` and ``on_record=fn`` adjust. With the
  progress bar, a block first says the devices, parameters, bytes crossing devices and memory.

  ``compile_cache``: JAX's persistent compilation cache (``runtime/compile_cache.py``; True: the
  default directory, a path, or None/False: off). ``memory_limit`` (bytes, or "512M", "2G")
  replaces what a device is taken to have when checking that the step fits (``preflight.py``).
  ``env``: your own env object instead of the config's named env (docs/environments.md).
  """
  cache_lib.configure(compile_cache)
  sinks = default_sinks.resolve(sinks, keywords, out_dir)  # checked before anything is built
  run_dir = RunDir(out_dir, resume, config.runtime.generations)  # a bad out_dir fails here
  s = setup(config, problem, initial_params, policy_module, env)
  config, is_main = s.config, multihost.is_main_process()
  talk = is_main and default_sinks.shows_progress(sinks)
  run_generations, evaluate = _preflight(
      s, memory_limit, talk, lambda c: setup(c, problem, initial_params, policy_module, env))
  with run_dir:
    start = run_dir.start(config, s.state, s.mesh, _built_for(s))
    at = Position.of(to_host(start.state), start.generation, start.num_records)
    outputs = [run_dir.records] + sinks_lib.open_all(sinks, config, out_dir, is_main)
    # Every process has compiled the step and set up its files: start the first collective
    # together (multihost.barrier says why).
    multihost.barrier("first generation")
    if run_dir.checkpointing and jax.process_count() > 1:
      agree(False)  # compiles the stop agreement's gather now, while the processes are in step
    stop = StopRequest(enabled=run_dir.checkpointing, message=(
        "esjax: {signal}: stopping after the current generation to save a checkpoint "
        "(Ctrl-C again aborts without one)" if is_main else None))
    with stop, sinks_lib.closing(outputs):
      state, at = loop.run(config, run_generations, evaluate, start.state, at, run_dir,
                           outputs, stop, time.time() - start.wall_s)
    # A signal that arrived during the last generation still leaves a finished run.
    interrupted = None if records.finished(config, at) else stop.requested
    result = _result(s, state, run_dir, at, interrupted)
  # Leave together: a process that finishes first (its final evaluation compiled sooner) would
  # otherwise wait in JAX's shutdown barrier, whose timeout is seconds, for a slower peer.
  multihost.barrier("train done")
  if talk:
    _print_best(config, at.last_record)
  return result


def _preflight(s: Setup, memory_limit, talk: bool,
               rebuild: Callable[[TrainConfig], Setup]) -> tuple[Callable, Callable]:
  """(run_generations, evaluate), compiled ahead of time (the loop reuses them) and checked to
  fit before any directory is written; a step that cannot fit raises ConfigError naming the
  largest population that would (``rebuild`` sets up other populations to find it)."""
  limit = preflight.parse_size(memory_limit) if memory_limit else None
  plan = preflight.plan(s, limit)
  # Populations tried are ones this layout takes: whole pairs and member chunks per device, on
  # these devices (left free, a CPU split would pick its own count for each).
  group = math.lcm(2 if s.strategy.mirrored else 1, s.config.runtime.member_chunk or 1)
  preflight.check_fits(plan, multiple=s.mesh.size * group,
                       replan=lambda pop: preflight.plan(rebuild(s.config.replace(
                           population_size=pop, num_devices=s.mesh.size)), limit))
  if talk:
    print("\n".join(plan.lines()), flush=True)
  # The evaluation too, before the first barrier: a process that compiled it at its first
  # evaluation could leave its peers waiting past gloo's 30 s in the next collective.
  evaluate = (s.evaluate.lower(s.state).compile() if s.config.runtime.eval_every
              and jax.process_count() > 1 else s.evaluate)
  return plan.compiled or s.run_generations, evaluate


def _built_for(s: Setup) -> tuple[str, int, int]:
  """What the run's checkpoints hold arrays for: (problem kind, obs size, action size)."""
  return "brax" if s.policy is not None else "custom", s.problem.obs_size, s.action_size


def _best(config: TrainConfig, last_record: dict[str, Any] | None):
  """A sweep's (point, metric, value) with the best final evaluation; None without a sweep."""
  return sweep_lib.best(config, last_record) if last_record is not None else None


def _result(s: Setup, state, run_dir: RunDir, at: Position,
            interrupted: str | None) -> TrainResult:
  """The run's result; a finished env run's params.msgpack is written here, by process 0."""
  config, host = s.config, to_host(state)
  flat = host.es.mean
  act, params = None, None
  unravel = s.policy.unravel if s.policy is not None else s.unravel
  if unravel is not None:  # a custom problem given pytree params gets the same tree back
    params = unravel(flat) if config.num_runs == 1 else jax.vmap(unravel)(flat)
  if s.policy is not None:
    act = files.make_act(s.policy, *files.first_seed(flat, host.normalizer), config, s.act,
                         s.obs)
    if not interrupted:
      run_dir.save_params(flat, host.normalizer, s.obs, s.act)
  best = _best(config, at.last_record)
  return TrainResult(config, params, flat, host.normalizer, run_dir.metrics(at.num_records),
                     act, host, run_dir.path, interrupted, best[0] if best else None)


def _print_best(config: TrainConfig, last_record: dict[str, Any] | None) -> None:
  best = _best(config, last_record)
  if best is None:
    return
  point, metric, value = best
  seeds = config.runtime.num_seeds
  print(f"best setting: {sweep_lib.label(point)} ({metric} {value:.1f}, mean over "
        f"{seeds} seed{'s' if seeds > 1 else ''})", flush=True)
