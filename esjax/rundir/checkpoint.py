"""Checkpoints of the whole training state under ``RUN_DIR/checkpoints/<generation>/``.

Written with orbax's ``CheckpointManager``: each checkpoint is built in a temporary directory
and renamed into place once complete, so a run killed mid-save (even by SIGKILL) leaves the
previous checkpoints intact and no half-written one that looks finished. A checkpoint holds

* ``state``: every leaf of ``TrainState`` (params, optimizer state, normalizer and, with VBN,
  its reference batch, run key, generation, env-step counter) as host arrays, under neutral names ``leaf_000...`` (the tree
  structure comes from the run's own setup on restore, so nothing about Python types is stored);
* ``meta`` (JSON): generation, env steps, wall time, the number of metrics records (so
  ``metrics.jsonl`` can be rewritten to exactly one line per generation), a fingerprint of what
  the state was built for (env, network, shapes) and a CRC32 per leaf.

After orbax has put a checkpoint in place, ``esjax_files.json`` records the size and CRC32 of
every file in it; restore verifies them before orbax reads anything. Orbax reads back whatever
bytes it finds (and a failed tensorstore read leaves threads that print tracebacks at exit), so
this manifest, plus a CRC per state leaf, is what turns truncation or corruption into a clear
"damaged" message. A checkpoint without a manifest was cut off between orbax's commit and the
manifest: orbax's commit marks it complete, so it is used, checked by the per-leaf CRCs only. Restoring walks checkpoints newest first and falls back past damaged
ones (moving them aside, and saying so); a checkpoint built for another env or network is an
error, not a fallback: every older one of the same run would disagree the same way.
"""
from __future__ import annotations

import dataclasses
import json
import errno
import os
import shutil
import sys
import zlib
from typing import Any, Callable

import jax
import numpy as np
import orbax.checkpoint as ocp

from esjax.errors import ConfigError, RunIOError
from esjax.rundir import files as run_files

CHECKPOINT_DIR = "checkpoints"
DAMAGED_DIR = "damaged-checkpoints"
MANIFEST = "esjax_files.json"
FORMAT = 1
_ITEMS = ("state", "meta")


@dataclasses.dataclass(frozen=True)
class Restored:
  state: Any  # TrainState of host numpy arrays
  generation: int
  env_steps: int
  wall_s: float
  records: list[dict[str, Any]]
  path: str


def fingerprint(config, kind: str, obs_size: int, action_size: int) -> dict[str, Any]:
  """What a checkpoint's arrays were built for; compared field by field on restore."""
  fp: dict[str, Any] = {"problem": kind}
  if kind == "brax":  # in the order a mismatch is best explained by
    fp.update(env=config.problem.env, backend=config.problem.backend,
              policy=config.policy.kind, hidden_sizes=list(config.policy.hidden_sizes), obs_size=obs_size,
              action_size=action_size)
    if config.policy.vbn:  # only when on: checkpoints of runs without VBN stay comparable
      fp.update(vbn=True, vbn_batch=config.policy.vbn_batch)
  fp["num_seeds"] = config.runtime.num_seeds
  if config.strategy.sweep:  # absent without one: older checkpoints keep matching
    fp["sweep"] = {k: list(v) for k, v in config.strategy.sweep.items()}
  return fp


def checkpoint_dir(run_dir: str) -> str:
  return os.path.join(os.path.abspath(run_dir), CHECKPOINT_DIR)


def _generations(run_dir: str) -> list[int]:
  """The generations of the checkpoints in place (orbax names each step's directory by it)."""
  d = checkpoint_dir(run_dir)
  return [int(name) for name in os.listdir(d) if name.isdigit()] if os.path.isdir(d) else []


def require_checkpoints(run_dir: str, generations: int | None = None) -> None:
  """ConfigError unless ``run_dir`` holds a checkpoint to resume and ``generations`` (the
  resumed run's cap; None: none) is not below the newest one's: a smaller cap would run
  nothing yet record itself in config.json beside params and metrics of more generations."""
  done = max(_generations(run_dir), default=None)
  if done is None:
    raise ConfigError(f"{checkpoint_dir(run_dir)!r} holds no checkpoint: the run stopped before "
                      "its first one; start it again with --out")
  if isinstance(generations, int) and generations < done:  # a bad type: validate() says
    raise ConfigError(f"resume: generations={generations} but the run in {run_dir!r} has done "
                      f"{done} generations (its newest checkpoint); a resumed run's "
                      f"generations must be at least {done}")


# What a run leaves in its directory; a new run writing there would replace or truncate them.
_RUN_FILES = (run_files.CONFIG_FILE, run_files.METRICS_FILE, run_files.PARAMS_FILE,
              CHECKPOINT_DIR + "/")


def require_no_run(run_dir: str) -> None:
  """ConfigError if ``run_dir`` holds another run's files; other files (notes, data) may
  share the directory."""
  found = [name for name in _RUN_FILES
           if os.path.lexists(os.path.join(run_dir, name.rstrip("/")))]
  if found:
    raise ConfigError(f"{run_dir!r} already holds another run's files ({', '.join(found)}); "
                      "resume that run or choose another output directory")


def _manager(run_dir: str, keep: int | None = None, create: bool = True):
  # Synchronous saves: the next compiled call donates the state buffers, so a background
  # write must not still be reading them; a checkpoint is a few KB to MB and takes ~0.1 s.
  # Only this process (process 0: rundir.py) named as active: the state is replicated, so it
  # alone writes and reads, orbax syncs with no other process, and the other hosts need no
  # shared disk. Orbax leaves creating the directory to us in that mode.
  alone = ocp.options.MultiprocessingOptions(primary_host=jax.process_index(),
                                             active_processes={jax.process_index()})
  if create:
    os.makedirs(checkpoint_dir(run_dir), exist_ok=True)
  options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=False,
                                         enable_async_checkpointing=False,
                                         cleanup_tmp_directories=True,
                                         multiprocessing_options=alone)
  return ocp.CheckpointManager(checkpoint_dir(run_dir), options=options, item_names=_ITEMS)


def _leaves(state) -> tuple[list[str], list[np.ndarray]]:
  paths, _ = jax.tree_util.tree_flatten_with_path(state)
  names = [jax.tree_util.keystr(p).lstrip(".") for p, _ in paths]
  return names, [np.asarray(x) for _, x in paths]


def _crc(x: np.ndarray) -> int:
  return zlib.crc32(np.ascontiguousarray(x).tobytes())


class Checkpointer:
  """Saves checkpoints of one run directory, keeping the newest ``keep``."""

  def __init__(self, run_dir: str, keep: int, fp: dict[str, Any]):
    self._mgr = _manager(run_dir, keep)
    self._fp = fp
    self.directory = checkpoint_dir(run_dir)

  def save(self, host_state, generation: int, env_steps: int, wall_s: float,
           num_records: int) -> str:
    """Writes checkpoint ``generation``; a failed write (disk full, directory removed or
    read-only) raises ``RunIOError`` naming the checkpoint and the system's error, and leaves
    the earlier checkpoints as they were (orbax only renames a finished one into place)."""
    path = os.path.join(self.directory, str(generation))
    if not os.path.isdir(self.directory):  # removed under us: orbax would recreate it
      raise RunIOError(self.directory, FileNotFoundError(errno.ENOENT, "directory was removed"))
    try:
      return self._save(host_state, generation, env_steps, wall_s, num_records)
    except RunIOError:
      raise
    except Exception as e:  # orbax/tensorstore wrap the OSError in their own types
      raise RunIOError(path, _os_error(e) or e) from e

  def _save(self, host_state, generation: int, env_steps: int, wall_s: float,
            num_records: int) -> str:
    names, leaves = _leaves(host_state)
    meta = {
        "format": FORMAT, "esjax_version": _version(), "generation": generation, "env_steps": env_steps, "wall_s": wall_s,
        "fingerprint": self._fp,
        "leaves": [{"name": n, "shape": list(x.shape), "dtype": str(x.dtype), "crc32": _crc(x)}
                   for n, x in zip(names, leaves)],
        # Only a count: metrics.jsonl already holds these lines (written before every save), and
        # storing all records would make each save grow with the run's length.
        "num_records": num_records,
    }
    # Orbax refuses zero-size arrays (a black box's empty normalizer): meta's shape rebuilds them.
    arrays = {f"leaf_{i:03d}": x for i, x in enumerate(leaves) if x.size}
    self._mgr.save(generation, args=ocp.args.Composite(state=ocp.args.StandardSave(arrays),
                                                       meta=ocp.args.JsonSave(meta)), force=True)
    self._mgr.wait_until_finished()
    path = os.path.join(self.directory, str(generation))
    _write_manifest(path)
    return path

  def close(self) -> None:
    self._mgr.close()


def _version() -> str:
  from esjax import __version__  # pylint: disable=g-import-not-at-top
  return __version__


_ERRNO_TEXT = {os.strerror(c): c for c in (errno.ENOSPC, errno.EROFS, errno.EACCES,
                                           errno.ENOENT, errno.EDQUOT, errno.EIO)}


def _os_error(e: BaseException) -> OSError | None:
  """The OSError behind ``e`` (its cause/context chain), or one read from its message
  (tensorstore reports errno text inside its own exception types)."""
  seen = set()
  while e is not None and id(e) not in seen:
    seen.add(id(e))
    if isinstance(e, OSError) and e.strerror:
      return e
    for text, code in _ERRNO_TEXT.items():
      if text.lower() in str(e).lower():
        return OSError(code, text)
    e = e.__cause__ or e.__context__
  return None


def _stderr(line: str) -> None:
  print(line, file=sys.stderr, flush=True)


class _Damaged(Exception):
  pass


def restore_latest(run_dir: str, template, fp: dict[str, Any],
                   log: Callable[[str], None] = _stderr) -> Restored:
  """The newest good checkpoint of ``run_dir``, as a host state shaped like ``template``.

  Raises ConfigError when there is none, when all are damaged, or when the newest readable one
  was built for another env or network than ``fp`` / ``template`` describe.
  """
  require_checkpoints(run_dir)
  directory = checkpoint_dir(run_dir)
  mgr = _manager(run_dir, create=False)
  names, leaves = _leaves(template)
  damaged: list[tuple[int, str]] = []
  try:
    for step in sorted(mgr.all_steps(), reverse=True):
      path = os.path.join(directory, str(step))
      try:
        _verify_manifest(path)
        meta = _read_meta(mgr, step)
        _check_compatible(path, meta, fp, names, leaves)
        arrays = _read_state(mgr, step, meta, len(leaves))
      except _Damaged as e:
        damaged.append((step, str(e)))
        continue
      if damaged:
        moved = _move_aside(run_dir, [s for s, _ in damaged])
        why = "; ".join(f"generation {s}: {w}" for s, w in damaged)
        log(f"esjax: warning: damaged checkpoint(s) ({why}) moved to {moved}; resuming from "
            f"generation {step}")
      state = jax.tree.unflatten(jax.tree.structure(template), arrays)
      records = _records_upto(run_dir, int(meta["generation"]), int(meta["num_records"]), log)
      return Restored(state, int(meta["generation"]), int(meta["env_steps"]),
                      float(meta["wall_s"]), records, path)
  finally:
    mgr.close()
  why = "; ".join(f"generation {s}: {w}" for s, w in damaged)
  raise ConfigError(f"every checkpoint in {directory!r} is damaged ({why}); cannot resume")


def _records_upto(run_dir: str, generation: int, expected: int,
                  log: Callable[[str], None] = _stderr) -> list[dict[str, Any]]:
  """metrics.jsonl's records up to the checkpoint's generation; lines written after it (the
  generations about to be rerun) and a line cut off by a kill are dropped."""
  path = os.path.join(run_dir, run_files.METRICS_FILE)
  records: list[dict[str, Any]] = []
  try:
    with open(path) as f:
      for line in f:
        try:
          rec = json.loads(line)
        except ValueError:
          break  # a line cut off mid-write: nothing after it can be trusted
        if not isinstance(rec, dict) or rec.get("generation", generation + 1) > generation:
          break
        records.append(rec)
  except FileNotFoundError:
    pass
  if len(records) != expected:
    log(f"esjax: warning: {path!r} holds {len(records)} records up to generation {generation}, "
        f"the checkpoint expects {expected}; continuing with those")
  return records


def _files(step_dir: str) -> list[str]:
  found = []
  for d, _, names in os.walk(step_dir):
    found += [os.path.relpath(os.path.join(d, n), step_dir) for n in names if n != MANIFEST]
  return sorted(found)


def _file_crc(path: str) -> int:
  crc = 0
  with open(path, "rb") as f:
    while chunk := f.read(1 << 20):
      crc = zlib.crc32(chunk, crc)
  return crc


def _write_manifest(step_dir: str) -> None:
  try:
    _write_manifest_unchecked(step_dir)
  except OSError as e:
    raise RunIOError(os.path.join(step_dir, MANIFEST), e) from e


def _write_manifest_unchecked(step_dir: str) -> None:
  files = {rel: {"size": os.path.getsize(os.path.join(step_dir, rel)),
                 "crc32": _file_crc(os.path.join(step_dir, rel))} for rel in _files(step_dir)}
  tmp = os.path.join(step_dir, MANIFEST + ".tmp")
  with open(tmp, "w") as f:
    json.dump({"format": FORMAT, "files": files}, f)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, os.path.join(step_dir, MANIFEST))


def _verify_manifest(step_dir: str) -> None:
  try:
    with open(os.path.join(step_dir, MANIFEST)) as f:
      files = json.load(f)["files"]
  except FileNotFoundError:
    return  # killed right after orbax's commit: complete, only not yet listed
  except (ValueError, KeyError, TypeError) as e:
    raise _Damaged(f"unreadable {MANIFEST} ({type(e).__name__})") from e
  for rel, want in sorted(files.items()):
    path = os.path.join(step_dir, rel)
    if not os.path.isfile(path):
      raise _Damaged(f"{rel} is missing")
    size = os.path.getsize(path)
    if size != want["size"]:
      raise _Damaged(f"{rel} has {size} bytes, expected {want['size']} (truncated?)")
    if _file_crc(path) != want["crc32"]:
      raise _Damaged(f"{rel} is corrupted (checksum mismatch)")


def _read_meta(mgr, step: int) -> dict[str, Any]:
  try:
    meta = mgr.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
      raise ValueError("unknown format")
    for field in ("generation", "env_steps", "wall_s", "fingerprint", "leaves", "num_records"):
      meta[field]  # pylint: disable=pointless-statement
    return meta
  except Exception as e:  # orbax/json raise many types on damaged files
    raise _Damaged(f"unreadable metadata ({type(e).__name__})") from e


def _read_state(mgr, step: int, meta: dict[str, Any], count: int) -> list[np.ndarray]:
  try:
    state = mgr.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))["state"]
    arrays = [_leaf(state, i, info) for i, info in zip(range(count), meta["leaves"])]
  except Exception as e:  # tensorstore/orbax raise many types on truncated files
    raise _Damaged(f"unreadable arrays ({type(e).__name__})") from e
  for x, info in zip(arrays, meta["leaves"]):
    if list(x.shape) != info["shape"] or _crc(x) != info["crc32"]:
      raise _Damaged(f"checksum mismatch in {info['name']}")
  return arrays


def _leaf(state: dict[str, Any], i: int, info: dict[str, Any]) -> np.ndarray:
  if int(np.prod(info["shape"])) == 0:
    return np.zeros(info["shape"], info["dtype"])
  return np.asarray(state[f"leaf_{i:03d}"])


def _check_compatible(path: str, meta: dict[str, Any], fp: dict[str, Any], names: list[str],
                      leaves: list[np.ndarray]) -> None:
  saved = meta["fingerprint"]
  for key in list(fp) + [k for k in saved if k not in fp]:
    if saved.get(key) != fp.get(key):
      raise ConfigError(f"checkpoint {path!r} was written for {key}={saved.get(key)!r} but this "
                        f"run has {key}={fp.get(key)!r}; resume with the run's own config.json")
  saved_names = [info["name"] for info in meta["leaves"]]
  if "env_steps" in names and "env_steps" not in saved_names:
    raise ConfigError(f"checkpoint {path!r} predates the env-step counter in the training state "
                      "(esjax 0.1 before it); finish that run with the esjax that wrote it")
  if len(meta["leaves"]) != len(leaves):
    raise ConfigError(f"checkpoint {path!r} holds {len(meta['leaves'])} state arrays but this "
                      f"run's state has {len(leaves)} (another optimizer?); resume with the "
                      "run's own config.json")
  for name, x, info in zip(names, leaves, meta["leaves"]):
    if info["shape"] != list(x.shape) or info["dtype"] != str(x.dtype):
      raise ConfigError(f"checkpoint {path!r} holds {info['name']} as {info['dtype']}"
                        f"{tuple(info['shape'])} but this run needs {name} as {x.dtype}"
                        f"{tuple(x.shape)} (another network shape?); resume with the run's own "
                        "config.json")


def _move_aside(run_dir: str, steps: list[int]) -> str:
  # Kept (not deleted) for inspection, and out of orbax's directory so a new checkpoint of the
  # same generation can be written and "newest" means the good one.
  dest = os.path.join(os.path.abspath(run_dir), DAMAGED_DIR)
  os.makedirs(dest, exist_ok=True)
  for s in steps:
    target = os.path.join(dest, str(s))
    if os.path.exists(target):
      shutil.rmtree(target)
    os.replace(os.path.join(checkpoint_dir(run_dir), str(s)), target)
  return dest

