"""Generated sentences that read a finding off one result file (docs/benchmarks.md's findings,
docs/reproducibility.md's cost): the figures and where they ran, never typed."""
from __future__ import annotations

import statistics

from benchmarks.doc_sources import bare_ratio, result, same_bits, where
import esjax


def reproducible_findings() -> str:
  d = result("reproducible")
  r = {row["env"]: row for row in d["rows"]}
  fma = {env: 100 * (row["slice_nofma/old"] - 1) for env, row in r.items()}
  return (f"chunks of 64 with FMA off took {r['hopper']['chunked/old']:.3f}x the old path's CPU "
          f"seconds per generation on hopper and {r['ant']['chunked/old']:.2f}x on ant; turning "
          f"FMA off alone moved hopper by {fma['hopper']:+.0f}% and ant by {fma['ant']:+.0f}% "
          f"({where(d['machine'], 1)}, load {d['machine']['load_avg_1m']})")


def ynn_findings() -> str:
  d = result("cpu_ynn")
  r = {row["env"]: row for row in d["rows"]}
  same = all(row["same_params"] for row in d["rows"])
  return (("the same params on " if same else "other params on some of ") + " and ".join(r)
          + "; with them a generation took "
          + " and ".join(f"{row['ynn/no_ynn_gen']:.2f}x ({env})" for env, row in r.items())
          + f" the time without ({where(d['machine'], d['rows'][0]['devices'])})")


def llvm_findings() -> str:
  """The default run with XLA's cheaper LLVM pipeline, lanes off and on, from cpu_llvm.md."""
  d = result("cpu_llvm")
  same = all(row["same_params"] for row in d["rows"])
  parts = [f"lanes {row['lanes']}: {row['llvm_full_wall_s']:.0f} s with the full pipeline, "
           f"{row['llvm_cheap_wall_s']:.0f} s with the cheaper one "
           f"({row['llvm_cheap/llvm_full_gen']:.2f}x the time per generation)"
           for row in d["rows"]]
  return ("; ".join(parts) + f"; {'the same' if same else 'other'} params either way "
          f"({where(d['machine'], d['rows'][0]['devices'])})")


def _ranked(rows: list[dict], env: str) -> list[dict]:
  return sorted((r for r in rows if r["env"] == env), key=lambda r: -r["eval_mean"])


def strategies_findings() -> str:
  d = result("strategies_rl")
  hopper, cheetah = _ranked(d["rows"], "hopper"), _ranked(d["rows"], "halfcheetah")
  place = [1 + [r["strategy"] for r in ranked].index("open_es") for ranked in (hopper, cheetah)]
  ask = result("strategies_ask_tell")
  ratios = [1 / r["evosax/esjax (cpu)"] for r in ask["rows"]]
  return (f"`{hopper[0]['strategy']}` and `{hopper[1]['strategy']}` led on hopper "
          f"({hopper[0]['eval_mean']:.0f}, {hopper[1]['eval_mean']:.0f}) and "
          f"`{cheetah[0]['strategy']}` on halfcheetah ({cheetah[0]['eval_mean']:.0f}); `open_es` "
          f"ranked {place[0]} of {len(hopper)} on hopper and {place[1]} on halfcheetah "
          f"({where(d['machine'])}). esjax's ask+tell takes {min(ratios):.1f}-"
          f"{max(ratios):.1f}x evosax's CPU time for the same strategy "
          f"({where(ask['machine'])})")


def long_run_findings() -> str:
  d = result("long_run")
  rss = [r["rss_mb"] for r in d["rows"]]
  ms = [r["ms_per_generation"] for r in d["rows"]]
  return (f"{d['rows'][-1]['generation']:,} generations with every output on: RSS "
          f"{rss[0]:.0f} -> {rss[-1]:.0f} MB, time per generation {min(ms):.1f}-{max(ms):.1f} ms "
          f"({where(d['machine'])})")


def gpu_presets() -> str:
  d = result("presets_gpu")
  r = {row["preset"]: row for row in d["rows"]}
  h, a = r["humanoid"], r["ant"]
  return (f"humanoid {h['eval_return']:.0f} ± {h['eval_std']:.0f} at {h['env_steps'] / 1e6:.0f}M "
          f"env steps when cut ({h['generations']} generations); ant {a['eval_return']:.0f} at "
          f"{a['env_steps'] / 1e6:.0f}M env steps ({a['train_wall_s']:.0f} s), still rising when "
          f"cut at {a['generations']} ({where(d['machine'])})")


BLOCKS = {
    "reproducible-findings": reproducible_findings,
    "ynn-findings": ynn_findings,
    "llvm-findings": llvm_findings,
    "strategies-findings": strategies_findings,
    "long-run-findings": long_run_findings,
    "gpu-presets": gpu_presets,
}


def physics_findings() -> str:
  d = result("physics_limit")
  r = {row["env"]: row for row in d["rows"]}
  h, a = r["hopper"], r["ant"]
  prof = {row["variant"]: row["vs_scan_zero"] for row in result("profile_rollout_hopper")["rows"]}
  met = all(row["ratio_bare/esjax"] >= 0.9 for row in r.values())
  step_us = {env: 1e6 * row["bare_cpu_s"] / (row["pop"] * row["T"]) for env, row in r.items()}
  return (f"At population {h['pop']} (T={h['T']}, fixed-length episodes) one esjax generation "
          f"costs 1/{a['ratio_bare/esjax']:.3f} of bare vmapped physics on ant and "
          f"1/{h['ratio_bare/esjax']:.3f} on hopper (target >= 0.9: {'met' if met else 'missed'}"
          f"). The ES part (ask + tell + Adam) is "
          f"{100 * h['ask_tell_cpu_s'] / h['esjax_gen_cpu_s']:.1f}% of a hopper generation; the "
          f"rollout breakdown puts the policy in esjax's per-member while_loop at "
          f"{prof['while policy']:.2f}x bare physics and the whole esjax rollout (plus "
          "observation normalization, per-step observation statistics and finiteness checks) at "
          f"{prof['esjax rollout']:.2f}x. Hopper's spring step costs "
          f"~{step_us['hopper']:.0f} us of CPU per member-step, ant's ~{step_us['ant']:.0f} us "
          f"({where(d['machine'])})")


def compile_findings() -> str:
  counts = [row["recompiles_after_first"] for row in result("physics_limit")["rows"]]
  counts += [row["recompiles"] for row in result("scaling")["rows"]]
  return (f"The timed generations after the first (trace + compile) trigger {max(counts)} XLA "
          "compilations "
          "(counted with `jax.monitoring`) in `physics_limit.py` and `scaling.py` "
          f"({where(result('physics_limit')['machine'])})")


def peers_findings() -> str:
  d = result("peers")
  r = {row["method"].split()[0].split(".")[0]: row for row in d["rows"]}
  e, b, v = r["esjax"], r["brax"], r["evosax"]
  return (f"esjax {e['final_eval_return']:.0f}, evosax {v['final_eval_return']:.0f} and Brax "
          f"{b['final_eval_return']:.0f} on the same deterministic evaluation; the threshold "
          f"(pop-mean 150) after {e['steps_to_threshold'] / 1e3:.0f}k live steps (esjax), "
          f"{v['steps_to_threshold'] / 1e3:.0f}k (evosax) and {b['steps_to_threshold'] / 1e3:.0f}k "
          f"(Brax, coarse). Steady-state throughput per CPU-second: esjax "
          f"{b['esjax_speedup']:.2f}x Brax and {v['esjax_speedup']:.2f}x evosax "
          f"(~{e['live_steps_per_cpu_s'] / 1e3:.0f}k steps per CPU-second). Compile: esjax "
          f"{e['compile_s']:.0f} s, evosax {v['compile_s']:.0f} s, Brax {b['compile_s']:.0f} s "
          f"({where(d['machine'])})")


def noise_findings() -> str:
  d = result("noise")
  table = [r["speedup_vs_threefry"] for r in d["rows"] if r["noise"] == "table"]
  rbg = [1 / r["speedup_vs_threefry"] for r in d["rows"] if "rbg" in r["noise"]]
  return (f"is {min(table):.1f}x-{max(table):.0f}x faster than threefry normals for ask+tell; "
          f"`rbg` / `unsafe_rbg` keys are {min(rbg):.1f}-{max(rbg):.1f}x *slower* on CPU "
          f"({where(d['machine'])})")


def scaling_findings() -> str:
  d = result("scaling")
  pops = [r for r in d["rows"] if r["sweep"] == "population"]
  devs = [r for r in d["rows"] if r["sweep"] == "devices"]
  peak = max(pops, key=lambda r: r["steps_per_cpu_s"])
  most = devs[-1]
  return (f"Env steps per CPU-second peak at population {peak['pop']} and fall to "
          f"{pops[-1]['rel_cpu_efficiency']:.2f}x of the pop-{pops[0]['pop']} figure at "
          f"{pops[-1]['pop']}. Splitting pop {most['pop']} over {most['devices']} forced CPU "
          f"devices: {most['rel_throughput']:.1f}x the wall-clock throughput of one device "
          f"({most['rel_cpu_efficiency']:.1f}x per CPU-second; {where(d['machine'])})")


def large_quality() -> str:
  d = result("large_curves")
  r = {(row["task"].split(":")[0], row["perturbation"]): row for row in d["rows"]}
  bb_full, bb_one = r["black box", "full"], r["black box", "rank 1"]
  h_full, h_one = r["brax hopper", "full"], r["brax hopper", "rank 1"]
  better = "a better" if bb_one["final_eval"] > bb_full["final_eval"] else "a worse"
  return (f"\nAt equal budget rank 1 reached {better} loss than full rank on a 100×50 regression "
          f"({bb_one['final_eval']:.2f} against {bb_full['final_eval']:.2f}) and a Brax hopper "
          f"return of {h_one['final_eval']:.0f} against full rank's {h_full['final_eval']:.0f} "
          f"after about {h_one['evaluations'] / 1e3:.0f}k env steps, 2 seeds "
          f"({where(d['machine'])}).\n")


def _span(values) -> str:
  lo, hi = min(values), max(values)
  return f"{lo}" if lo == hi else f"{lo}-{hi}"


def strategies_budget() -> str:
  d = result("strategies_rl")
  gens = {env: _span([r["generations"] for r in d["rows"] if r["env"] == env])
          for env in ("halfcheetah", "hopper")}
  return (f"{gens['halfcheetah']} generations on halfcheetah, {gens['hopper']} on hopper, "
          f"jax {d['machine']['jax']}")


def ask_tell_ratios() -> str:
  d = result("strategies_ask_tell")
  def span(names):
    ratios = [r["evosax/esjax (cpu)"] for r in d["rows"] if r["strategy"] in names]
    return f"{min(ratios):.2f}-{max(ratios):.2f}"
  return (f"evosax/esjax CPU time is {span(('open_es', 'ars', 'pgpe'))} for `open_es`, `ars` and "
          f"`pgpe` and {span(('snes', 'sep_cma_es'))} for `snes` and `sep_cma_es` "
          f"({where(d['machine'])})")


def _narrowings(schedule: str) -> int:
  """"lanes=128, 8 narrowings, ..." -> 8."""
  return int(schedule.split(", ")[1].split()[0])


def lane_schedule_findings() -> str:
  """The default ladder's replay against more widths and against the timed generations."""
  d = result("lane_schedule")
  rows = {r["schedule"]: r for r in d["rows"]}
  # The default ladder when the file was written: the one the shared-tails bound replays.
  shared = next(r for name, r in rows.items() if name.endswith("tails shared across devices "
                                                                "(a bound)"))
  n = _narrowings(shared["schedule"])
  now = rows[f"lanes=128, {n} narrowings"]
  fewer = rows[f"lanes=128, {6 if n > 6 else 5} narrowings"]
  every = next(r for name, r in rows.items() if name.startswith("every width"))
  fine = next(r for name, r in rows.items() if name.endswith("sixteenths to three quarters, "
                                                             "then halving"))
  timed = {r["phase"].split()[1].split("-")[0]: r["/bare"] for r in result("live_steps")["rows"]
           if r["env"] == "hopper" and r["variant"] == "lanes"}
  early, late = timed[min(timed, key=int)], timed[max(timed, key=int)]
  return (f"the default ladder ({now['widths']}) replays at {now['early /bare']:.2f} of bare "
          f"physics early and {now['late /bare']:.2f} late; "
          f"{n - _narrowings(fewer['schedule'])} fewer narrowings "
          f"({fewer['widths']}) at {fewer['early /bare']:.2f} early; every "
          f"width timed ({every['widths'].count(',') + 1} compiled copies of the env step) at "
          f"{every['early /bare']:.2f} early and {every['late /bare']:.2f} late, "
          f"{every['early /bare'] / now['early /bare']:.2f}x the default ladder early; the "
          f"default ladder with the devices sharing their tails (survivors dealt out evenly "
          f"at each narrowing, the collectives not costed) at {shared['early /bare']:.2f} "
          f"early and {shared['late /bare']:.2f} late, "
          f"{shared['early /bare'] / now['early /bare']:.2f}x early; a ladder with sixteenths "
          f"at the top ({fine['widths']}, {fine['widths'].count(',') - n} more compiled "
          f"copies; not built) at {fine['early /bare']:.2f} early and "
          f"{fine['late /bare']:.2f} late ({where(d['machine'])}); live_steps.md timed the "
          f"default ladder at {early:.3f} early and {late:.3f} late")


def _rounds(text: str) -> list[float]:
  """"0.708 / 0.714 / 0.705" -> [0.708, 0.714, 0.705]."""
  return [float(x) for x in text.split(" / ")]


def lane_ladders_findings() -> str:
  """Each timed ladder against the default, per phase, from lane_ladders.md."""
  d = result("lane_ladders")
  phases = sorted({r["phase"] for r in d["rows"]}, key=lambda p: int(p.split()[1].split("-")[0]))
  parts = []
  for phase in phases:
    rows = [r for r in d["rows"] if r["phase"] == phase]
    parts.append(f"{phase}: " + "; ".join(
        f"{r['widths']} at {r['/bare']:.3f} (rounds {min(_rounds(r['rounds_/bare'])):.3f}-"
        f"{max(_rounds(r['rounds_/bare'])):.3f})"
        for r in rows))
  same = all(r["same_bits_as_default"] for r in d["rows"])
  off = max(abs(r["vs_default"] - 1) for r in d["rows"])
  spread = max(max(v) - min(v) for v in (_rounds(r["rounds_/bare"]) for r in d["rows"]))
  return (". ".join(parts) + f" ({where(d['machine'])}; every ladder's params "
          f"{'equal' if same else 'not all equal to'} the default's). Every ladder's ratio is "
          f"within {off:.1%} of the default ladder's in its phase, where one ladder's rounds "
          f"spread by up to {spread:.3f}")


def _phases(d, env: str, bars=("", "")) -> str:
  """Per phase of ``env`` in the live_steps file ``d``: each variant's ratio to bare physics."""
  rows = [r for r in d["rows"] if r["env"] == env]
  phases = sorted({r["phase"] for r in rows}, key=lambda p: int(p.split()[1].split("-")[0]))
  got = {(r["phase"], r["variant"]): r for r in rows}
  parts = []
  for phase, bar in zip(phases, bars):
    mean, digits = got[phase, "off"]["mean_episode"], 3 if bar else 2
    parts.append(f"{phase} ({f'bar {bar}, ' if bar else ''}mean episode {mean:.0f}): lanes "
                 f"{bare_ratio(got[phase, 'lanes'], digits)}, a queue of 64 "
                 f"{bare_ratio(got[phase, 'queue_64'], digits)}, the chunked loop "
                 f"{bare_ratio(got[phase, 'off'], digits)}")
  return "; ".join(parts)


def live_steps_bars() -> str:
  """Hopper's lanes, queue and chunked loop against issue 26's bars, from live_steps.md."""
  d = result("live_steps")
  return _phases(d, "hopper", ("0.7", "0.9")) + f" ({where(d['machine'])})"


def live_steps_more() -> str:
  """Walker2d's and ant's phases, from live_steps_more.md, and whether their variants' params
  agree at each phase's end."""
  d = result("live_steps_more")
  out = []
  for env in ("walker2d", "ant"):
    same = all(same_bits(r) for r in d["rows"] if r["env"] == env)
    out.append(f"{env.capitalize()}, {_phases(d, env)} (the variants' params "
               f"{'all equal' if same else 'not all equal'})")
  return ". ".join(out) + f" ({where(d['machine'])})"


def _pinned(d) -> str:
  pinned = all(r["params_pinned"] for r in d["rows"])
  return f"{'every run' if pinned else 'NOT every run'} ended in the pinned params"


def default_run_lanes() -> str:
  """The default run's wall time with lanes off and on, from live_steps_default_run.md."""
  d = result("live_steps_default_run")
  got = {r["variant"]: r for r in d["rows"]}
  names = {"off": "lanes off (the default)", "lanes=None": "`lanes=None`",
           "lanes=None, no narrowing": "`lanes=None` with no narrowing"}
  parts = [f"{label} {got[v]['wall_s']:.0f} s ({got[v]['gen_s']:.2f} s a generation after "
           "the first)" for v, label in names.items()]
  on, flat = got["lanes=None"], got["lanes=None, no narrowing"]
  # What the narrower widths cost to start: the wall time over the one-width run's, less what
  # their faster generations saved.
  defaults = esjax.TrainConfig().flat()
  generations = defaults["generations"] - 1
  extra = on["wall_s"] - flat["wall_s"] + generations * (flat["gen_s"] - on["gen_s"])
  narrowings = defaults["lane_narrowings"]
  return (", ".join(parts) + f"; {_pinned(d)} ({where(d['machine'])}). `lanes=None`'s "
          f"{narrowings} narrower widths cost about {extra:.0f} s to trace and compile (the "
          "wall time over the one-width run's, less what its generations saved)")


def default_run_cached() -> str:
  """The default run from a warm compilation cache, from live_steps_default_run_cached.md."""
  d = result("live_steps_default_run_cached")
  got = {r["variant"]: r for r in d["rows"]}
  warm = ", ".join(f"`{v}` {r['wall_s']:.0f} s" for v, r in got.items())
  cold = ", ".join(f"{r['cold_wall_s']:.0f} s" for r in got.values())
  on, off = got["lanes=None"], got["off"]
  return (f"{warm} (the runs that filled the cache: {cold}); {_pinned(d)} "
          f"({where(d['machine'])}). From the cache `lanes=None` took "
          f"{on['wall_s'] / off['wall_s']:.2f}x lanes off's wall time ({on['gen_s']:.2f} against "
          f"{off['gen_s']:.2f} s a generation), cold {on['cold_wall_s'] / off['cold_wall_s']:.2f}x")


def compile_stages_findings() -> str:
  """What a lane width costs before the first generation, by stage, from compile_stages.md."""
  from benchmarks.compile_stages import per_width  # pylint: disable=g-import-not-at-top
  d = result("compile_stages")
  rows = {code: [r for r in d["rows"] if r["code"] == code] for code in ("before", "this")}
  off = {code: next(r for r in got if r["variant"] == "off") for code, got in rows.items()}
  this, before = off["this"], off["before"]
  # The setup does not depend on the lanes: the median over a tree's rows (fresh processes).
  setup = {code: statistics.median(r["setup_s"] for r in got) for code, got in rows.items()}
  return (f"a process builds the default run's setup (imports, env, initial state) in "
          f"{setup['this']:.1f} s (median of the rows), the chunked loop's step traces in "
          f"{this['trace_s']:.1f} s "
          f"and compiles in {this['compile_s']:.0f} s; each narrower lane width adds "
          f"{per_width(rows['this'], 'trace_s'):.2f} s of tracing, "
          f"{per_width(rows['this'], 'lower_s'):.2f} s of lowering and "
          f"{per_width(rows['this'], 'compile_s'):.1f} s of XLA compile "
          f"({where(d['machine'], d['rows'][0]['devices'])}). The code before (the row's "
          f"`before`) took {setup['before']:.1f} s to set up, {before['trace_s']:.1f} s to "
          f"trace and {per_width(rows['before'], 'trace_s'):.2f} s of tracing a width")


BLOCKS.update({
    "compile-stages-findings": compile_stages_findings,
    "default-run-cached": default_run_cached,
    "default-run-lanes": default_run_lanes,
    "live-steps-bars": live_steps_bars,
    "live-steps-more": live_steps_more,
    "lane-schedule-findings": lane_schedule_findings,
    "lane-ladders-findings": lane_ladders_findings,
    "strategies-budget": strategies_budget,
    "ask-tell-ratios": ask_tell_ratios,
    "large-quality": large_quality,
    "physics-findings": physics_findings,
    "compile-findings": compile_findings,
    "peers-findings": peers_findings,
    "noise-findings": noise_findings,
    "scaling-findings": scaling_findings,
})
