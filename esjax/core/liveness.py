"""Telling that a multi-process job has lost a host, in seconds and in one line.

JAX's coordination service already declares a peer dead once its heartbeats stop, but then
aborts every process with a fatal log and a C++ stack dump (the callback that would replace it
takes a C++ status that Python cannot receive). A host whose link goes down closes no
connection, so nothing else tells the others: gloo would wait in a collective.

So each process runs its own watch, two daemon threads: one counts up this process's entry in
the coordination service's key-value store every second and reads everyone's; the other,
which never waits on the network, calls ``on_lost`` (one line, exit 3) when a peer's count has
not moved for ``timeout_s`` or this process has not reached the service for that long (its
own link is down, or process 0, which hosts the service, is gone). JAX's heartbeat timeout is
set longer (``jax_heartbeat_s``), so this watch decides first and JAX's verdict is the backstop.
A process that leaves normally marks its entry done first (atexit), so a peer that is still
finishing is not taken for dead.
"""
from __future__ import annotations

import atexit
import threading
import time
from typing import Callable

PREFIX = "esjax:alive/"
_TICK_S = 1.0
_DONE = "done"


def jax_heartbeat_s(timeout_s: int) -> int:
  """JAX's own heartbeat timeout: past this watch's, with room for one slow tick."""
  return max(2 * timeout_s, timeout_s + 10)


class _Watch:
  def __init__(self, client, me: int, timeout_s: float, on_lost: Callable[[str], None],
               left: Callable[[], bool] | None = None):
    self.client, self.me, self.timeout_s, self.on_lost = client, me, timeout_s, on_lost
    self.left = left or _shut_down  # whether the program left the job itself
    now = time.monotonic()
    self.reached = now  # when this process last heard from the service
    self.seen: dict[str, tuple[str, float]] = {}  # peer key -> (its count, when it moved)
    self.started = now
    self.stopped = threading.Event()

  def beat(self) -> None:
    count = 0
    while not self.stopped.is_set():
      count += 1
      try:
        self.client.key_value_set(f"{PREFIX}{self.me}", str(count), allow_overwrite=True)
        entries = self.client.key_value_dir_get(PREFIX)
      except Exception:  # noqa: BLE001 - unreachable: the judge thread counts the silence
        self.stopped.wait(_TICK_S)
        continue
      now = time.monotonic()
      self.reached = now
      for key, value in entries:
        if self.seen.get(key, (None,))[0] != value:
          self.seen[key] = (value, now)
      self.stopped.wait(_TICK_S)

  def judge(self, peers: list[str]) -> None:
    last = time.monotonic()
    while not self.stopped.wait(_TICK_S / 2):
      now, late = time.monotonic(), time.monotonic() - last > 2 * _TICK_S
      last = now
      if late:  # this process itself stalled (GIL, swap): it saw nothing, so it judges nothing
        self.reached = now
        self.seen = {k: (v, now) for k, (v, _) in self.seen.items()}
        self.started = now
        continue
      if self.left():  # jax.distributed.shutdown(): silence is expected now
        return None
      if now - self.reached > self.timeout_s:
        return self.on_lost(f"no answer from the coordination service for "
                            f"{now - self.reached:.0f} s")
      for key in peers:
        value, moved = self.seen.get(key, (None, self.started))
        if value != _DONE and now - moved > self.timeout_s:
          return self.on_lost(f"process {key[len(PREFIX):]} silent for {now - moved:.0f} s")

  def stop(self) -> None:
    """This process leaves normally: say so, so that no peer takes it for dead."""
    self.stopped.set()
    try:
      self.client.key_value_set(f"{PREFIX}{self.me}", _DONE, allow_overwrite=True)
    except Exception:  # noqa: BLE001 - leaving anyway
      pass


def _shut_down() -> bool:
  from jax._src import distributed  # pylint: disable=g-import-not-at-top
  return distributed.global_state.client is None


_running: list[_Watch] = []  # this process's watch, once started


def stop() -> None:
  """Ends this process's watch, saying it leaves normally (a no-op without one)."""
  while _running:
    _running.pop().stop()


def watch(client, timeout_s: float, on_lost: Callable[[str], None]) -> None:
  """Starts the watch of this process (none without a multi-process ``client``)."""
  import jax  # pylint: disable=g-import-not-at-top
  if client is None or jax.process_count() == 1:
    return
  me = jax.process_index()
  w = _Watch(client, me, timeout_s, on_lost)
  peers = [f"{PREFIX}{i}" for i in range(jax.process_count()) if i != me]
  threading.Thread(target=w.beat, name="esjax-heartbeat", daemon=True).start()
  threading.Thread(target=w.judge, args=(peers,), name="esjax-watch", daemon=True).start()
  _running.append(w)
  atexit.register(stop)  # registered after jax's own clean-up (at import): runs before it
