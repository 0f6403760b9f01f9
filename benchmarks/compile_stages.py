"""Where the compiled step's start-up goes: tracing, lowering and XLA's compile, by lane widths.

Every narrower lane width (``core/lanes.py``) is one more copy of the env step in the one
compiled generation; this measures what a copy costs before the first generation runs, in
each stage JAX goes through (``jit(...).trace``, ``.lower``, ``.compile``), for the chunked
loop (lanes off, esjax's default on CPU) and for ``lanes=None`` narrowed 0 to
``--narrowings`` times. Each config runs in a fresh process (a process that already traced
the env traces it faster), with no compilation cache, on the devices esjax uses by default;
with ``--before REF`` the same configs run on the code at the merge base of HEAD and REF too.

    python -m benchmarks.compile_stages --before 7685113       # ~10 min on 2 cores
"""
from __future__ import annotations

import argparse

import numpy as np

from benchmarks import common

_CHILD = """
import json, time
t = time.perf_counter()
import jax, jax.numpy as jnp, esjax
from esjax.training import setup as setup_lib
jax.config.update("jax_enable_compilation_cache", False)
s = setup_lib.setup(esjax.TrainConfig.of(**{kw!r}))
times = [time.perf_counter()]
staged = s.run_generations.trace(s.state, jnp.int32(1))
times.append(time.perf_counter())
staged = staged.lower()
times.append(time.perf_counter())
staged.compile()
times.append(time.perf_counter())
print("RESULT " + json.dumps(dict(setup_s=times[0] - t, trace_s=times[1] - times[0],
                                  lower_s=times[2] - times[1], compile_s=times[3] - times[2],
                                  devices=jax.device_count())))
"""


def stages(config: dict, root: str) -> dict:
  """Seconds of each stage of ``config``'s compiled step, in a fresh process on ``root``'s
  esjax: setup (imports and env build included), trace, lower, compile."""
  return common.run_child(_CHILD.format(kw=config), root, timeout=1800, what=str(config))


def configs(env: str, narrowings: list[int]) -> dict[str, tuple[int, dict]]:
  """``{variant: (narrower widths, TrainConfig.of kwargs)}``."""
  out = {"off": (0, dict(env=env, lanes=0))}
  for n in narrowings:
    out[f"lanes=None, {n} narrowings"] = (n, dict(env=env, lanes=None, lane_narrowings=n))
  return out


def per_width(rows: list[dict], key: str) -> float:
  """Seconds a narrower width adds to ``key``: the least-squares slope over the lanes rows."""
  lanes = [r for r in rows if r["variant"] != "off"]
  if len(lanes) < 2:
    return float("nan")
  return float(np.polyfit([r["narrowings"] for r in lanes], [r[key] for r in lanes], 1)[0])


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--env", default="hopper")
  p.add_argument("--narrowings", default="0,2,4,8")
  p.add_argument("--before", default="", help="also the code at the merge base of HEAD and "
                 "this ref (empty: only this tree)")
  p.add_argument("--name", default="compile_stages")
  a = p.parse_args(argv)
  trees = ([("before", common.checkout(a.before))] if a.before else []) + [("this", common.ROOT)]
  rows = []
  for tree, root in trees:
    for variant, (n, kw) in configs(a.env, [int(x) for x in a.narrowings.split(",")]).items():
      r = stages(kw, root)
      rows.append({"code": tree, "variant": variant, "narrowings": n, **r,
                   "trace_to_compiled_s": r["trace_s"] + r["lower_s"] + r["compile_s"]})
      common.log(rows[-1])
  notes = [f"{a.env}, its default config (pop 256) but for the lanes settings, "
           f"{rows[-1]['devices']} devices; `jit(run_generations).trace(state, 1)`, `.lower()`, "
           "`.compile()` timed one after the other in a fresh process per row, no compilation "
           "cache; setup_s: the process until the setup was built (imports, env, the initial "
           "state's own compiles)."]
  for tree, _ in trees:
    mine = [r for r in rows if r["code"] == tree]
    notes.append(f"{tree}: each narrower width adds {per_width(mine, 'trace_s'):.2f} s of "
                 f"trace, {per_width(mine, 'lower_s'):.2f} s of lowering and "
                 f"{per_width(mine, 'compile_s'):.1f} s of compile (least-squares slope over "
                 "the lanes rows).")
  if a.before:
    notes.append(f"before = the merge base of HEAD and {a.before}; this = the working tree.")
  common.write_results(a.name, "The compiled step's start-up by stage and lane widths", rows,
                       notes)


if __name__ == "__main__":
  main()
