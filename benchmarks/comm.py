"""The ``--comm`` modes side by side on forced CPU devices: bytes per mesh axis (from the
compiled HLO) and time per generation, as ratios to ``returns`` in one run.

    python -m benchmarks.comm [--devices 4] [--params 1000,100000] [--repeats 3]

Two tables. **Bytes**: a black-box step (pop 256) at each ``--params`` for every mode on
1 host x 4 devices and on 2 hosts x 2 (``--hosts 2``): what stays inside a host and what
crosses hosts (``esjax.core.hlo.axis_bytes``). **Time**: the black box at the largest
``--params`` (pop 256) and the default run's hopper (pop 256, the default policy and episode
length), each mode timed round-robin (``common.interleaved``), median wall and process-CPU
seconds per generation, and the CPU ratio to ``returns``. ``auto`` is timed as what it picked.

Forced CPU devices share this machine's cores and memory, so the exchange is a memcpy: the
times show the compute side of the trade (the rebuild split L ways); the bytes are what a
real link would carry. Writes ``benchmarks/results/comm.{md,csv,json}``.
"""
from __future__ import annotations

import argparse
import os
import sys

_p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
_p.add_argument("--devices", type=int, default=4)
_p.add_argument("--pop", type=int, default=256)
_p.add_argument("--params", default="1000,100000")
_p.add_argument("--repeats", type=int, default=3, help="round-robin rounds; the median counts")
_p.add_argument("--no-hopper", action="store_true", help="skip the hopper timings")
_p.add_argument("--out", default=None)
ARGS = _p.parse_args()
if "jax" not in sys.modules:  # the CPU device count is fixed when JAX starts
  os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                             f" --xla_force_host_platform_device_count={ARGS.devices}")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import esjax  # noqa: E402
from benchmarks import common  # noqa: E402
from esjax.core import hlo  # noqa: E402
from esjax.training.train import setup  # noqa: E402

MODES = ("returns", "gradient", "hierarchical", "auto")


def _black_box(comm: str, hosts: int, num_params: int):
  cfg = esjax.TrainConfig.of(population_size=ARGS.pop, generations=1, eval_every=0,
                             normalize_obs=False, comm=comm, hosts=hosts)
  target = jnp.linspace(-1.0, 1.0, num_params)
  return setup(cfg, esjax.black_box(lambda p, k: -jnp.sum((p - target) ** 2)),
               jnp.zeros(num_params))


def _hopper(comm: str):
  return setup(esjax.TrainConfig().replace(generations=1, eval_every=0, comm=comm))


def byte_rows(params):
  rows = []
  for n in params:
    for hosts in (1, 2):
      for comm in MODES:
        s = _black_box(comm, hosts, n)
        outer, inner = hlo.axis_bytes(hlo.step_traffic(s), ARGS.devices // hosts)
        rows.append({"params": n, "layout": f"{hosts}x{ARGS.devices // hosts}", "mode": comm,
                     "picked": s.comm.mode, "between_hosts_B": outer, "within_host_B": inner})
        common.log(rows[-1])
  return rows


def _one_generation(s):
  state = {"s": s.state}

  def call():
    state["s"], buf, _ = s.run_generations(state["s"], 1)
    return buf

  common.block(call())  # compile and warm up
  return call


def time_rows(name, make):
  setups = {comm: make(comm) for comm in MODES}
  fns = {}
  for comm, s in setups.items():  # auto runs the step of the mode it picked: one compile
    same = [c for c in fns if setups[c].comm.mode == s.comm.mode]
    fns[comm] = fns[same[0]] if same else _one_generation(s)
  got = common.interleaved(fns, ARGS.repeats)
  base = got["returns"]
  rows = []
  for comm in MODES:
    s = setups[comm]
    rows.append({"problem": name, "params": int(s.state.es.mean.shape[-1]), "mode": comm,
                 "picked": s.comm.mode, "wall_s": got[comm]["wall"], "cpu_s": got[comm]["cpu"],
                 "cpu_vs_returns": got[comm]["cpu"] / base["cpu"],
                 "wall_vs_returns": got[comm]["wall"] / base["wall"], "why": s.comm.reason})
    common.log(rows[-1])
  return rows


def main():
  params = [int(v) for v in ARGS.params.split(",")]
  rows = byte_rows(params)
  timed = time_rows(f"black box, pop {ARGS.pop}", lambda c: _black_box(c, 1, max(params)))
  if not ARGS.no_hopper:
    timed += time_rows("hopper (default run)", _hopper)
  notes = [
      f"{ARGS.devices} forced CPU devices (jax.device_count() = {jax.device_count()}) on "
      f"{os.cpu_count()} cores; the bytes table from each step's optimized HLO, per generation: "
      "between_hosts_B crosses the outer mesh axis (hosts), within_host_B stays on the inner.",
      "picked: the mode the step ran (auto resolved by core/comm.py's cost model; below "
      "SPLIT_FROM noise values it keeps returns).",
      f"Times: median of {ARGS.repeats} round-robin rounds of one generation each; "
      "cpu_vs_returns and wall_vs_returns are ratios within this run (below 1: faster than "
      "returns).",
  ]
  out = ARGS.out or common.RESULTS_DIR
  common.write_results("comm", f"comm modes on {ARGS.devices} forced CPU devices: bytes per "
                       "mesh axis", rows, notes, out_dir=out,
                       extra={"timing": timed, "devices": ARGS.devices, "pop": ARGS.pop})
  with open(os.path.join(out, "comm.md"), "a") as f:
    f.write("\n#### Time per generation, each mode side by side\n\n" + common.markdown_table(
        timed, ["problem", "params", "mode", "picked", "wall_s", "cpu_s", "cpu_vs_returns",
                "wall_vs_returns"]) + "\n")


if __name__ == "__main__":
  main()
