"""Launching the processes of one multi-process job, on loopback or on namespaced hosts.

A network is where the job's processes run: ``Loopback()`` (every process on this machine's
``localhost``) or ``netns.Hosts`` (each process in its own network namespace, on its own
address). Both give ``address[i]`` (host ``i``'s, the coordinator is ``address[0]``) and
``command(i, argv)`` (``argv`` run on host ``i``).
"""
import contextlib
import os
import re
import socket
import subprocess
import sys
import time

import pytest

from tests.helpers import netns
from tests.helpers.subproc import ROOT, env_with_devices

WORKER = os.path.join(ROOT, "tests", "helpers", "mp_worker.py")
# Several processes: the slow tier. "hosts" is a namespace per process where they can be made
# (separate hosts: the stronger case) and this machine's loopback where they cannot; loopback is
# also covered on its own (test_multiprocess: the late peer, the CLI's two-process runs).
NETWORKS = [pytest.param("hosts", marks=pytest.mark.slow)]


class Loopback:
  """Every process on this machine's loopback."""
  address = ["localhost", "localhost"]

  def command(self, host: int, argv: list[str]) -> list[str]:
    del host
    return argv


@contextlib.contextmanager
def network(kind: str):
  """``kind`` ("localhost", "namespaces", or "hosts": namespaces where they can be made, else
  localhost) for a test's block; "namespaces" skips with the reason where they cannot."""
  if kind == "hosts":
    kind = "localhost" if netns.skip_reason() else "namespaces"
  if kind == "localhost":
    yield Loopback()
    return
  reason = netns.skip_reason()
  if reason:
    pytest.skip(reason)
  with netns.hosts() as hosts:
    yield hosts


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def launch(net, host, out, devices, *job, argv=None, xla_flags="", **env):
  """``mp_worker.py OUT DEVICES JOB...`` (or ``argv``) on ``net``'s host ``host`` (None: this
  machine, outside any namespace)."""
  argv = argv or [sys.executable, WORKER, str(out), str(devices), *map(str, job)]
  if host is not None:
    argv = net.command(host, argv)
  return subprocess.Popen(argv, cwd=ROOT, env=env_with_devices(devices, xla_flags, **env),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def job(net, out_of, devices=2, **env):
  """Both processes of a 2-process job on ``net``; ``out_of(i)``: process i's .npz."""
  coordinator = f"{net.address[0]}:{free_port()}"
  return [launch(net, i, out_of(i), devices, coordinator, 2, i, **env) for i in range(2)]


def finish(proc, timeout):
  try:
    out, err = proc.communicate(timeout=timeout)
  except subprocess.TimeoutExpired:
    proc.kill()
    out, err = proc.communicate()
    pytest.fail(f"worker hung past {timeout} s:\n{err[-2000:]}")
  return proc.returncode, out, err


def exit_times(procs, timeout):
  """{index: time.time() at exit} for every process, polled every 0.1 s."""
  end, times = time.time() + timeout, {}
  while len(times) < len(procs) and time.time() < end:
    for i, p in enumerate(procs):
      if i not in times and p.poll() is not None:
        times[i] = time.time()
    time.sleep(0.1)
  return times


def kill_all(procs):
  for p in procs:
    if p.poll() is None:
      p.kill()
      p.wait()


def all_succeed(procs, timeout):
  """Waits for every worker and asserts each exited 0; none is left running."""
  try:
    for p in procs:
      rc, _, err = finish(p, timeout=timeout)
      assert rc == 0, err[-2000:]
  finally:
    kill_all(procs)


def fault_time(stdout: str) -> float:
  """When mp_worker's victim died or cut its link (time.time()), from its stdout."""
  found = re.search(r"worker: process \d+ (?:dies|link down) at (\d+\.\d+)", stdout)
  assert found, stdout[-2000:]
  return float(found.group(1))
