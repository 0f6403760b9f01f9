"""Shared benchmark helpers: machine info, timing with block_until_ready, compile counting,
an ES learning curve, a child process on N forced CPU devices, table writing (markdown + CSV +
JSON under ``benchmarks/results/``).

Every script runs from the repo root as ``python -m benchmarks.NAME`` (claims:
``python -m benchmarks.claims.NAME``) and imports this first; nothing here touches esjax
internals.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, NamedTuple, Sequence

import jax

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(ROOT, "benchmarks", "results")
_BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"


def cpu_model() -> str:
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
  """What a number means nothing without: CPU, cores, JAX version and the device it ran on."""
  dev = jax.devices()[0]
  info = {
      "cpu": cpu_model(),
      "cores": os.cpu_count(),
      "python": platform.python_version(),
      "jax": jax.__version__,
      "backend": jax.default_backend(),
      "device": getattr(dev, "device_kind", str(dev)),
      "device_count": jax.device_count(),
      # At the default precision a GPU may run float32 dots in TF32: a GPU number says which.
      "matmul_precision": str(jax.config.jax_default_matmul_precision or "default"),
      "load_avg_1m": round(os.getloadavg()[0], 2),
      "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
  }
  with contextlib.suppress(Exception), contextlib.redirect_stdout(io.StringIO()):
    import brax
    info["brax"] = brax.__version__
  return info


def block(tree):
  return jax.tree.map(lambda x: x.block_until_ready() if hasattr(x, "block_until_ready") else x,
                      tree)


def timed(fn: Callable, *args, **kwargs):
  """``(result, seconds)`` of one call, waiting for every output array."""
  t = time.perf_counter()
  out = block(fn(*args, **kwargs))
  return out, time.perf_counter() - t


def best_of(fn: Callable, repeats: int = 3) -> float:
  """Median wall seconds of ``repeats`` calls of ``fn()`` (already compiled). The machine is
  shared, so the median is steadier than the mean and less flattering than the minimum."""
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    block(fn())
    times.append(time.perf_counter() - t)
  return statistics.median(times)


def interleaved(fns: dict[str, Callable], repeats: int = 3) -> dict[str, dict[str, float]]:
  """Times compiled ``fns`` round-robin, ``repeats`` rounds; per name the median wall seconds
  and median process CPU seconds (``time.process_time``: all threads of this process).

  On a machine shared with other jobs, round-robin puts every variant under the same load,
  and CPU seconds count this process's work whatever the others do: ratios of CPU seconds
  are the steadier comparison.
  """
  wall = {k: [] for k in fns}
  cpu = {k: [] for k in fns}
  for _ in range(repeats):
    for k, fn in fns.items():
      c, t = time.process_time(), time.perf_counter()
      block(fn())
      wall[k].append(time.perf_counter() - t)
      cpu[k].append(time.process_time() - c)
  return {k: {"wall": statistics.median(wall[k]), "cpu": statistics.median(cpu[k])} for k in fns}


def paired(fns: dict[Any, Callable], ref: Callable, rounds: int = 5) -> dict[Any, dict]:
  """Times compiled ``fns`` against ``ref``, each call right after a call of ``ref``,
  round-robin over ``fns`` for ``rounds`` rounds; per name ``{seconds, ref_seconds, ratio}``:
  the median wall seconds of its calls, of the ``ref`` calls paired with them, and the median
  of the paired ratios.

  This machine's speed drifts by tens of percent within minutes: a ratio to a reference
  timed a moment before sees the same machine, where two timings minutes apart do not."""
  for fn in (ref, *fns.values()):
    block(fn())  # compile (a no-op once compiled)
  secs = {k: [] for k in fns}
  refs = {k: [] for k in fns}
  for _ in range(rounds):
    for k, fn in fns.items():
      refs[k].append(best_of(ref, 1))
      secs[k].append(best_of(fn, 1))
  return {k: {"seconds": statistics.median(secs[k]), "ref_seconds": statistics.median(refs[k]),
              "ratio": statistics.median([s / r for s, r in zip(secs[k], refs[k])])}
          for k in fns}


class CompileCounter:
  """Counts XLA backend compilations (via ``jax.monitoring``) while active.

  ``with CompileCounter() as c: ...; c.count`` -- the proof that a loop does not recompile.
  """
  _listening = False
  _active: list["CompileCounter"] = []

  def __init__(self):
    self.count = 0
    self.seconds = 0.0

  @classmethod
  def _listener(cls, event, duration, **kwargs):
    if event == _BACKEND_COMPILE:
      for c in cls._active:
        c.count += 1
        c.seconds += duration

  def __enter__(self):
    if not CompileCounter._listening:
      jax.monitoring.register_event_duration_secs_listener(CompileCounter._listener)
      CompileCounter._listening = True
    CompileCounter._active.append(self)
    return self

  def __exit__(self, *exc):
    CompileCounter._active.remove(self)


class Curve(NamedTuple):
  """One ``esjax.train`` run seen from outside: ``evals`` holds its records that carry an
  evaluation, each with ``at_wall_s``, ``at_cpu_s`` and ``at_compile_s`` added (seconds since
  the call began, when the record arrived); the totals are for the whole call."""
  evals: list[dict[str, Any]]
  result: Any  # esjax.TrainResult
  wall_s: float
  cpu_s: float
  compile_s: float
  compiles: int


def es_curve(config, **train_kwargs) -> Curve:
  """Trains ``config`` (no progress bar) and times each evaluation as it arrives."""
  # Not at the top: importing esjax edits XLA_FLAGS, which children spawned with this
  # process's environment (compile_cache, cpu_split) must not inherit.
  import esjax  # pylint: disable=g-import-not-at-top
  evals = []
  t0, c0 = time.perf_counter(), time.process_time()
  with CompileCounter() as cc:

    def record(r):
      if "eval_return" in r:
        evals.append({**r, "at_wall_s": time.perf_counter() - t0,
                      "at_cpu_s": time.process_time() - c0, "at_compile_s": cc.seconds})

    result = esjax.train(config, progress=False, on_record=record, **train_kwargs)
  return Curve(evals, result, time.perf_counter() - t0, time.process_time() - c0, cc.seconds,
               cc.count)


def forced_devices_env(devices: int | None) -> dict[str, str]:
  """This environment for a child on ``devices`` forced CPU devices (None: the default
  backend, as is) that imports this checkout's esjax and benchmarks."""
  env = dict(os.environ)
  if devices is not None:
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                        f" --xla_force_host_platform_device_count={devices}").strip()
    env["JAX_PLATFORMS"] = "cpu"
  env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
  return env


def spawn(module: str, args: Sequence[str], devices: int | None,
          timeout: float = 1800) -> dict[str, Any]:
  """Runs ``python -m module *args`` on ``devices`` forced CPU devices (JAX fixes the count when
  it starts, so each count needs its own process); returns the JSON of each ``TAG {...}`` line
  it printed, by tag. A child that printed no ``RESULT`` line raises with its stderr's tail."""
  out = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT,
                       env=forced_devices_env(devices), capture_output=True, text=True,
                       timeout=timeout)
  found = {}
  for line in out.stdout.splitlines():
    tag, _, rest = line.partition(" ")
    if tag.isupper() and rest.startswith("{"):
      found[tag] = json.loads(rest)
  if "RESULT" not in found:
    raise RuntimeError(f"{module} {' '.join(args)} failed ({out.returncode}) on {devices} "
                       f"devices:\n{out.stderr[-3000:]}")
  return found


_TRAIN_CHILD = """
import hashlib, json, os, time
t = time.perf_counter()
import numpy as np, jax, esjax
r = esjax.train(esjax.TrainConfig.of(**{kw!r}), progress=False, compile_cache={cache!r})
wall = time.perf_counter() - t
walls = [m["wall_s"] for m in r.metrics if "wall_s" in m]  # seconds since training started
print("RESULT " + json.dumps(dict(
    wall_s=wall, first_s=walls[0],
    gen_s=(walls[-1] - walls[0]) / (len(walls) - 1) if len(walls) > 1 else None,
    devices=jax.device_count(), flags=os.environ.get("XLA_FLAGS", ""),
    eval_return=r.metrics[-1].get("eval_return"),
    sha256=hashlib.sha256(np.asarray(r.flat_params, np.float32).tobytes()).hexdigest())))
"""


def train_in_child(config: dict[str, Any], root: str = ROOT, xla_flags: str = "",
                   timeout: float = 3600, compile_cache: str | None = None,
                   **env_vars: str) -> dict[str, Any]:
  """``esjax.train(TrainConfig.of(**config))`` in a fresh process (compile included; no
  compilation cache unless ``compile_cache`` names its folder) with the esjax of ``root`` and
  ``xla_flags`` added to ``XLA_FLAGS``:
  wall_s (the whole process), first_s (the first generation; esjax's training clock starts
  after the compile), gen_s (the mean generation after it), devices, flags, eval_return and
  sha256 of the final float32 params. ``env_vars`` are set in the child's environment."""
  env = dict(os.environ, **env_vars)
  if xla_flags:
    env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {xla_flags}".strip()
  return run_child(_TRAIN_CHILD.format(kw=config, cache=compile_cache), root, env, timeout,
                   what=f"train({config})")


def run_child(code: str, root: str = ROOT, env: dict[str, str] | None = None,
              timeout: float = 3600, what: str = "child") -> dict[str, Any]:
  """The JSON of the last ``RESULT {...}`` line that ``python -c code`` printed, run with the
  esjax of ``root`` (``env``: the child's environment, default this one's); a child that
  printed none raises with its stderr's tail."""
  env = dict(env if env is not None else os.environ, PYTHONPATH=root)
  out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True,
                       text=True, timeout=timeout)
  line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
  if not line:
    raise RuntimeError(f"{what} failed ({out.returncode}):\n{out.stderr[-3000:]}")
  return json.loads(line[-1][7:])


def checkout(ref: str) -> str:
  """The tree at the merge base of HEAD and ``ref`` (``git archive``) in a temporary folder:
  the code a change started from, for before/after rows."""
  base = subprocess.run(["git", "merge-base", "HEAD", ref], cwd=ROOT, check=True,
                        capture_output=True, text=True).stdout.strip()
  folder = tempfile.mkdtemp(prefix="esjax-before-")
  archive = subprocess.run(["git", "archive", base], cwd=ROOT, check=True,
                           capture_output=True).stdout
  subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
  return folder


def command_line() -> str:
  """How this process was started, as typed: ``python -m benchmarks.NAME ARGS``."""
  spec = getattr(sys.modules["__main__"], "__spec__", None)
  head = (["-m", spec.name.removesuffix(".__main__")] if spec is not None
          else [os.path.relpath(sys.argv[0])])
  return shlex.join(["python", *head, *sys.argv[1:]])  # quoted: an empty value stays ''


def fmt(v: Any) -> str:
  if isinstance(v, float):
    if v != v:
      return "nan"
    if abs(v) >= 1000:
      return f"{v:,.0f}"
    if abs(v) >= 10:
      return f"{v:.1f}"
    return f"{v:.3g}"
  return str(v)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
  columns = list(columns or rows[0].keys())
  lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
  for r in rows:
    lines.append("| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |")
  return "\n".join(lines)


def write_results(name: str, title: str, rows: Sequence[dict[str, Any]], notes: Sequence[str],
                  command: str | None = None, columns: Sequence[str] | None = None,
                  out_dir: str | None = None, extra: dict[str, Any] | None = None,
                  machine: dict[str, Any] | None = None) -> str:
  """Writes ``<name>.md``, ``<name>.csv`` and ``<name>.json``; returns the markdown.

  Files are written whole to a temporary name and renamed, so an interrupted run never
  leaves a half table behind.
  """
  out_dir = out_dir or RESULTS_DIR
  os.makedirs(out_dir, exist_ok=True)
  command = command or command_line()
  info = machine or machine_info()  # given: rows measured on another machine (a lent GPU)
  md = [f"### {title}", "", f"Command: `{command}`", "",
        "Machine: " + ", ".join(f"{k}={v}" for k, v in info.items()), "",
        markdown_table(rows, columns), ""]
  md += [f"- {n}" for n in notes]
  text = "\n".join(md) + "\n"
  columns = list(columns or rows[0].keys())
  buf = io.StringIO()
  w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
  w.writeheader()
  w.writerows(rows)
  payload = {"title": title, "command": command, "machine": info, "rows": list(rows),
             "notes": list(notes), **(extra or {})}
  for ext, data in (("md", text), ("csv", buf.getvalue()),
                    ("json", json.dumps(payload, indent=2, default=float))):
    path = os.path.join(out_dir, f"{name}.{ext}")
    with open(path + ".tmp", "w") as f:
      f.write(data)
    os.replace(path + ".tmp", path)
  print(text, flush=True)
  return text


def pyplot():
  """``matplotlib.pyplot`` on the Agg backend: benchmark plots need no display."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def save_figure(fig, path: str) -> None:
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  pyplot().close(fig)


def log(*args):
  print(*args, file=sys.stderr, flush=True)
