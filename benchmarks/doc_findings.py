"""Generated sentences that read a finding off one result file (docs/benchmarks.md's findings,
docs/reproducibility.md's cost): the figures and where they ran, never typed."""
from __future__ import annotations

from benchmarks.doc_sources import result, where


def reproducible_findings() -> str:
  d = result("reproducible")
  r = {row["env"]: row for row in d["rows"]}
  fma = {env: 100 * (row["slice_nofma/old"] - 1) for env, row in r.items()}
  return (f"chunks of 64 with FMA off took {r['hopper']['chunked/old']:.3f}x the old path's CPU "
          f"seconds per generation on hopper and {r['ant']['chunked/old']:.2f}x on ant; turning "
          f"FMA off alone moved hopper by {fma['hopper']:+.0f}% and ant by {fma['ant']:+.0f}% "
          f"({where(d['machine'], 1)}, load {d['machine']['load_avg_1m']})")


def _ranked(rows: list[dict], env: str) -> list[dict]:
  return sorted((r for r in rows if r["env"] == env), key=lambda r: -r["eval_mean"])


def strategies_findings() -> str:
  d = result("strategies_rl")
  hopper, cheetah = _ranked(d["rows"], "hopper"), _ranked(d["rows"], "halfcheetah")
  near = all(next(r for r in ranked if r["strategy"] == "open_es")["eval_mean"]
             >= ranked[0]["eval_mean"] - ranked[0]["eval_std"] for ranked in (hopper, cheetah))
  ask = result("strategies_ask_tell")
  ratios = [1 / r["evosax/esjax (cpu)"] for r in ask["rows"]]
  return (f"`{hopper[0]['strategy']}` and `{hopper[1]['strategy']}` led on hopper "
          f"({hopper[0]['eval_mean']:.0f}, {hopper[1]['eval_mean']:.0f}) and "
          f"`{cheetah[0]['strategy']}` on halfcheetah ({cheetah[0]['eval_mean']:.0f}); `open_es` "
          f"was {'within' if near else 'not within'} one std of the best on both "
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
    "strategies-findings": strategies_findings,
    "long-run-findings": long_run_findings,
    "gpu-presets": gpu_presets,
}
