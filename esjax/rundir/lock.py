"""One run per output directory: a lock file held with ``flock`` for as long as a run writes.

``RUN_DIR/esjax.lock`` is locked (``fcntl.flock``, exclusive) by process 0 of the run that
writes the directory, and holds that process's pid and host so a second run can say whom it
is waiting for. The kernel drops a flock when its process dies, however it dies (SIGKILL, OOM,
a lost node), so a lock file left behind by a killed run blocks nothing: ``--resume`` simply
takes it. On a filesystem without working flock (some network mounts answer ENOLCK) the pid
and host in the file decide instead: held while that pid is alive on this host, and a lock
written on another host is trusted (there is no way to check it from here).
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import threading
import time
import weakref

from esjax.errors import ConfigError

LOCK_FILE = "esjax.lock"

# realpath -> this process's lock (re-entrant per process); weak, so a lock whose run raised
# before releasing it is freed (its fd closed) with the run's frame.
_held: "weakref.WeakValueDictionary[str, RunLock]" = weakref.WeakValueDictionary()
_mutex = threading.Lock()


class RunLocked(ConfigError):
  """Another live run holds the directory's lock."""


def lock_path(run_dir: str) -> str:
  return os.path.join(run_dir, LOCK_FILE)


def _owner_text(run_dir: str, info: dict) -> str:
  return (f"{run_dir!r} is in use by another esjax run (pid {info.get('pid', '?')} on host "
          f"{info.get('host', '?')}, started {info.get('started', '?')}); wait for it to "
          "finish or stop it, or choose another directory")


def _read_info(path: str) -> dict:
  try:
    with open(path) as f:
      info = json.load(f)
    return info if isinstance(info, dict) else {}
  except (OSError, ValueError):
    return {}


def _pid_alive(pid) -> bool:
  try:
    os.kill(int(pid), 0)
  except (ProcessLookupError, ValueError, TypeError):
    return False
  except PermissionError:
    return True
  return True


def _held_by_info(info: dict) -> bool:
  """Fallback without flock: is the run named in the file still alive?"""
  if not info.get("pid"):
    return False
  if info.get("host") != socket.gethostname():
    return True
  return int(info["pid"]) != os.getpid() and _pid_alive(info["pid"])


class RunLock:
  """The held lock of one run directory; ``release()`` (or process exit) drops it."""

  def __init__(self, run_dir: str, fd: int, key: str):
    self.run_dir = run_dir
    self._fd = fd
    self._key = key
    self._count = 1

  def release(self) -> None:
    with _mutex:
      self._count -= 1
      if self._count > 0 or self._fd < 0:
        return
      _held.pop(self._key, None)
      fd, self._fd = self._fd, -1
    try:
      fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError:
      pass
    os.close(fd)

  def __del__(self):  # a run that raised before its `finally`: closing the fd frees the lock
    if self._fd >= 0:
      try:
        os.close(self._fd)
      except OSError:
        pass
      self._fd = -1

  def __enter__(self) -> "RunLock":
    return self

  def __exit__(self, *exc) -> None:
    self.release()


def _cannot_create(run_dir: str, path: str, error: OSError | None = None) -> ConfigError:
  """``error`` None: ``path`` is in the way, not a directory."""
  if os.path.isfile(path):
    why = f"{path!r} is a file, not a directory"
  else:
    why = f"{path!r}: {'not a directory' if error is None else error.strerror or error}"
  return ConfigError(f"output directory {run_dir!r} cannot be created ({why}); choose a "
                     "directory that exists or can be created")


def check_creatable(run_dir: str) -> None:
  """ConfigError (one line) unless ``run_dir`` is a writable directory or can be made one,
  leaving nothing on disk: a bad path then fails before a run builds anything, not at its
  first write. Whether a missing directory can be made is learnt by making its first missing
  part and removing it: permissions alone cannot tell (root may write anywhere, yet not
  under /proc or a read-only mount)."""
  if os.path.isdir(run_dir):
    if not os.access(run_dir, os.W_OK | os.X_OK):
      raise ConfigError(f"output directory {run_dir!r} is not writable; choose a directory "
                        "this user may write")
    return
  if os.path.exists(run_dir):
    raise ConfigError(f"output directory {run_dir!r} is a file, not a directory; choose a "
                      "directory (new or empty)")
  first = os.path.normpath(run_dir)  # relative stays relative: the error names the user's path
  parent = os.path.dirname(first) or os.curdir
  while parent not in (first, os.curdir) and not os.path.lexists(parent):
    first, parent = parent, os.path.dirname(parent) or os.curdir
  if os.path.exists(parent) and not os.path.isdir(parent):
    raise _cannot_create(run_dir, parent)
  try:
    os.mkdir(first)
  except OSError as e:
    raise _cannot_create(run_dir, first, e) from None
  try:
    os.rmdir(first)
  except OSError:
    pass  # something else wrote into it meanwhile: not ours to remove


def acquire(run_dir: str) -> RunLock:
  """Creates ``run_dir`` if needed and locks it for this process; raises ``RunLocked`` (a
  ConfigError: one line naming the other run's pid and host) when another run holds it, and
  a ConfigError naming the path when it cannot be created.
  Re-entrant within a process: each ``acquire`` needs its own ``release``."""
  try:
    os.makedirs(run_dir, exist_ok=True)
  except OSError as e:  # check_creatable passed earlier, but the disk may have changed since
    raise _cannot_create(run_dir, e.filename or run_dir, e) from None
  key = os.path.realpath(run_dir)
  with _mutex:
    mine = _held.get(key)
    if mine is not None:
      mine._count += 1  # pylint: disable=protected-access
      return mine
  path = lock_path(run_dir)
  # Held read-only: a run holds no file open for writing between generations, so the
  # filesystem under it can be remounted read-only (and the run then fails cleanly).
  fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
        raise RunLocked(_owner_text(run_dir, _read_info(path))) from None
      if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
        raise
      info = _read_info(path)  # no flock here: the pid in the file decides
      if _held_by_info(info):
        raise RunLocked(_owner_text(run_dir, info)) from None
    info = {"pid": os.getpid(), "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    wfd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
      os.write(wfd, (json.dumps(info) + "\n").encode())
    finally:
      os.close(wfd)
  except BaseException:
    os.close(fd)
    raise
  lock = RunLock(run_dir, fd, key)
  with _mutex:
    _held[key] = lock
  return lock


def check_free(run_dir: str) -> None:
  """Raises ``RunLocked`` if another live run holds ``run_dir``; takes nothing (a quick check
  before anything else is done, e.g. before the CLI refuses a non-empty directory)."""
  path = lock_path(run_dir)
  if not os.path.isfile(path) or os.path.realpath(run_dir) in _held:
    return
  try:
    fd = os.open(path, os.O_RDONLY)
  except OSError:
    return
  try:
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
  except OSError as e:
    if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
      raise RunLocked(_owner_text(run_dir, _read_info(path))) from None
    if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS) and _held_by_info(
        _read_info(path)):
      raise RunLocked(_owner_text(run_dir, _read_info(path))) from None
  finally:
    os.close(fd)


def only_lock_file(run_dir: str) -> bool:
  """True if ``run_dir`` holds nothing but a (free) lock file: a run that stopped before
  writing anything, which a new run may take over."""
  try:
    return os.listdir(run_dir) == [LOCK_FILE]
  except OSError:
    return False
