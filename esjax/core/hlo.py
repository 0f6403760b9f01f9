"""What crosses devices, read from the compiled program itself.

The claim of the method (docs/architecture.md, "scalar-only traffic") is about the compiled
step, so it is checked there: ``collectives(hlo_text)`` lists every cross-device collective in an
optimized HLO module with the bytes of the array it produces. The ES step compiles to one
``while`` loop whose body is one generation and contains every collective once, so the sum
over the module is the traffic of one generation.

Bytes are logical payload: the array an all-gather assembles, the array an all-reduce sums.
What the interconnect physically moves depends on the algorithm (a ring all-reduce sends
about twice the payload); it is the same factor for both comm modes, so comparisons hold.
``axis_bytes`` splits them by link: what stays inside a host (the mesh's inner axis) and what
crosses hosts (the outer axis), from each collective's device groups.
"""
from __future__ import annotations

import dataclasses
import re

import numpy as np

# Collective ops of XLA's HLO; "-start" forms are the async versions (GPU/TPU), whose "-done"
# halves move nothing new and are not counted.
_OPS = ("all-gather", "all-reduce", "reduce-scatter", "all-to-all", "collective-permute",
        "collective-broadcast", "ragged-all-to-all")
_DTYPE_BYTES = {"pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "f16": 2, "bf16": 2,
                "s32": 4, "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8, "c64": 8,
                "c128": 16}
_INSTR = re.compile(r"=\s*(?P<shape>.+?)\s+(?P<op>" + "|".join(_OPS) + r")(?P<start>-start)?\(")
_ARRAY = re.compile(r"(?P<dtype>[a-z]+\d*)\[(?P<dims>[\d,]*)\]")


_GROUPS = re.compile(r"(?:replica_groups|source_target_pairs)=\{(?P<list>(?:\{[\d,]*\},?)*)\}")
_IOTA = re.compile(r"replica_groups=\[(?P<shape>[\d,]+)\]<=\[(?P<dims>[\d,]+)\]"
                   r"(?:T\((?P<perm>[\d,]+)\))?")


@dataclasses.dataclass(frozen=True)
class Collective:
  op: str  # e.g. "all-gather"
  shapes: tuple[tuple[str, tuple[int, ...]], ...]  # (dtype, dims) of each array it produces
  bytes: int
  # The device groups it runs within (replica groups, or source-target pairs), by the
  # device's place in the mesh (row-major); () when the HLO names none (every device).
  groups: tuple[tuple[int, ...], ...] = ()


def _groups(line: str) -> tuple[tuple[int, ...], ...]:
  m = _GROUPS.search(line)
  if m:
    return tuple(tuple(int(d) for d in g.split(",") if d)
                 for g in re.findall(r"\{([\d,]*)\}", m["list"]))
  m = _IOTA.search(line)  # [G,S]<=[dims]T(perm): an iota over dims, transposed, as G x S
  if m:
    dims = [int(d) for d in m["dims"].split(",")]
    ids = np.arange(int(np.prod(dims))).reshape(dims)
    if m["perm"]:
      ids = ids.transpose([int(p) for p in m["perm"].split(",")])
    shape = [int(d) for d in m["shape"].split(",")]
    return tuple(tuple(int(i) for i in g) for g in ids.reshape(shape[0], -1))
  return ()


def _arrays(shape_text: str) -> list[tuple[str, tuple[int, ...]]]:
  out = []
  for m in _ARRAY.finditer(shape_text):
    if m["dtype"] in _DTYPE_BYTES:
      dims = tuple(int(d) for d in m["dims"].split(",") if d)
      out.append((m["dtype"], dims))
  return out


def collectives(hlo_text: str) -> list[Collective]:
  """Every collective instruction in an HLO module's text that crosses devices (not one whose
  groups are all of one device), with its payload bytes."""
  found = []
  for line in hlo_text.splitlines():
    m = _INSTR.search(line)
    if not m:
      continue
    arrays = _arrays(m["shape"])
    if m["start"] and m["op"] in ("all-gather", "collective-permute") and len(arrays) >= 2:
      # Async start returns (operands..., results...): keep the results (the second half).
      arrays = arrays[len(arrays) // 2:]
    groups = _groups(line)
    if groups and all(len(g) <= 1 for g in groups):
      continue  # every group one device (a one-device mesh keeps its gathers): nothing crosses
    nbytes = sum(_DTYPE_BYTES[d] * int(np.prod(s, dtype=np.int64)) for d, s in arrays)
    found.append(Collective(m["op"], tuple(arrays), nbytes, groups))
  return found


def collective_bytes(hlo_text: str) -> int:
  return sum(c.bytes for c in collectives(hlo_text))


def axis_bytes(found: list[Collective], per_host: int) -> tuple[int, int]:
  """(outer, inner) bytes of ``found`` on a mesh of hosts x ``per_host`` devices: a collective
  whose groups all stay inside one host uses only the inner (fast) link; any other crosses
  hosts and counts as outer (a collective over both axes included)."""
  outer = inner = 0
  for c in found:
    within = c.groups and all(len({d // per_host for d in g}) == 1 for g in c.groups)
    if within:
      inner += c.bytes
    else:
      outer += c.bytes
  return outer, inner


def step_hlo(setup) -> str:
  """Optimized HLO of one compiled ES call of a ``train.Setup`` (a loop of generations)."""
  return setup.run_generations.lower(setup.state, 1).compile().as_text()


def step_traffic(setup) -> list[Collective]:
  """The cross-device collectives of one generation of ``setup``'s compiled step."""
  return collectives(step_hlo(setup))
