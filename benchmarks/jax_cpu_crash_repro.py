"""Minimal reproducer of the XLA CPU compile crash behind issue 23 (no esjax import).

What it shows: on jaxlib 0.11.2 a ``shard_map`` over 2 or more devices segfaults in XLA's
compile when a zero-element array enters its body as an operand: a captured constant (here
``jnp.zeros((0, 3))`` built outside the trace, which JAX hoists into an operand of the
manual computation), an argument, or a pass-through result. A NumPy array is not enough
(NumPy computes with it eagerly); a jax.Array closed over, as Brax's System is, is. The crash
is in Shardy's canonicalizer: ``mlir::sdy::(anonymous)::ManualComputationUnusedInputsPattern
::matchAndRewrite``, run from ``xla::sdy::ShardyXLA::RunImpl`` in
``xla::cpu::CpuCompiler::RunHloPasses`` (gdb backtrace). With one device the manual
computation is inlined and nothing crashes; an empty array *created inside* the body is not
an operand and compiles.

esjax met it through Brax's System (zero-row arrays for joint kinds a model lacks), a
black-box problem's (0,) normalizer state and obs sums, and ``x.at[:n].set(y)`` with n the
full length (its scatter index is a captured (0,) int32 constant). The step keeps every
empty array out of its shard_map since (``_without_empty_operands`` in
esjax/core/step.py).

Run: ``python -m benchmarks.jax_cpu_crash_repro`` runs the snippet in a child with 2 forced
CPU devices and exits with the child's status as a shell reports it (139 = SIGSEGV).
``--inside`` instead builds the empty array inside the body (the workaround): 0 everywhere.

Measured (2026-12-02, CPU, JAX_PLATFORMS=cpu):
  jax/jaxlib 0.10.2   (Python 3.11)  exit 0
  jax/jaxlib 0.11.2   (Python 3.13)  exit 139 (SIGSEGV);  --inside: exit 0
  jax/jaxlib 0.12.0.1 (Python 3.13)  exit 0
"""
import os
import subprocess
import sys

SNIPPET = """
import jax, jax.numpy as jnp
from jax.sharding import PartitionSpec as P
mesh = jax.make_mesh((2,), ("d",))
EMPTY = jnp.zeros((0, 3))  # a concrete array, built outside any trace
def body(x):
  empty = jnp.zeros((0, 3)) if INSIDE else EMPTY  # captured: an operand of the shard_map
  return x + empty.sum()
f = jax.jit(jax.shard_map(body, mesh=mesh, in_specs=P(), out_specs=P()))
print(jax.__version__, f(jnp.ones(4)))
"""


def main() -> int:
  inside = "--inside" in sys.argv[1:]
  env = dict(os.environ, JAX_PLATFORMS="cpu",
             XLA_FLAGS="--xla_force_host_platform_device_count=2")
  p = subprocess.run([sys.executable, "-c", f"INSIDE = {inside}\n" + SNIPPET], env=env)
  code = p.returncode if p.returncode >= 0 else 128 - p.returncode
  print(f"child exit {code}" + (" (SIGSEGV)" if p.returncode == -11 else ""))
  return code


if __name__ == "__main__":
  sys.exit(main())
