"""Generated sentences read off the tables `benchmarks/gpu.sh` brought back from a lent GPU
(the *_gpu result files): the figures and the machine they ran on, never typed."""
from __future__ import annotations

import re

from benchmarks.doc_sources import bare_ratio, result, same_bits, where


def physics_limit_gpu() -> str:
  """One humanoid generation against bare physics on the GPU, from physics_limit_gpu.md."""
  d = result("physics_limit_gpu")
  r = d["rows"][0]
  return (f"one {r['env']} generation at population {r['pop']} (T={r['T']}, fixed-length "
          f"episodes) takes 1/{r['wall_ratio_bare/esjax']:.2f} of the wall time of bare "
          f"vmapped physics ({r['esjax_steps_per_s'] / 1e6:.2f}M env steps/s); the first "
          f"generation, compile included, {r['first_gen_s']:.0f} s, and "
          f"{r['recompiles_after_first']} recompilations after it ({where(d['machine'])})")


def live_steps_gpu() -> str:
  """Humanoid with lanes off and on, from live_steps_gpu.md, and why narrowing
  cannot pay there: a wider bare step costs about the same (physics_limit_gpu.md)."""
  d = result("live_steps_gpu")
  got = {r["variant"]: r for r in d["rows"]}
  off, on = got["off"], got["lanes=None"]
  wide = result("physics_limit_gpu")["rows"][0]
  pop = int(re.search(r"--population (\d+)", d["command"]).group(1))
  local = pop // d["machine"]["device_count"]
  # ms per vmapped step of bare physics, at this population and at the physics limit's
  small = 1e3 * pop / off["bare_steps_per_s"]
  large = 1e3 * wide["bare_wall_s"] / wide["T"]
  return (f"{off['env']} at population {pop}, generations 2-7 (mean episode "
          f"{off['mean_episode']:.0f} of 1000): the chunked loop (`--lanes 0`, the default; on a "
          "GPU one chunk of the whole slice, stepped until its longest episode ends) runs "
          f"at {bare_ratio(off)} of bare physics, `lanes=None` (on a GPU the whole slice of "
          f"{local}, narrowed as episodes end) at {bare_ratio(on)}, and their params "
          f"{'agree' if same_bits(on) else 'differ'} ({where(d['machine'])}). A bare step of "
          f"{wide['pop']} humanoids took {large:.2f} ms and one of {pop} {small:.2f} ms "
          f"(physics_limit_gpu.md, live_steps_gpu.md): the GPU's step costs about the same "
          "however many lanes it holds, so narrowing cannot make the tail cheaper there")


def noise_gpu() -> str:
  """ask+tell on the GPU and which variants rebuilt their noise, from noise_gpu.md."""
  d = result("noise_gpu")
  rows = d["rows"]
  top = max(r["params"] for r in rows)
  at_top = {r["noise"]: r for r in rows if r["params"] == top}
  failed = sorted({r["noise"] for r in rows if not r["ask_tell_consistent"]
                   and r["params"] == top})
  base = at_top["threefry (default)"]
  return (f"at {top:,} parameters and population 4096, ask+tell took "
          f"{base['ask+tell_ms']:.0f} ms with threefry keys and "
          f"{at_top['table']['ask+tell_ms']:.0f} ms with a table "
          f"({at_top['table']['speedup_vs_threefry']:.1f}x); there "
          f"{'every variant' if len(failed) == len(at_top) else ', '.join(failed)} failed the "
          f"rebuild check, the table too ({where(d['machine'])})")


BLOCKS = {
    "physics-limit-gpu": physics_limit_gpu,
    "live-steps-gpu": live_steps_gpu,
    "noise-gpu": noise_gpu,
}
