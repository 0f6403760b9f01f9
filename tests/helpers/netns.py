"""Two "hosts" on one machine: a network namespace each, joined by a virtual Ethernet link.

Each namespace has its own loopback and one end of a veth pair with its own address
(10.77.0.1/24 and 10.77.0.2/24), so a process started in it (``Hosts.command``) sees only
that link, as a process on a separate machine would: the coordinator must bind to host 0's
address, gloo's CPU collectives travel over the veth, and ``Hosts.link_down`` cuts a host off
the way an unplugged cable would. Inside each namespace the machine's hostname resolves to that
host's address (``ip netns exec`` mounts ``/etc/netns/NAME/hosts`` over ``/etc/hosts``): gloo
binds to whatever the hostname resolves to, and the shared ``127.0.0.1`` would send every
peer to its own loopback.

Needs root and ``ip`` (iproute2); ``skip_reason()`` says why not where they are missing. The
namespaces, the link and the hosts files go on exit, also after a failure, and so does every
process still running in a namespace (all of them were started by the test).
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess

SUBNET = "10.77.0"
_made = [0]


def skip_reason() -> str | None:
  """Why namespaced hosts cannot be made here, or None."""
  if shutil.which("ip") is None:
    return "needs the `ip` command (iproute2) to make network namespaces"
  if os.geteuid() != 0:
    return "needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) to make network namespaces"
  probe = f"esjax-probe-{os.getpid()}"
  r = _ip("netns", "add", probe, check=False)
  if r.returncode:
    return f"cannot make a network namespace here: {r.stderr.strip() or r.returncode}"
  _ip("netns", "del", probe, check=False)
  return None


def _ip(*args, check=True) -> subprocess.CompletedProcess:
  r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
  if check and r.returncode:
    raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip()}")
  return r


class Hosts:
  """Two namespaces ``names[i]``: host ``i`` at ``address[i]`` on link ``links[i]``."""

  def __init__(self):
    _made[0] += 1
    tag = f"{os.getpid()}x{_made[0]}"  # pytest-xdist workers and successive tests apart
    self.names = [f"esjax-{tag}-h{i}" for i in range(2)]
    self.links = [f"ej{tag[-9:]}h{i}" for i in range(2)]  # IFNAMSIZ: at most 15 characters
    self.address = [f"{SUBNET}.{i + 1}" for i in range(2)]

  def command(self, host: int, argv: list[str]) -> list[str]:
    """``argv`` run on host ``host``."""
    return ["ip", "netns", "exec", self.names[host], *argv]

  def link_down(self, host: int) -> None:
    """Takes host ``host``'s link down from inside its namespace, as a cut cable would."""
    _ip("netns", "exec", self.names[host], "ip", "link", "set", "dev", self.links[host], "down")

  def link_up(self, host: int) -> None:
    """The cable of host ``host`` plugged back in."""
    _ip("netns", "exec", self.names[host], "ip", "link", "set", "dev", self.links[host], "up")

  def up(self) -> "Hosts":
    _ip("link", "add", self.links[0], "type", "veth", "peer", "name", self.links[1])
    for ns, link, addr in zip(self.names, self.links, self.address):
      _ip("netns", "add", ns)
      _ip("link", "set", link, "netns", ns)
      _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", link)
      _ip("-n", ns, "link", "set", link, "up")
      _ip("-n", ns, "link", "set", "lo", "up")
      os.makedirs(f"/etc/netns/{ns}", exist_ok=True)
      with open(f"/etc/netns/{ns}/hosts", "w") as f:
        f.write(f"127.0.0.1 localhost\n{addr} {socket.gethostname()}\n")
    return self

  def down(self) -> None:
    """Ends the processes still in the namespaces, then removes everything ``up`` made."""
    for ns in self.names:
      if not _exists(ns):
        continue
      for pid in _ip("netns", "pids", ns, check=False).stdout.split():
        with contextlib.suppress(ProcessLookupError, ValueError):
          os.kill(int(pid), signal.SIGKILL)
      _ip("netns", "del", ns, check=False)  # takes its end of the veth, and so the pair
      shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)
    if _link_exists(self.links[0]):  # made, but never moved into its namespace
      _ip("link", "del", self.links[0], check=False)


def _exists(ns: str) -> bool:
  return ns in _ip("netns", "list", check=False).stdout.split()


def _link_exists(name: str) -> bool:
  return _ip("link", "show", name, check=False).returncode == 0


@contextlib.contextmanager
def hosts():
  """``Hosts`` set up for the block and torn down after it, whatever happens in it."""
  h = Hosts()
  try:
    yield h.up()
  finally:
    h.down()
