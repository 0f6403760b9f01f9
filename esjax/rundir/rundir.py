"""``RunDir``: everything one run keeps on disk, behind one object.

Its parts: the lock (``lock.py``), the run files (``files.py``: config.json, metrics.jsonl,
params.msgpack; the first and last stamped by ``versioning.py``), the I/O guard of the files
written by others (``io_guard.py``) and the checkpoints (``checkpoint.py``, orbax: imported only by a run
that has a directory). Opened as a context manager around the part of a run that writes:

    with RunDir(out_dir, resume) as run_dir:
      start = run_dir.start(config, state, mesh, built_for)
      ... run_dir.records.write(record); run_dir.checkpoint(...)
      run_dir.save_params(...)

Only process 0 touches the directory: it takes the lock, writes every file and checkpoint and,
on resume, reads the checkpoint and sends the state to the others (``multihost.from_main``).
The ES state is the same on every process, so a multi-host run needs no shared filesystem:
each host may be given its own ``--out`` (every process one, or none: they pass the same
barriers), and only process 0's holds the run. A check only process 0 can make (the lock, the
checkpoints there) fails on every process alike (``multihost.main_decides``).
On an error the lock is freed at once and a directory this run created and never wrote into is
removed: files are written whole (written aside, then renamed), so nothing half-written stays.
``RunDir(None)`` is a run without a directory: it keeps its records in memory, writes nothing.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
from typing import Any

import jax
import numpy as np

from esjax.core import multihost
from esjax.core.mesh import replicate, to_host
from esjax.errors import ConfigError
from esjax.rundir import files, lock as lock_lib


@dataclasses.dataclass(frozen=True)
class Start:
  """Where a run starts: fresh, or from its newest good checkpoint."""
  state: Any  # replicated over the mesh
  generation: int
  wall_s: float  # the wall time already spent (a resumed run's clock continues)
  num_records: int


class _InMemory:
  """The records of a run that has no metrics.jsonl to hold them (no directory, or a process
  other than 0)."""

  def __init__(self, records: list[dict[str, Any]]):
    self.records = records

  def write(self, record: dict[str, Any]) -> None:
    self.records.append(record)

  def close(self) -> None:
    pass


class RunDir:
  """One run's directory (``path``; None: none); ``resume`` continues its newest checkpoint,
  up to ``generations`` (the config's cap; None: none)."""

  def __init__(self, path: str | None, resume: bool = False, generations: int | None = None):
    if resume and path is None:
      raise ConfigError("resume=True needs the out_dir of the run to continue")
    self.path, self.resume = path, resume
    self._is_main = jax.process_index() == 0
    # Before building envs and compiling: a quick error, and nothing created or rewritten.
    if resume:
      multihost.main_decides("resume has checkpoints",
                             lambda: self._checkpoints().require_checkpoints(path, generations))
    elif path is not None:
      multihost.main_decides("new run directory", self._check_new)
    self.records: Any = _InMemory([])  # the record sink: metrics.jsonl once started on process 0
    self._lock = self._checkpointer = None
    self._created = False

  @property
  def checkpointing(self) -> bool:
    return self.path is not None

  def __enter__(self) -> "RunDir":
    if self.path is not None:
      self._created = self._is_main and not os.path.exists(self.path)
      self._lock = multihost.main_decides("run directory lock",
                                          lambda: lock_lib.acquire(self.path))  # creates it
    return self

  def __exit__(self, exc_type, exc, tb) -> None:
    if self._checkpointer is not None:
      self._checkpointer.close()
      self._checkpointer = None
    if self._lock is not None:
      self._lock.release()
      self._lock = None
      if exc_type is not None and self._created and lock_lib.only_lock_file(self.path):
        os.remove(lock_lib.lock_path(self.path))
        os.rmdir(self.path)

  def start(self, config, state, mesh, built_for: tuple[str, int, int]) -> Start:
    """Restores (resume) or checks the directory is new; writes config.json and metrics.jsonl
    (process 0) and opens the checkpoints. ``state`` is the fresh, replicated state;
    ``built_for`` is (problem kind, obs size, action size), what checkpoints are checked for."""
    if self.path is None:
      return Start(state, 0, 0.0, 0)
    ckpt_lib = self._checkpoints()
    fingerprint = ckpt_lib.fingerprint(config, *built_for)
    start, records = Start(state, 0, 0.0, 0), []
    if self.resume:
      start, records = self._restore(config, state, mesh, fingerprint)
    else:  # again under the lock: another run may have written here since __init__
      multihost.main_decides("new run directory", lambda: ckpt_lib.require_no_run(self.path))
    self.records = _InMemory(records)
    if self._is_main:
      os.makedirs(self.path, exist_ok=True)
      # Every option resolved: a resumed run keeps its values even if a default changes.
      files.write_config(self.path, config.replace(**config.strategy.resolved()))
      files.rewrite_metrics(self.path, records)  # on resume: one line per generation kept
      self.records = files.MetricsWriter(self.path)  # the records live there
      self._checkpointer = ckpt_lib.Checkpointer(self.path, config.runtime.keep_checkpoints,
                                                 fingerprint)
    return start

  def _restore(self, config, state, mesh, fingerprint) -> tuple[Start, list[dict[str, Any]]]:
    """The newest good checkpoint, read by process 0 and sent to every process bit for bit
    (another host's disk may hold no copy, or an older one). A config the run cannot resume
    with, or a checkpoint that does not fit it, fails on every process alike."""
    host = to_host(state)

    def read():  # on process 0
      saved = check_same_run(self.path, config)
      r = self._checkpoints().restore_latest(self.path, host, fingerprint)
      check_budget(self.path, config, saved, r.env_steps)
      return r.state, {"generation": r.generation, "wall_s": r.wall_s, "records": r.records}

    host, meta = multihost.main_decides("resume", read) or (host, None)
    meta = multihost.from_main("resume position", meta)
    host = multihost.arrays_from_main("resume state", host)
    _check_reference_batch(state, host)
    return (Start(replicate(host, mesh), meta["generation"], meta["wall_s"],
                  len(meta["records"])), meta["records"])

  def checkpoint(self, host_state, generation: int, env_steps: int, wall_s: float,
                 num_records: int) -> None:
    """Process 0 writes it; the others wait through the coordination service, so a slow disk
    cannot leave them past gloo's patience in the next generation's collectives."""
    if self._checkpointer is not None:
      self._checkpointer.save(host_state, generation, env_steps, wall_s, num_records)
    multihost.barrier("checkpoint written")

  def save_params(self, *args, **kwargs) -> None:
    """params.msgpack (``files.save_params``'s arguments), by process 0."""
    if self.path is not None and self._is_main:
      files.save_params(self.path, *args, **kwargs)

  def metrics(self, num_records: int):
    """The run's records: read from metrics.jsonl on first use where it holds them."""
    if isinstance(self.records, _InMemory):
      return self.records.records
    return files.MetricsLog(self.path, num_records)

  def _check_new(self) -> None:
    lock_lib.check_creatable(self.path)
    if os.path.isdir(self.path):
      self._checkpoints().require_no_run(self.path)

  @staticmethod
  def _checkpoints():
    from esjax.rundir import checkpoint  # pylint: disable=g-import-not-at-top
    return checkpoint


def check_same_run(run_dir: str, config):
  """ConfigError naming the first setting ``config`` changes against the run's config.json
  that a resumed run may not change (``RESUMABLE``: the budget, checkpoints and how it runs
  on its devices). The CLI refuses such flags with --resume; ``train(resume=True)`` gets its
  config from the caller, so it is checked here, before the run's files are rewritten.
  Returns the run's saved config."""
  from esjax.config.train_config import FIELDS, RESUMABLE  # pylint: disable=g-import-not-at-top
  saved = files.read_config(run_dir)
  old = saved.replace(**saved.strategy.resolved()).flat()
  new = config.replace(**config.strategy.resolved()).flat()
  for name in list(FIELDS) + sorted((set(old) | set(new)) - set(FIELDS)):
    if name not in RESUMABLE and _comparable(old.get(name)) != _comparable(new.get(name)):
      raise ConfigError(
          f"resume: {name}={new.get(name)!r} but the run in {run_dir!r} has "
          f"{name}={old.get(name)!r} (its config.json); a resumed run keeps its settings, "
          f"only {', '.join(RESUMABLE)} may change")
  return saved


def check_budget(run_dir: str, config, saved, done: int) -> None:
  """ConfigError for a resumed env-step budget below the ``done`` steps of the checkpoint and
  below the run's own (``saved``: its config.json): it would run nothing yet record itself in
  config.json beside params and metrics of more steps. (A finished run has done its budget and
  a little more, the last generation's overshoot: resuming it with its own budget stays
  allowed.)"""
  new, old = config.runtime.env_steps, saved.runtime.env_steps
  if new is not None and new < done and (old is None or new < old):
    raise ConfigError(f"resume: env_steps={new} but the run in {run_dir!r} has done {done} env "
                      f"steps (its newest good checkpoint); a resumed run's env_steps must be "
                      f"at least {done if old is None else min(done, old)}")


def _comparable(value) -> str:
  return json.dumps(value, sort_keys=True, default=str)  # a tuple and its JSON list agree


def _check_reference_batch(fresh, restored) -> None:
  """Resume continues with the checkpoint's VBN reference batch (the one the run trained
  with); one drawn afresh from the same key should be the same bits, and a warning says when
  it is not (an env whose dynamics changed since), so a silent difference cannot go unseen."""
  if fresh.normalizer.vbn_batch is None:
    return
  if not np.array_equal(np.asarray(to_host(fresh.normalizer.vbn_batch)),
                        np.asarray(restored.normalizer.vbn_batch)):
    print("esjax: warning: the VBN reference batch drawn now differs from the checkpoint's "
          "(has the env changed?); continuing with the checkpoint's", file=sys.stderr,
          flush=True)
