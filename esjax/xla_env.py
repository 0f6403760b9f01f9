"""XLA settings that a run's bits depend on, applied before JAX starts its CPU backend.

On CPU esjax turns fused multiply-add off (``--xla_cpu_max_isa=AVX``: 256-bit vectors, no FMA).
LLVM contracts ``a * b + c`` into one FMA, rounded once, only where the multiply and the add
land in the same kernel, and XLA fuses kernels differently in programs built for different
layouts (the one-device program skips SPMD partitioning; a one-chunk loop is inlined). With
FMA the same member's episode then rounds differently on 1 and on 2 devices, and chaotic
physics grows that last bit into a different policy. Without FMA every operation rounds once
wherever it is fused. Its cost is not measured yet (benchmarks/reproducible.py).

XLA reads the flag once, when the CPU backend starts, so it is set when esjax is imported.
Set ``ESJAX_CPU_FMA=1`` to keep FMA (faster on no machine we measured, not layout-invariant).
"""
from __future__ import annotations

import os
import sys

NO_FMA_FLAG = "--xla_cpu_max_isa=AVX"
_state = {"in_effect": None}  # True/False once decided at import


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
