"""Joining a JAX multi-controller job: one process per host, one mesh over all their devices.

Nothing here carries data between hosts: ``jax.distributed.initialize`` starts JAX's own
coordination service, after which ``jax.devices()`` lists every device of every process and
the same ``shard_map``-ped ES step runs everywhere (``core.mesh.make_mesh`` builds one axis over
all of them). The collectives then travel over the accelerator interconnect (NCCL, TPU ICI)
or, for CPU devices, through gloo.

Three ways in, in order:

* explicit: ``coordinator="HOST:PORT", num_processes=N, process_id=I`` (the CLI's
  ``--coordinator/--num-processes/--process-id``), for a cluster JAX does not recognise;
* auto-detected: on a Cloud TPU pod slice, under SLURM (``srun``), Open MPI or Kubernetes
  JobSets, or with ``JAX_COORDINATOR_ADDRESS`` set, JAX finds the three values itself;
* neither: a single process, nothing to join.

The timeouts are short on purpose: the default heartbeat timeout is 100 s, which would leave a
surviving process waiting minutes for a dead peer. With ``heartbeat_s`` the coordination
service declares a silent peer dead and every other process aborts with an error naming the
job's failure, instead of hanging in a collective.
"""
from __future__ import annotations

import contextlib
import dataclasses
import inspect
import ipaddress
import json
import logging
import os
import socket
import sys
from typing import Any, Callable

import jax
import numpy as np

from esjax.core import liveness
from esjax.errors import ConfigError

_log = logging.getLogger(__name__)

EXIT_JOB_FAILED = 3  # this process is fine, but the job it belongs to is not


@dataclasses.dataclass(frozen=True)
class DistributedConfig:
  """How this process joins a job. All three of ``coordinator``, ``num_processes`` and
  ``process_id`` or none of them (then auto-detection decides)."""
  coordinator: str | None = None  # "HOST:PORT" of process 0's coordination service
  num_processes: int | None = None
  process_id: int | None = None
  init_timeout_s: int = 120  # how long to wait for every process to connect
  heartbeat_s: int = 10  # a peer silent this long is declared dead; the others exit (code 3)
  shutdown_timeout_s: int = 10  # how long the exit barrier waits for the others

  @property
  def explicit(self) -> bool:
    return any(v is not None for v in (self.coordinator, self.num_processes, self.process_id))

  def validate(self) -> "DistributedConfig":
    """Raises ConfigError naming the first bad value and what is accepted; returns self."""
    if not self.explicit:
      return self
    missing = [flag for flag, v in (("--coordinator", self.coordinator),
                                    ("--num-processes", self.num_processes),
                                    ("--process-id", self.process_id)) if v is None]
    if missing:
      raise ConfigError(f"multi-process flags are incomplete: {', '.join(missing)} missing; "
                        "give --coordinator HOST:PORT --num-processes N --process-id I together")
    host, _, port = self.coordinator.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
      raise ConfigError(f"coordinator={self.coordinator!r} is invalid; expected HOST:PORT, "
                        "e.g. 10.0.0.1:1234")
    if isinstance(self.num_processes, bool) or self.num_processes < 1:
      raise ConfigError(f"num_processes={self.num_processes!r} is invalid; expected an "
                        "integer >= 1")
    if not 0 <= self.process_id < self.num_processes:
      raise ConfigError(f"process_id={self.process_id!r} is invalid; expected 0 <= process_id "
                        f"< num_processes={self.num_processes}")
    for name in ("init_timeout_s", "heartbeat_s", "shutdown_timeout_s"):
      if getattr(self, name) < 1:
        raise ConfigError(f"{name}={getattr(self, name)!r} is invalid; expected seconds >= 1")
    return self


def detected_cluster() -> str | None:
  """The name of the cluster environment JAX would auto-detect here, or None.

  Reads JAX's own cluster registry (private; an unknown layout means "none detected", never a
  crash), so esjax recognises exactly what ``jax.distributed.initialize()`` does.
  """
  if os.environ.get("JAX_COORDINATOR_ADDRESS"):
    return "JAX_COORDINATOR_ADDRESS"
  try:
    from jax._src import clusters
    for env in clusters.ClusterEnv._cluster_types:
      if not env.opt_in_only_method and env.is_env_present():
        return env.__name__
  except Exception as e:  # noqa: BLE001 - a registry JAX moved must not break single-host runs
    _log.debug("cluster auto-detection unavailable: %s", e)
  return None


def use_cpu_collectives() -> None:
  """Lets CPU devices of different processes talk (gloo); without it a multi-process CPU
  computation fails at the first collective. Harmless on GPU/TPU, whose collectives are
  their own. Must run before the first backend is created."""
  try:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  except (AttributeError, KeyError, ValueError) as e:  # renamed or gone in a later JAX
    _log.debug("could not select gloo CPU collectives: %s", e)


def public_addresses(coordinator: str) -> list[str]:
  """The public (not private, loopback or link-local) addresses ``HOST:PORT`` resolves to.

  Only resolves (``getaddrinfo``), never connects. A name that does not resolve gives [] (JAX
  then fails with its own clear error).
  """
  host, _, port = coordinator.rpartition(":")
  host = host.strip("[]")  # [v6]:port
  try:
    infos = socket.getaddrinfo(host, int(port) if port.isdigit() else None,
                               proto=socket.IPPROTO_TCP)
  except (socket.gaierror, UnicodeError, OSError, ValueError):
    return []
  found = []
  for *_, sockaddr in infos:
    try:
      ip = ipaddress.ip_address(sockaddr[0].split("%")[0])
    except ValueError:
      continue
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
      ip = ip.ipv4_mapped
    if not (ip.is_private or ip.is_loopback or ip.is_link_local) and str(ip) not in found:
      found.append(str(ip))
  return found


def bind_address(coordinator: str) -> str | None:
  """``HOST:PORT`` for process 0's coordination service when HOST is an address of this
  machine (it binds there, reachable only where the job's hosts meet), else None: JAX then
  binds every interface, for a coordinator named by an address that is not local (a NAT, a
  Kubernetes service). Local means bindable: a throwaway socket binds to it and closes."""
  host, _, port = coordinator.rpartition(":")
  try:
    infos = socket.getaddrinfo(host.strip("[]"), int(port), proto=socket.IPPROTO_TCP)
  except (socket.gaierror, UnicodeError, OSError, ValueError):
    return None
  for family, _, _, _, sockaddr in infos:
    try:
      with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((sockaddr[0], 0))
    except OSError:
      continue
    ip = sockaddr[0]
    return f"[{ip}]:{port}" if family == socket.AF_INET6 else f"{ip}:{port}"
  return None


def coordinator_warning(coordinator: str) -> str | None:
  """The one-line warning for a coordinator reachable from the internet, or None."""
  public = public_addresses(coordinator)
  if not public:
    return None
  return (f"esjax: warning: --coordinator {coordinator} resolves to the public address "
          f"{', '.join(public)}; JAX's coordination service has no authentication, so anyone "
          "who can reach that port can join or disrupt the job: use a private network address "
          "or a firewall (docs/scaling-security.md)")


def initialize(cfg: DistributedConfig = DistributedConfig()) -> bool:
  """Joins the job described by ``cfg`` (or auto-detected); returns whether one was joined.

  Must run before anything touches ``jax.devices()``. A single process with nothing detected
  returns False and changes nothing.
  """
  cfg.validate()
  if not cfg.explicit and detected_cluster() is None:
    return False
  if cfg.explicit:
    warning = coordinator_warning(cfg.coordinator)
    if warning:
      print(warning, file=sys.stderr, flush=True)
  use_cpu_collectives()
  # JAX's own heartbeat verdict aborts the process with a C++ stack dump (its callback for it
  # cannot be set from Python): esjax's watch (liveness.py) decides first, in one line.
  kwargs = dict(initialization_timeout=cfg.init_timeout_s,
                heartbeat_timeout_seconds=liveness.jax_heartbeat_s(cfg.heartbeat_s),
                shutdown_timeout_seconds=cfg.shutdown_timeout_s)
  if cfg.explicit:
    kwargs.update(coordinator_address=cfg.coordinator, num_processes=cfg.num_processes,
                  process_id=cfg.process_id)
    if cfg.process_id == 0:
      kwargs["coordinator_bind_address"] = bind_address(cfg.coordinator)
  # Timeout names have changed across JAX releases: pass only those this JAX knows.
  known = inspect.signature(jax.distributed.initialize).parameters
  jax.distributed.initialize(**{k: v for k, v in kwargs.items() if k in known})
  liveness.watch(_client(), cfg.heartbeat_s, _job_lost)
  _log.info("joined JAX job: process %d of %d, %d local / %d global devices",
            jax.process_index(), jax.process_count(), jax.local_device_count(),
            jax.device_count())
  return True


_barriers = {"count": 0}


def barrier(name: str, timeout_s: float = 1800.0) -> None:
  """Waits until every process of the job reaches this point (no-op with one process).

  Through the coordination service, not a device collective: gloo gives a peer only 30 s to
  join a collective's first run, less than one process's compile can lag another's on a
  loaded host. Every process must pass the same barriers in the same order (ids count up).
  """
  client = _client()
  if client is None:
    return
  _barriers["count"] += 1
  client.wait_at_barrier(f"esjax:{name}:{_barriers['count']}", int(timeout_s * 1000))


_CHUNK = 1 << 20  # characters per key: well under gRPC's default 4 MB message limit


def from_main(name: str, value: Any = None, timeout_s: float = 1800.0) -> Any:
  """Process 0's JSON value ``value`` on every process (the others pass nothing).

  Through the coordination service's key-value store, in chunks, so a long run's records fit:
  nothing here needs the other processes' disks to hold what process 0's does. Every process
  must call it at the same points, like ``barrier``.
  """
  client = _client()
  if client is None:
    return value
  _barriers["count"] += 1
  key = f"esjax:{name}:{_barriers['count']}"
  if is_main_process():
    text = json.dumps(value)
    chunks = [text[i:i + _CHUNK] for i in range(0, len(text), _CHUNK)] or [""]
    for i, chunk in enumerate(chunks):
      client.key_value_set(f"{key}/{i}", chunk)
    client.key_value_set(f"{key}/n", str(len(chunks)))  # last: the chunks are all there
    return value
  ms = int(timeout_s * 1000)
  n = int(client.blocking_key_value_get(f"{key}/n", ms))
  return json.loads("".join(client.blocking_key_value_get(f"{key}/{i}", ms)
                            for i in range(n)))


def main_decides(name: str, check: Callable[[], Any]) -> Any:
  """``check()`` run on process 0 alone (its disk, its lock), and its ConfigError raised on
  every process alike: without that, process 0 would leave with one line while the others
  waited for it in the next collective and ended by a lost peer's exit instead. Returns what
  ``check`` returned on process 0, None on the others. Every process must call it at the
  same points, like ``barrier``."""
  result, error = None, None
  if is_main_process():
    try:
      result = check()
    except ConfigError as e:
      error = e
  verdict = from_main(name, {"error": None if error is None else str(error)})
  if error is not None:
    raise error  # process 0's own exception, its type kept
  if verdict["error"] is not None:
    raise ConfigError(verdict["error"])
  return result


def arrays_from_main(name: str, tree):
  """Process 0's host arrays ``tree`` on every process, bit for bit (the others pass arrays of
  the same shapes and dtypes, e.g. their own fresh state).

  An all-gather, not ``multihost_utils.broadcast_one_to_all``: that one sums with zeros from
  the other processes, which turns a -0.0 into +0.0. After a barrier, so the gather's first run
  does not start on one process while another is still compiling (``barrier`` says why).
  """
  if jax.process_count() == 1:
    return tree
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  leaves, structure = jax.tree.flatten(tree)
  full = [i for i, x in enumerate(leaves) if np.size(x)]  # an empty leaf has nothing to send
  barrier(name)
  gathered = multihost_utils.process_allgather([np.asarray(leaves[i]) for i in full])
  for i, x in zip(full, gathered):
    leaves[i] = np.asarray(x[0])
  return jax.tree.unflatten(structure, leaves)


def _client():
  """JAX's coordination-service client in a multi-process job, else None."""
  if jax.process_count() == 1:
    return None
  from jax._src import distributed  # pylint: disable=g-import-not-at-top
  return distributed.global_state.client


def _job_lost(why: str) -> None:
  """The watch's verdict that this job is over: one line, exit 3, no waiting (liveness.py)."""
  print(f"esjax: error: process {jax.process_index()} of {jax.process_count()}: the "
        f"multi-process job failed ({why}); another process has probably died or its host is "
        "unreachable, see its log. Exiting without waiting for it.", file=sys.stderr, flush=True)
  os._exit(EXIT_JOB_FAILED)


def is_main_process() -> bool:
  """Only process 0 writes outputs and prints; all processes compute the same state."""
  return jax.process_index() == 0


# How long a process that met a config error waits for the others to meet it too.
_LEAVE_TOGETHER_S = 20.0


def _leave_together() -> None:
  """After a config error, when every process meets it (a setting each one checks alike, or a
  verdict sent from process 0, as a resume's): wait for the others and shut the job down
  together. Process 0 hosts the coordination service: had it left first, the others' agents
  would find the service gone and abort their processes with a fatal log (exit -6) before
  they said why. An error this process met alone: the others never come, and after the wait
  it leaves as it would have."""
  try:
    _client().wait_at_barrier("esjax:leaving on a config error", int(_LEAVE_TOGETHER_S * 1000))
    liveness.stop()  # leaving normally: no peer's watch may take this process for dead
    jax.distributed.shutdown()
  except Exception:  # noqa: BLE001 - the others did not come: leave alone
    pass


@contextlib.contextmanager
def exit_on_job_failure(exit_usage: int = 2):
  """In a multi-process job, turns any error into one line on stderr and an immediate exit.

  Why not just raise: the survivors of a dead peer see a failed collective ("Connection closed
  by peer") and, on a normal exit, JAX's shutdown barrier would then wait for the dead process
  and abort with a fatal log and a stack dump. ``os._exit`` skips that barrier; the other
  processes notice this one's absence through gloo/NCCL or the heartbeat and exit the same way.
  A single process re-raises unchanged.
  """
  try:
    yield
  except Exception as e:  # noqa: BLE001 - every error ends the job; say so once and leave
    if jax.process_count() == 1:
      raise
    if os.environ.get("ESJAX_TRACEBACK"):  # for debugging esjax itself
      import traceback
      traceback.print_exc()
    first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
    who = f"process {jax.process_index()} of {jax.process_count()}"
    if isinstance(e, ConfigError):
      print(f"esjax: error: {who}: {first}", file=sys.stderr, flush=True)
      _leave_together()
      os._exit(exit_usage)
    print(f"esjax: error: {who}: the multi-process job failed ({type(e).__name__}: {first}); "
          "another process has probably died, see its log. Exiting without waiting for it.",
          file=sys.stderr, flush=True)
    os._exit(EXIT_JOB_FAILED)
