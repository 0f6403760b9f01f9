"""What bit-for-bit layout invariance (issue 10) costs: one generation, three ways.

For each env and population, on 1 CPU device, times one whole compiled generation of
  * old:      one vmap over the device's whole slice (``member_chunk`` = the slice) with FMA on
              (``ESJAX_CPU_FMA=1``): the layout-dependent path before issue 10;
  * slice:    the same whole-slice vmap with FMA off;
  * chunked:  the reproducible default: chunks of 64 members (``lax.map``), FMA off.
FMA is a process-wide XLA setting (esjax/xla_env.py), so ``old`` runs in a child process;
``slice`` and ``chunked`` run round-robin in this one. Numbers are process CPU seconds.

    python -m benchmarks.reproducible                                  # hopper+ant, 256, 1024
    python -m benchmarks.reproducible --quick                          # fewer rounds
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

import esjax  # before jax starts: decides FMA, see esjax/xla_env.py
from benchmarks import common
from esjax import xla_env
from esjax.training import train as train_lib

CHUNK = 64


def stepper(env: str, pop: int, episode_length: int, chunk: int):
  """A compiled generation of the default run's config, as a zero-argument call that threads
  the (donated) state through; the first call (compile) is made here."""
  cfg = esjax.TrainConfig.of(env=env, population_size=pop, episode_length=episode_length,
                             eval_every=0, member_chunk=chunk, num_devices=1)
  s = train_lib.setup(cfg)
  box = {"state": s.state}

  def one_generation():
    box["state"], buf, _ = s.run_generations(box["state"], 1)
    return buf

  common.block(one_generation())  # compile + generation 1
  return one_generation


def time_variants(env, pop, episode_length, chunks: dict[str, int], rounds):
  fns = {name: stepper(env, pop, episode_length, c) for name, c in chunks.items()}
  return {k: v["cpu"] for k, v in common.interleaved(fns, rounds).items()}


def run_child(env, pop, episode_length, rounds) -> float:
  """``old`` in a child process with FMA on: CPU seconds of one generation."""
  code = (f"import sys; sys.argv=['x']; from benchmarks import reproducible as r; "
          f"print('RESULT', r.time_variants({env!r}, {pop}, {episode_length}, "
          f"{{'old': {pop}}}, {rounds})['old'])")
  env_vars = dict(os.environ, ESJAX_CPU_FMA="1", JAX_PLATFORMS="cpu",
                  XLA_FLAGS=" ".join(f for f in os.environ.get("XLA_FLAGS", "").split()
                                     if f != xla_env.NO_FMA_FLAG))
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=env_vars, cwd=common.ROOT,
                       check=True).stdout
  return float([ln for ln in out.splitlines() if ln.startswith("RESULT")][-1].split()[1])


def bench_one(env, pop, episode_length, rounds):
  row = {"env": env, "pop": pop, "T": episode_length}
  row["old_cpu_s"] = run_child(env, pop, episode_length, rounds)
  t = time_variants(env, pop, episode_length, {"slice": pop, "chunked": CHUNK}, rounds)
  row["slice_nofma_cpu_s"], row["chunked_cpu_s"] = t["slice"], t["chunked"]
  row["chunked/old"] = t["chunked"] / row["old_cpu_s"]
  row["chunked/slice"] = t["chunked"] / t["slice"]
  row["slice_nofma/old"] = t["slice"] / row["old_cpu_s"]
  common.log(row)
  return row


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--envs", default="hopper,ant")
  p.add_argument("--populations", default="256,1024")
  p.add_argument("--episode-length", type=int, default=1000)
  p.add_argument("--rounds", type=int, default=3, help="timed generations per variant")
  p.add_argument("--quick", action="store_true", help="2 rounds")
  p.add_argument("--out", default=None)
  p.add_argument("--name", default="reproducible")
  a = p.parse_args(argv)
  assert xla_env.no_fma_in_effect(), "run without ESJAX_CPU_FMA / --xla_cpu_max_isa"
  rounds = 2 if a.quick else a.rounds
  rows = [bench_one(e, int(n), a.episode_length, rounds)
          for e in a.envs.split(",") for n in a.populations.split(",")]
  cols = ["env", "pop", "T", "old_cpu_s", "slice_nofma_cpu_s", "chunked_cpu_s", "chunked/old",
          "chunked/slice", "slice_nofma/old"]
  notes = [
      f"One whole compiled generation of the default run's config (spring, MLP 32,32, "
      f"OpenAI-ES, mirrored), 1 CPU device, T-step episodes with early exit; medians of "
      f"{rounds} generations after the first (compile), process CPU seconds.",
      "old = member_chunk equal to the slice (one vmap over all members) with FMA on "
      "(ESJAX_CPU_FMA=1, a child process): the layout-dependent path before issue 10. "
      "slice_nofma = the same with FMA off; chunked = member_chunk 64, FMA off: the "
      "reproducible default. slice_nofma and chunked run round-robin in one process.",
      "chunked/old is what reproducibility costs (1.00 = free); chunked/slice isolates the "
      "chunking, slice_nofma/old the FMA setting. Each variant runs the same generations "
      "from the same seed, but chunks exit early on their own, so work per generation can "
      "differ slightly (that is part of the cost or saving).",
  ]
  common.write_results(a.name, "Cost of bit-for-bit layout invariance", rows, notes,
                       columns=cols, out_dir=a.out, extra={"chunk": CHUNK, "rounds": rounds})


if __name__ == "__main__":
  main()
