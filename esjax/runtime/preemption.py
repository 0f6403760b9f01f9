"""Graceful stop on SIGTERM (cluster preemption) or SIGINT (Ctrl-C).

The first signal only sets a flag: the compiled call in flight finishes, the driver saves a
checkpoint and returns. A second Ctrl-C gets Python's default behaviour (KeyboardInterrupt), for
a user who does not want to wait for a long compiled call.
"""
from __future__ import annotations

import signal
import sys
import threading

import jax
import numpy as np

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequest:
  """Context manager: ``with StopRequest(enabled) as stop: ... if stop.requested: ...``.

  Handlers are installed only when ``enabled`` and on the main thread (Python allows no
  other), and the previous handlers are restored on exit.
  """

  def __init__(self, enabled: bool = True, message: str | None = None):
    self.requested: str | None = None  # the signal's name once one arrived
    self._enabled = enabled and threading.current_thread() is threading.main_thread()
    self._message = message
    self._previous: dict[int, object] = {}

  def _handle(self, signum, frame):
    del frame
    self.requested = signal.Signals(signum).name
    if signum == signal.SIGINT:
      signal.signal(signal.SIGINT, signal.default_int_handler)
    if self._message:
      print(self._message.format(signal=self.requested), file=sys.stderr, flush=True)

  def __enter__(self) -> "StopRequest":
    if self._enabled:
      for s in _SIGNALS:
        self._previous[s] = signal.signal(s, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for s, handler in self._previous.items():
      signal.signal(s, handler)


def agree(flag: bool) -> bool:
  """True on every process if it is on any: processes must stop after the same call, or the
  ones still running would wait forever in the next call's collectives. Every process calls it
  at the same points; the first call compiles its gather, so make it while they are in step."""
  if jax.process_count() == 1:
    return flag
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return bool(np.any(multihost_utils.process_allgather(np.int32(flag))))
