"""XLA CPU settings esjax chooses, each against its alternative, on esjax's default runs.

For each env, two fresh processes train the env's default config for ``--generations``
(compile included, no compilation cache): one as esjax runs, one with the alternative. Each
row gives the wall seconds of the whole process (compile included), of the first generation
and the mean generation after it, and whether both runs end in the same params (sha256 of the
float32 vector). ``--setting``:
  * emitters: XLA's fusion emitters (esjax keeps XLA's default) against its legacy loop
    emitters (``--xla_cpu_use_fusion_emitters=false``);
  * ynn: XLA's YNNPACK dot fusions off (esjax's default, esjax/xla_env.py) against XLA's
    default (``ESJAX_CPU_YNN=1``);
  * llvm: LLVM's full optimization (XLA's default) against XLA's cheaper LLVM pipeline
    (``--xla_llvm_disable_expensive_passes=true``): less compile, maybe slower code.
``--lanes N`` (``auto``: ``lanes=None``) runs both with continuous batching, whose narrower
widths each compile one more copy of the env step.

    python -m benchmarks.cpu_emitters                      # ~12 min on 2 cores
    python -m benchmarks.cpu_emitters --envs hopper --generations 60   # the default run
    python -m benchmarks.cpu_emitters --setting ynn --envs hopper,ant --name cpu_ynn
    python -m benchmarks.cpu_emitters --setting llvm --envs hopper --generations 60 --name cpu_llvm
"""
from __future__ import annotations

import argparse
import dataclasses

from benchmarks import common

LEGACY = "--xla_cpu_use_fusion_emitters=false"
CHEAP_LLVM = "--xla_llvm_disable_expensive_passes=true"


@dataclasses.dataclass(frozen=True)
class Setting:
  ours: str  # the run as esjax runs it: its column prefix
  other: str  # the alternative's column prefix
  xla_flags: str  # added to the alternative's XLA_FLAGS
  env_vars: tuple[tuple[str, str], ...]  # set in the alternative's environment
  title: str
  note: str


SETTINGS = {
    "emitters": Setting("fusion", "legacy", LEGACY, (),
                        "XLA CPU fusion emitters against the legacy emitters",
                        f"fusion = XLA's default, as esjax runs; legacy = {LEGACY} added to "
                        "XLA_FLAGS."),
    "ynn": Setting("no_ynn", "ynn", "", (("ESJAX_CPU_YNN", "1"),),
                   "XLA CPU without its YNNPACK dot fusions (esjax's default) against XLA's "
                   "default",
                   "no_ynn = as esjax runs (--xla_cpu_experimental_ynn_fusion_type= in "
                   "XLA_FLAGS); ynn = ESJAX_CPU_YNN=1, XLA's default YNNPACK fusions."),
    "llvm": Setting("llvm_full", "llvm_cheap", CHEAP_LLVM, (),
                    "LLVM's full optimization (XLA's default) against its cheaper pipeline",
                    f"llvm_full = XLA's default, as esjax runs; llvm_cheap = {CHEAP_LLVM} added "
                    "to XLA_FLAGS."),
}


def bench_one(env: str, gens: int, s: Setting, lanes: int | None = 0) -> dict:
  config = dict(env=env, generations=gens, eval_every=0, lanes=lanes)
  other = common.train_in_child(config, xla_flags=s.xla_flags, **dict(s.env_vars))
  ours = common.train_in_child(config)
  assert other["flags"] != ours["flags"], (other["flags"], ours["flags"])
  row = {"env": env, "generations": gens, "lanes": "auto" if lanes is None else lanes,
         "devices": ours["devices"],
         f"{s.ours}_wall_s": ours["wall_s"], f"{s.other}_wall_s": other["wall_s"],
         f"{s.other}/{s.ours}_wall": other["wall_s"] / ours["wall_s"],
         f"{s.ours}_first_s": ours["first_s"], f"{s.other}_first_s": other["first_s"],
         f"{s.ours}_gen_s": ours["gen_s"], f"{s.other}_gen_s": other["gen_s"],
         f"{s.other}/{s.ours}_gen": other["gen_s"] / ours["gen_s"],
         "same_params": other["sha256"] == ours["sha256"]}
  common.log(row)
  return row


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--setting", choices=sorted(SETTINGS), default="emitters")
  p.add_argument("--envs", default="hopper,walker2d,ant")
  p.add_argument("--generations", type=int, default=10)
  p.add_argument("--lanes", default="0",
                 help="comma-separated, each 0 (off, the default), N lanes, or auto (lanes=None)")
  p.add_argument("--name", default="cpu_emitters")
  a = p.parse_args(argv)
  s = SETTINGS[a.setting]
  if not all(x == "auto" or x.isdigit() for x in a.lanes.split(",")):
    p.error(f"--lanes {a.lanes!r}: each must be 0, a number of lanes, or auto")
  lanes = [None if x == "auto" else int(x) for x in a.lanes.split(",")]
  rows = [bench_one(e, a.generations, s, n) for e in a.envs.split(",") for n in lanes]
  notes = [f"Each env's default config (esjax's presets), {a.generations} generations, in "
           "fresh processes on the devices esjax uses by default, compile included, no "
           "compilation cache; first_s is the first generation (esjax compiles before its "
           "training clock starts: the compile is in wall_s only), gen_s the mean generation "
           "after it.",
           s.note + " same_params: both runs end in the same float32 params (sha256)."]
  common.write_results(a.name, s.title, rows, notes)


if __name__ == "__main__":
  main()
