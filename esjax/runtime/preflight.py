"""Before the first generation: say what the run will be, and refuse one that cannot fit.

The compiled step is built ahead of time (``jit(...).lower(...).compile()``; the later calls
reuse that executable, nothing compiles twice), which gives two facts no estimate could: the
collectives that cross devices per generation (read from its HLO) and the memory one device
needs to run it (XLA's own memory analysis). The device's capacity is its allocator limit on
an accelerator, and on a CPU host the available RAM split over the host's devices; either can
be overridden (``memory_limit``) to leave room for other jobs or to test the check.

A population that does not fit ends with one line naming the largest population that fits
on these devices, or the devices it would need, before any output directory is written:
instead of an out-of-memory error deep in the first generation.
"""
from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, Callable

import jax

from esjax.errors import ConfigError
from esjax.core import hlo

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


@dataclasses.dataclass(frozen=True)
class Plan:
  devices: int
  processes: int
  population: int
  members_per_device: int
  num_params: int
  bytes_per_generation: int  # cross-device payload of one generation, from the compiled HLO
  fixed_bytes: int  # per device: the state in and out (params, optimizer, normalizer, ...)
  step_bytes: int  # per device: fixed + the step's temporaries (rollouts, noise chunks)
  device_bytes: int | None  # per device, what it can hold (None: unknown)
  comm: str = ""  # the update's comm mode and why, one line (core/comm.py)
  axis_bytes: tuple[int, int] = (0, 0)  # of bytes_per_generation: (between, within) hosts
  # The step compiled here; train runs it, so the step is compiled once and every process has
  # it compiled before the first collective (see multihost.barrier).
  compiled: Any = dataclasses.field(default=None, compare=False, repr=False)

  def lines(self) -> list[str]:
    have = "unknown" if self.device_bytes is None else _size(self.device_bytes)
    return [
        f"devices: {self.devices} on {self.processes} process(es); "
        f"{self.members_per_device} of {self.population} members per device",
        f"parameters: {self.num_params:,}; crossing devices per generation: "
        f"{self.bytes_per_generation:,} bytes ({self.axis_bytes[0]:,} between hosts, "
        f"{self.axis_bytes[1]:,} within)",
        *([self.comm] if self.comm else []),
        f"memory per device: the step needs {_size(self.step_bytes)} of {have}",
    ]



def parse_size(text: str) -> int:
  """``"512M"``, ``"2G"``, ``"1.5G"`` or a plain byte count -> bytes."""
  m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", str(text), re.IGNORECASE)
  if not m or float(m[1]) <= 0:
    raise ConfigError(f"memory limit {text!r} is invalid; expected a size such as 512M, 2G or "
                      "a number of bytes")
  return int(float(m[1]) * _UNITS[m[2].upper()])


def device_capacity(device) -> int | None:
  """Bytes one device can hold: its allocator's limit, or on a CPU host the available RAM
  shared by the host's devices."""
  stats = device.memory_stats() if hasattr(device, "memory_stats") else None
  if stats and stats.get("bytes_limit"):
    return int(stats["bytes_limit"])
  try:
    with open("/proc/meminfo") as f:
      info = dict(line.split(":", 1) for line in f)
    available = int(info["MemAvailable"].split()[0]) * 1024
  except (OSError, KeyError, ValueError):
    return None
  return available // max(jax.local_device_count(), 1)


def plan(setup, memory_limit: int | None = None) -> Plan:
  """Compiles ``setup``'s step ahead of time and reads its traffic and memory."""
  compiled = setup.run_generations.lower(setup.state, 1).compile()
  mem = compiled.memory_analysis()
  fixed = mem.argument_size_in_bytes + mem.output_size_in_bytes - mem.alias_size_in_bytes
  population = setup.config.strategy.population_size
  devices = setup.mesh.size
  found = hlo.collectives(compiled.as_text())
  return Plan(
      devices=devices, processes=jax.process_count(), population=population,
      members_per_device=population // devices,
      num_params=int(setup.state.es.mean.shape[-1]),
      bytes_per_generation=sum(c.bytes for c in found),
      axis_bytes=hlo.axis_bytes(found, setup.mesh.devices.shape[-1]),
      comm=setup.comm.reason if setup.comm is not None else "",
      fixed_bytes=int(fixed), step_bytes=int(fixed + mem.temp_size_in_bytes),
      # This process's own device: another process's device has no memory stats here.
      device_bytes=memory_limit if memory_limit else device_capacity(setup.mesh.local_devices[0]),
      compiled=compiled)


def check_fits(p: Plan, multiple: int, replan: Callable[[int], Plan] | None = None) -> None:
  """ConfigError (one line) when the step needs more memory than a device has.

  The largest population that fits comes from the compiled step itself: ``replan(pop)``
  compiles it for another population, the two points give the memory per member (a line: the
  rollouts and update scale with the members per device, the state and noise chunks do not),
  and bisection confirms it by compiling the candidates. Only a run that does not fit pays for
  these extra compiles (at most log2 of the population over the multiple).
  """
  if p.device_bytes is None or p.step_bytes <= p.device_bytes:
    return
  need = (f"population_size={p.population} needs {_size(p.step_bytes)} per device but a device "
          f"has {_size(p.device_bytes)}")
  largest, exact = _largest(p, multiple, replan) if replan else (0, True)
  if largest >= multiple:
    devices = devices_for(p.population, largest // p.devices, multiple // p.devices)
    more = f" (or use {devices} devices)" if devices else ""
    raise ConfigError(f"{need}; the largest population that fits on these {p.devices} "
                      f"device(s) is {'' if exact else 'at least '}{largest}{more}")
  raise ConfigError(f"{need}; not even population_size={multiple} fits: use a smaller policy, "
                    "a smaller --noise-chunk or devices with more memory")


def devices_for(population: int, per_device: int, pair: int) -> int | None:
  """The fewest devices that hold ``population`` at most ``per_device`` members each, the
  population divided evenly into whole groups of ``pair`` (2: mirrored pairs) per device."""
  for devices in range(max(1, math.ceil(population / per_device)), population // pair + 1):
    if population % (devices * pair) == 0:
      return devices
  return None


def _largest(p: Plan, multiple: int, replan: Callable[[int], Plan],
             tries: int | None = None) -> tuple[int, bool]:
  """(population, exact): the largest multiple of ``multiple`` below ``p.population`` whose
  compiled step fits, found by a line through two compiled sizes and then bisection; exact is
  False when ``tries`` compiles did not close the gap (the population is then a lower bound)."""
  limit = p.device_bytes
  lo, hi = 0, p.population  # lo fits (0 trivially), hi does not
  if tries is None:
    # Enough for plain bisection to close the gap: the line guess misses when members are
    # evaluated in chunks (memory then stops growing with the population past one chunk).
    tries = max(1, math.ceil(math.log2(max(p.population // multiple, 2))))

  def probe(pop):
    nonlocal lo, hi
    if replan(pop).step_bytes <= limit:
      lo = pop
    else:
      hi = pop

  def snap(x):
    return min(max(int(x) // multiple * multiple, lo + multiple), hi - multiple)

  small = p.population // 2 // multiple * multiple
  if small < multiple:
    return 0, True
  q = replan(small)
  if q.step_bytes <= limit:
    lo = small
  else:
    hi = small
  # The members' share of memory grows about linearly: aim the first probe along that line.
  per_member = (p.step_bytes - q.step_bytes) / (p.population - small)
  guess = (limit - (q.step_bytes - per_member * small)) / per_member \
      if per_member > 0 else (lo + hi) / 2
  for _ in range(tries):
    if hi - lo <= multiple:
      break
    probe(snap(guess))
    guess = (lo + hi) / 2
  return lo, hi - lo <= multiple


def _size(n: int) -> str:
  for unit in ("B", "KiB", "MiB", "GiB"):
    if n < 1024 or unit == "GiB":
      return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
    n /= 1024
  return str(n)
