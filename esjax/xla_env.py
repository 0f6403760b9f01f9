"""XLA settings that a run's bits depend on, applied before JAX starts its CPU backend.

On CPU esjax turns fused multiply-add off (``--xla_cpu_max_isa=AVX``: 256-bit vectors, no FMA).
LLVM contracts ``a * b + c`` into one FMA, rounded once, only where the multiply and the add
land in the same kernel, and XLA fuses kernels differently in programs built for different
layouts (the one-device program skips SPMD partitioning; a one-chunk loop is inlined). With
FMA the same member's episode then rounds differently on 1 and on 2 devices, and chaotic
physics grows that last bit into a different policy. Without FMA every operation rounds once
wherever it is fused. Its cost was within this machine's noise (benchmarks/reproducible.py:
+11% on hopper, -1% on ant, per generation).

XLA reads the flag once, when the CPU backend starts, so it is set when esjax is imported.
Set ``ESJAX_CPU_FMA=1`` to keep FMA (faster on no machine we measured, not layout-invariant).

For the same reason esjax turns off XLA CPU's YNNPACK fusions (``NO_YNN_FLAG``). XLA hands a
dot to the YNNPACK library or emits it itself depending on the operands' sizes, and the two
add in different orders: on ant, a vmapped env step of 80 or more episodes hands three more of
its dots to the library than one of 72, and every member's return moved, so an episode's bits
depended on how many ran beside it (the lanes of core/lanes.py). With the fusions off, 80 and
128 lanes gave the bits of chunks of 64. The default runs of hopper and ant end in the same
params either way (tests/test_pinned.py; benchmarks/results/cpu_ynn.md), and their
generations ran no slower without the fusions (cpu_ynn.md: 1.14x and 1.04x the time with).
Naming the flag in ``XLA_FLAGS`` keeps the user's value; ``ESJAX_CPU_YNN=1`` keeps XLA's
default.

One XLA CPU device runs a vmapped rollout on about one core, so esjax also splits the CPU into
one device per core (``--xla_force_host_platform_device_count``) unless ``XLA_FLAGS`` already
names a count or ``ESJAX_CPU_DEVICES`` does (``ESJAX_CPU_DEVICES=1``: one device). Only the CPU
platform is split: on a GPU/TPU host the run still uses the accelerators. A run then uses the
most of these devices that keep its result the one-device result (``split_device_count`` in
esjax/core/step.py); ``num_devices`` overrides that.

The split is the default on every jaxlib, 0.11.2 included: its CPU compile segfaults on a split
CPU when a zero-element array is an operand of a shard_map, and the step keeps empty arrays out
of its shard_map (``_without_empty_operands`` in esjax/core/step.py).
"""
from __future__ import annotations

import os
import sys

from esjax import compat

NO_FMA_FLAG = "--xla_cpu_max_isa=AVX"
NO_YNN_FLAG = "--xla_cpu_experimental_ynn_fusion_type="  # an empty list: no YNNPACK fusions
# The first jaxlib known to read it (0.10.2, 0.11.2 and 0.12.0 do): XLA aborts the process on a
# flag it does not know, so older ones keep their default.
YNN_FLAG_SINCE = (0, 10, 2)
DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"
# in_effect: True/False once decided at import; cpu_split: the device count esjax chose, or None
_state = {"in_effect": None, "cpu_split": None}


def _backends_started() -> bool:
  if "jax" not in sys.modules:  # nothing can have started a backend without importing jax
    return False
  from jax._src import xla_bridge  # pylint: disable=g-import-not-at-top
  return xla_bridge.backends_are_initialized()


def request_no_fma() -> None:
  """Adds ``NO_FMA_FLAG`` to ``XLA_FLAGS`` if no backend has started yet (called on import)."""
  flags = os.environ.get("XLA_FLAGS", "")
  if os.environ.get("ESJAX_CPU_FMA") == "1":
    _state["in_effect"] = False
  elif "--xla_cpu_max_isa" in flags:
    _state["in_effect"] = NO_FMA_FLAG in flags.split()
  elif _backends_started():
    _state["in_effect"] = False
  else:
    os.environ["XLA_FLAGS"] = f"{flags} {NO_FMA_FLAG}".strip()
    _state["in_effect"] = True


def no_fma_in_effect() -> bool:
  return bool(_state["in_effect"])


def request_no_ynn() -> None:
  """Adds ``NO_YNN_FLAG`` to ``XLA_FLAGS`` if no backend has started, the user named no YNN
  setting (the flag, or ``ESJAX_CPU_YNN=1``) and this jaxlib reads the flag (on import)."""
  flags = os.environ.get("XLA_FLAGS", "")
  if (os.environ.get("ESJAX_CPU_YNN") == "1" or NO_YNN_FLAG.split("=")[0] in flags
      or _backends_started()):
    return
  if compat.release(compat.installed_version("jaxlib")) >= YNN_FLAG_SINCE:
    os.environ["XLA_FLAGS"] = f"{flags} {NO_YNN_FLAG}".strip()


def cpu_cores() -> int:
  """The cores this process may run on (its affinity mask, not the machine's count)."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # not on Linux
    return os.cpu_count() or 1


def default_cpu_devices(wanted: str | None, cores: int) -> int:
  """The CPU device count esjax asks for: ``ESJAX_CPU_DEVICES`` if it is a whole number >= 1,
  else one per core. A malformed value must not stop the import, so it is named on stderr and
  the default stands."""
  if not wanted:
    return cores
  try:
    count = int(wanted)
  except ValueError:
    count = 0
  if count >= 1:
    return count
  sys.stderr.write(f"esjax: ESJAX_CPU_DEVICES={wanted!r} is not a whole number >= 1; "
                   f"using one CPU device per core ({cores})\n")
  return cores


def request_cpu_devices() -> None:
  """Splits the CPU into one XLA device per core if nobody chose a count (called on import)."""
  flags = os.environ.get("XLA_FLAGS", "")
  if DEVICE_COUNT_FLAG in flags or _backends_started():
    return
  count = default_cpu_devices(os.environ.get("ESJAX_CPU_DEVICES"), cpu_cores())
  if count > 1:
    os.environ["XLA_FLAGS"] = f"{flags} {DEVICE_COUNT_FLAG}={count}".strip()
    _state["cpu_split"] = count


def cpu_split() -> int | None:
  """The CPU device count esjax chose at import, or None (one device, or the user's count)."""
  return _state["cpu_split"]
