"""Run a snippet of Python in a fresh interpreter with N forced CPU devices.

The device count of the CPU backend is fixed when JAX starts, so every multi-device test
needs its own process. The snippet prints one JSON object as its last stdout line.
"""
import json
import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# For tests that only read the optimized HLO: these change LLVM code generation, not the HLO
# passes, and cut a Brax compile several times over.
FAST_COMPILE = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def env_with_devices(n: int, xla_flags: str = "", **extra) -> dict:
  env = dict(os.environ)
  env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={n} {xla_flags}".strip()
  env["JAX_PLATFORMS"] = "cpu"
  env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
  env.update({k: str(v) for k, v in extra.items()})
  return env


def start(code: str, devices: int, xla_flags: str = "", **extra) -> subprocess.Popen:
  return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                          env=env_with_devices(devices, xla_flags, **extra), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def result(proc: subprocess.Popen, timeout: float = 300) -> dict:
  try:
    out, err = proc.communicate(timeout=timeout)
  except subprocess.TimeoutExpired:
    proc.kill()
    out, err = proc.communicate()
    raise AssertionError(f"subprocess timed out after {timeout} s:\n{err[-3000:]}")
  assert proc.returncode == 0, f"subprocess failed ({proc.returncode}):\n{err[-3000:]}"
  return json.loads(out.strip().splitlines()[-1])


def run_all(code: str, device_counts, timeout: float = 300, xla_flags: str = "",
            **extra) -> dict[int, dict]:
  """Runs ``code`` once per device count, concurrently; returns {count: json}."""
  procs = {n: start(code, n, xla_flags, **extra) for n in device_counts}
  return {n: result(p, timeout) for n, p in procs.items()}


def without_xla_logs(err: str) -> str:
  """``err`` less XLA's own logging (its "slow compile" alarm on a loaded machine: an
  absl-prefixed line and a banner of stars), so a test can count esjax's one line."""
  keep = [l for l in err.splitlines()
          if l.strip() and not l.startswith(("E1", "W1", "I1", "*", "[Compiling"))]
  return "".join(l + "\n" for l in keep)
