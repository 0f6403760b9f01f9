"""XLA CPU's fusion emitters against its legacy loop emitters, on esjax's default runs.

Whether esjax should ask XLA CPU for its legacy loop emitters (``--xla_cpu_use_fusion_emitters
=false``; esjax keeps XLA's default, the newer fusion emitters): for each env, two fresh
processes train the env's default config for ``--generations`` (compile included, no
compilation cache): ``fusion`` as esjax runs, ``legacy`` with the flag added to
``XLA_FLAGS``. Each row gives the wall seconds of the whole process (compile included), of
the first generation and the mean generation after it, and whether both runs end in the same
params (sha256 of the float32 vector).

    python -m benchmarks.cpu_emitters                      # ~12 min on 2 cores
    python -m benchmarks.cpu_emitters --envs hopper --generations 60   # the default run
"""
from __future__ import annotations

import argparse

from benchmarks import common

LEGACY = "--xla_cpu_use_fusion_emitters=false"


def run_child(env: str, gens: int, fusion: bool) -> dict:
  """One fresh process: the env's default config for ``gens`` generations."""
  return common.train_in_child(dict(env=env, generations=gens, eval_every=0),
                               xla_flags="" if fusion else LEGACY)


def bench_one(env: str, gens: int) -> dict:
  legacy, fusion = run_child(env, gens, False), run_child(env, gens, True)
  assert LEGACY in legacy["flags"], legacy["flags"]
  assert "use_fusion_emitters" not in fusion["flags"], fusion["flags"]
  row = {"env": env, "generations": gens, "devices": legacy["devices"],
         "fusion_wall_s": fusion["wall_s"], "legacy_wall_s": legacy["wall_s"],
         "legacy/fusion_wall": legacy["wall_s"] / fusion["wall_s"],
         "fusion_first_s": fusion["first_s"], "legacy_first_s": legacy["first_s"],
         "fusion_gen_s": fusion["gen_s"], "legacy_gen_s": legacy["gen_s"],
         "legacy/fusion_gen": legacy["gen_s"] / fusion["gen_s"],
         "same_params": legacy["sha256"] == fusion["sha256"]}
  common.log(row)
  return row


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--envs", default="hopper,walker2d,ant")
  p.add_argument("--generations", type=int, default=10)
  p.add_argument("--name", default="cpu_emitters")
  a = p.parse_args(argv)
  rows = [bench_one(e, a.generations) for e in a.envs.split(",")]
  notes = [f"Each env's default config (esjax's presets), {a.generations} generations, in "
           "fresh processes on the devices esjax uses by default, compile included, no "
           "compilation cache; first_s is the first generation (esjax compiles before its "
           "training clock starts: the compile is in wall_s only), gen_s the mean generation "
           "after it.",
           "fusion = XLA's default, as esjax runs; legacy = --xla_cpu_use_fusion_emitters=false "
           "added to XLA_FLAGS. same_params: both runs end in the same "
           "float32 params (sha256)."]
  common.write_results(a.name, "XLA CPU fusion emitters against the legacy emitters", rows,
                       notes)


if __name__ == "__main__":
  main()
