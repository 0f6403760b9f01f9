"""TensorBoard's event file, written by tensorboardX's background thread, made to fail like
every other run file: one ``RunIOError`` line, raised on the training thread.

Unguarded, a full disk kills tensorboardX's writer thread with a traceback, its ``close`` raises
from the driver's ``finally`` (hiding the real error) and its ``atexit`` hook prints another.
``guard`` wraps the open event file: the first OSError is kept, later calls do nothing, and
``check`` raises it as ``RunIOError`` at the next record. tensorboardX's internals are private:
if their layout changes the guard is skipped and TensorBoard behaves as before.
"""
from __future__ import annotations

import os
from typing import Any

from esjax.errors import RunIOError


class _GuardedFile:
  def __init__(self, f, path: str):
    self._f = f
    self.path = path
    self.error: OSError | None = None

  def _call(self, fn, *args):
    if self.error is not None:
      return None
    try:
      return fn(*args)
    except OSError as e:
      self.error = e
      return None

  def write(self, data):
    return self._call(self._f.write, data)

  def flush(self):  # no ``fileno``: tensorboardX then skips its own fsync; do it here
    def flush_sync():
      self._f.flush()
      if hasattr(self._f, "fileno"):
        os.fsync(self._f.fileno())
    return self._call(flush_sync)

  def close(self):
    try:
      self._f.close()
    except OSError as e:
      if self.error is None:
        self.error = e


def guard(summary_writer) -> _GuardedFile | None:
  """Wraps ``summary_writer``'s event file (a tensorboardX ``SummaryWriter``); the guard, or
  None if tensorboardX's layout is not the one known here."""
  try:
    recordio = summary_writer.file_writer.event_writer._ev_writer._py_recordio_writer  # pylint: disable=protected-access
    raw = recordio._writer  # pylint: disable=protected-access
    path = getattr(recordio, "path", None) or getattr(raw, "name", "tb")
    guarded = _GuardedFile(raw, str(path))
    recordio._writer = guarded  # pylint: disable=protected-access
    return guarded
  except AttributeError:
    return None


def check(guarded: Any) -> None:
  """Raises ``RunIOError`` if the guarded event file failed to write."""
  if guarded is not None and guarded.error is not None:
    raise RunIOError(guarded.path, guarded.error)
