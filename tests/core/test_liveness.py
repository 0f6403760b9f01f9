"""The liveness watch of a multi-process job (esjax/core/liveness.py), against a fake
coordination service: a silent peer, an unreachable service, a peer that left normally."""
import threading

from esjax.core import liveness
from esjax.core.multihost import bind_address


class FakeService:
  """The key-value store of JAX's coordination-service client; ``down`` makes every call
  fail as an unreachable service does."""

  def __init__(self):
    self.store, self.down = {}, False

  def key_value_set(self, key, value, allow_overwrite=False):
    if self.down:
      raise RuntimeError("UNAVAILABLE")
    self.store[key] = value

  def key_value_dir_get(self, prefix):
    if self.down:
      raise RuntimeError("UNAVAILABLE")
    return [(k, v) for k, v in self.store.items() if k.startswith(prefix)]


def _verdict(service, timeout_s=2.0, wait_s=6.0):
  """Process 0's watch of a 2-process job on ``service``: its verdict, or None."""
  said, lost = [], threading.Event()
  w = liveness._Watch(service, 0, timeout_s, lambda why: (said.append(why), lost.set()),
                      left=lambda: False)
  threading.Thread(target=w.beat, daemon=True).start()
  threading.Thread(target=w.judge, args=([f"{liveness.PREFIX}1"],), daemon=True).start()
  lost.wait(wait_s)
  w.stopped.set()
  return said[0] if said else None


def test_a_peer_that_never_beats_is_declared_lost():
  assert _verdict(FakeService()).startswith("process 1 silent for ")


def test_an_unreachable_service_is_declared_lost():
  service = FakeService()
  service.down = True
  assert _verdict(service).startswith("no answer from the coordination service for ")


def test_a_peer_that_left_normally_or_keeps_beating_is_not_lost():
  service = FakeService()
  service.store[f"{liveness.PREFIX}1"] = "done"
  assert _verdict(service, wait_s=4.0) is None
  service = FakeService()
  stop = threading.Event()

  def peer():
    n = 0
    while not stop.wait(0.3):
      n += 1
      service.key_value_set(f"{liveness.PREFIX}1", str(n), allow_overwrite=True)

  threading.Thread(target=peer, daemon=True).start()
  try:
    assert _verdict(service, wait_s=4.0) is None
  finally:
    stop.set()


def test_a_program_that_left_the_job_itself_is_not_judged():
  service = FakeService()
  service.down = True
  w = liveness._Watch(service, 0, 0.5, lambda why: None, left=lambda: True)
  w.judge([f"{liveness.PREFIX}1"])  # returns at once instead of judging


def test_jax_heartbeat_is_the_later_verdict():
  assert liveness.jax_heartbeat_s(10) > 10 and liveness.jax_heartbeat_s(5) > 5


def test_the_coordinator_binds_to_its_address_only_where_it_is_local():
  assert bind_address("localhost:1234") in ("127.0.0.1:1234", "[::1]:1234")
  assert bind_address("127.0.0.1:99") == "127.0.0.1:99"
  assert bind_address("192.0.2.7:1234") is None  # TEST-NET-1: no host has it
  assert bind_address("no-such-host.invalid:1234") is None
