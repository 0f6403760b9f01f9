"""Returns vs gradient communication: bytes per generation (from the compiled HLO) and time.

    python -m benchmarks.comm [--devices 4] [--pops 32,256] [--params 1000,10000,100000]

Both modes run the same ES generation on a black-box fitness over forced CPU devices (set
before JAX starts), so the rollout cost is nil and what differs is exactly the comm pattern:

* ``returns``: all-gather ``pop`` floats, then every device rebuilds all ``pop`` noise vectors
  (``pop x P`` normals per device);
* ``gradient``: every device rebuilds only its own ``pop / D`` vectors and the ``P``-sized sum
  is psummed (an all-reduce of ``4 P`` bytes).

Writes ``benchmarks/results/comm.md`` (table, machine, JAX version, devices) and ``comm.png``.
Forced CPU devices share one memory, so "network" time here is a memcpy: the timings show the
compute side of the trade; the bytes column is what a real interconnect would carry.
"""
from __future__ import annotations

import argparse
import os
import sys

_p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
_p.add_argument("--devices", type=int, default=4)
_p.add_argument("--pops", default="32,256")
_p.add_argument("--params", default="1000,10000,100000")
_p.add_argument("--generations", type=int, default=2, help="timed generations per call")
_p.add_argument("--repeats", type=int, default=2, help="timed calls; the fastest counts")
_p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
ARGS = _p.parse_args()
if "jax" not in sys.modules:  # the CPU device count is fixed when JAX starts
  os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count={ARGS.devices}")

import platform  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import esjax  # noqa: E402
from esjax.core import hlo  # noqa: E402
from esjax.training.train import setup  # noqa: E402

MODES = ("returns", "gradient")


def measure(comm: str, pop: int, num_params: int) -> dict:
  config = esjax.TrainConfig.of(population_size=pop, generations=1, eval_every=0,
                             normalize_obs=False, comm=comm, num_devices=ARGS.devices,
                             generations_per_call=ARGS.generations)
  target = jnp.linspace(-1.0, 1.0, num_params)
  s = setup(config, esjax.black_box(lambda p, k: -jnp.sum((p - target) ** 2)),
            jnp.zeros(num_params))
  found = hlo.step_traffic(s)
  state, _, _ = s.run_generations(s.state, ARGS.generations)  # compile + warm up
  jax.block_until_ready(state)
  best = float("inf")
  for _ in range(ARGS.repeats):
    t = time.perf_counter()
    state, buf, _ = s.run_generations(state, ARGS.generations)
    jax.block_until_ready((state, buf))
    best = min(best, (time.perf_counter() - t) / ARGS.generations)
  return {"comm": comm, "pop": pop, "params": num_params,
          "bytes": sum(c.bytes for c in found),
          "ops": ", ".join(f"{c.op} {c.bytes} B" for c in found), "ms": best * 1e3}


def machine() -> str:
  dev = jax.devices()[0]
  load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
  return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores "
          f"(load average {load:.1f} at start), Python {platform.python_version()}, "
          f"JAX {jax.__version__}, {jax.device_count()} x {dev.platform} devices "
          f"({dev.device_kind})")


def write_table(rows, path, header):
  lines = [header, "", "| pop | params | mode | bytes/gen (HLO) | collectives | ms/gen |",
           "| ---: | ---: | --- | ---: | --- | ---: |"]
  for r in rows:
    lines.append(f"| {r['pop']} | {r['params']:,} | {r['comm']} | {r['bytes']:,} | {r['ops']} "
                 f"| {r['ms']:.1f} |")
  lines += ["", "Winner per cell. *Break-even link*: returns mode spends extra compute "
            "rebuilding every member's noise; gradient mode sends extra bytes (a ring "
            "all-reduce moves about 2x its payload per device). Below this link bandwidth the "
            "extra bytes cost more than the extra compute, and returns mode wins on time too.",
            "", "| pop | params | fewer bytes | faster here | bytes ratio gradient/returns "
            "| break-even link |", "| ---: | ---: | --- | --- | ---: | ---: |"]
  by = {(r["pop"], r["params"], r["comm"]): r for r in rows}
  for pop, n in sorted({(r["pop"], r["params"]) for r in rows}):
    a, b = by[(pop, n, "returns")], by[(pop, n, "gradient")]
    lines.append(f"| {pop} | {n:,} | {'returns' if a['bytes'] <= b['bytes'] else 'gradient'} "
                 f"| {'returns' if a['ms'] <= b['ms'] else 'gradient'} "
                 f"| {b['bytes'] / a['bytes']:.0f}x | {_break_even(a, b)} |")
  with open(path, "w") as f:
    f.write("\n".join(lines) + "\n")


def _break_even(a, b) -> str:
  extra_s = (a["ms"] - b["ms"]) / 1e3
  if extra_s <= 0:
    return "returns wins at any bandwidth"
  return f"{2 * (b['bytes'] - a['bytes']) / extra_s / 1e6:.2f} MB/s"


def plot(rows, path, title):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
  for pop in sorted({r["pop"] for r in rows}):
    for comm, style in zip(MODES, ("-o", "--s")):
      rs = sorted((r for r in rows if r["pop"] == pop and r["comm"] == comm),
                  key=lambda r: r["params"])
      x = [r["params"] for r in rs]
      axes[0].plot(x, [r["bytes"] for r in rs], style, label=f"{comm}, pop {pop}")
      axes[1].plot(x, [r["ms"] for r in rs], style, label=f"{comm}, pop {pop}")
  for ax, ylabel in zip(axes, ("collective bytes per generation (HLO)", "ms per generation")):
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("policy parameters")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
  axes[0].legend(fontsize=8)
  fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=110)


def main():
  os.makedirs(ARGS.out, exist_ok=True)
  header = (f"# comm modes, {ARGS.devices} devices\n\nMachine: {machine()}\n\n"
            f"Command: `python -m benchmarks.comm {' '.join(sys.argv[1:])}`. Time per "
            "generation is the fastest of the timed calls; the bytes are per generation, "
            "summed over the collectives of the compiled step.")
  print(header)
  rows = []
  for pop in (int(v) for v in ARGS.pops.split(",")):
    for n in (int(v) for v in ARGS.params.split(",")):
      for comm in MODES:
        r = measure(comm, pop, n)
        rows.append(r)
        print(f"pop {pop:5d}  params {n:8,d}  {comm:8s}  {r['bytes']:10,d} B/gen  "
              f"{r['ms']:9.1f} ms/gen", flush=True)
  write_table(rows, os.path.join(ARGS.out, "comm.md"), header)
  plot(rows, os.path.join(ARGS.out, "comm.png"), f"{ARGS.devices} devices. {machine()}")
  print("wrote", os.path.join(ARGS.out, "comm.md"), "and comm.png")


if __name__ == "__main__":
  main()
