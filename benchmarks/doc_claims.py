"""The generated figures of the README's table of the paper's claims, from
``benchmarks/results/claims/`` (and the humanoid preset's GPU run for claim 7)."""
from __future__ import annotations

import statistics

from benchmarks.doc_sources import metrics, result, where


def claims_where() -> str:
  names = ["intrinsic_dim", "variance", "scaling", "es_vs_ppo", "frame_skip", "parameterization",
           "minatar_vbn"]
  parts = [f"{n}: {where(result('claims/' + n)['machine'])}" for n in names]
  gpu = result("presets_gpu")["machine"]
  return ("\nWhere each row was measured (from its result file): " + "; ".join(parts)
          + f"; humanoid (claim 7): {where(gpu)}.\n")


def intrinsic_dim() -> str:
  rows = result("claims/intrinsic_dim")["rows"]
  gens = {(r["optimizer"], r["d"], r["D"]): r["generations_to_threshold"] for r in rows}
  dims = sorted({r["D"] for r in rows})
  small = sorted({r["d"] for r in rows})
  sgd = ", ".join("/".join(str(gens[("sgd", d, D)]) for D in dims) + f" (d = {d})" for d in small)
  adam = ", ".join(str(gens[("adam", small[-1], D)]) for D in dims)
  powers = ", ".join(f"10^{len(str(D)) - 1}" for D in dims)
  return (f"with SGD {sgd} for D = {powers}; with Adam it gets *faster* as D grows "
          f"(d = {small[-1]}: {adam})")


def variance() -> str:
  d = result("claims/variance")
  rel, slopes, horizons = d["relvar_by_T"], d["slopes"], d["horizons"]
  es, rf, rb = rel["es"], rel["reinforce"], rel["reinforce_baseline"]
  return (f"ES relative variance tr(Cov)/‖E g‖² {es[0]:.0f} → {es[2]:.0f} up to T = "
          f"{horizons[2]} (theory for smooth returns: (P+1)/m = {d['es_smooth_relvar']:.0f}), "
          f"{es[3]:.0f} at T = {horizons[3]}, {es[4]:.0f} at T = {horizons[4]}; REINFORCE "
          f"{rf[0]:.2g} → {rf[-1]:.2g} (with a baseline {rb[0]:.2g} → {rb[-1]:.2g}); "
          "variance per "
          "unit of return variance grows like T for REINFORCE with a baseline (log-log slope "
          f"{slopes['reinforce_baseline']['trcov_per_return_var']:.2f}; "
          f"{slopes['reinforce']['trcov_per_return_var']:.2f} without one) and not for ES "
          f"({slopes['es']['trcov_per_return_var']:.2f})")


def scaling_bytes() -> str:
  weak = [r for r in result("claims/scaling")["rows"] if r["sweep"] == "weak"]
  return (f"{weak[0]['bytes_per_gen']:,} … {weak[-1]['bytes_per_gen']:,} B on "
          f"{weak[0]['devices']} … {weak[-1]['devices']} devices")


def _frame_skip_means():
  rows = result("claims/frame_skip")["rows"]
  ks = sorted({r["frame_skip"] for r in rows})
  mean = {(m, k): statistics.mean(r["return_at_budget"] for r in rows
                                  if r["method"] == m and r["frame_skip"] == k)
          for m in ("es", "ppo") for k in ks}
  return rows, ks, mean


def frame_skip() -> str:
  rows, ks, mean = _frame_skip_means()
  es = [r for r in rows if r["method"] == "es"]
  returns = [r["return_at_budget"] for r in es]
  past = [r["steps_to_500"] for r in es if r["steps_to_500"]]
  ppo_past = sum(1 for r in rows if r["method"] == "ppo" and r["steps_to_500"])
  es_means = ", ".join(f"{mean['es', k]:.0f}" for k in ks)
  ppo_means = ", ".join(f"{mean['ppo', k]:.0f}" for k in ks)
  everyone = "all" if len(past) == len(es) else f"{len(past)} of {len(es)}"
  return (f"ES (`--frame-skip K`) {es_means} (every run {min(returns):.0f}–{max(returns):.0f}, "
          f"{everyone} past 500 by {min(past) / 1e6:.2f}–{max(past) / 1e6:.2f}M steps); Brax PPO "
          f"(`action_repeat=K`, batch ÷ K so every K gets the same updates) {ppo_means}, "
          f"{ppo_past or 'none'} past 500")


def frame_skip_verdict() -> str:
  _, ks, mean = _frame_skip_means()
  es = [mean[("es", k)] for k in ks]
  ppo = [mean[("ppo", k)] for k in ks]
  return (f"held here for ES (flat within {100 * (max(es) / min(es) - 1):.0f}% from K={ks[0]} to "
          f"{ks[-1]}); PPO moved by {100 * (max(ppo) / min(ppo) - 1):.0f}% with K")


LABELS = {"mlp": "default", "mlp+vbn": "with VBN", "init x0.1": "hidden init ×0.1",
          "init x10": "×10", "residual": "residual", "big head": "head init at full scale"}


def parameterization() -> str:
  rows = result("claims/parameterization")["rows"]
  parts = []
  for r in rows:
    std = f" ± {r['final_eval_std']:.0f}" if r["final_eval_std"] >= 1 else ""
    parts.append(f"{LABELS.get(r['variant'], r['variant'])} {r['final_eval_mean']:.0f}{std}")
  return "final evaluation " + ", ".join(parts)


def _minatar(name: str) -> dict[str, dict]:
  return {r["game"].split("-")[0]: r for r in result(f"claims/{name}")["rows"]}


def minatar() -> str:
  vbn, plain = _minatar("minatar_vbn"), _minatar("minatar")
  b, s = vbn["Breakout"], vbn["SpaceInvaders"]
  return (f"with VBN Breakout {b['es_eval_return']:.1f} (best {b['best_eval_return']:.1f}), "
          f"SpaceInvaders {s['es_eval_return']:.1f}; without VBN Breakout "
          f"{plain['Breakout']['es_eval_return']:.2g}, SpaceInvaders "
          f"{plain['SpaceInvaders']['es_eval_return']:.1f}; gymnax's README lists PPO at "
          f"{b['ppo_readme_return']:.0f} and {s['ppo_readme_return']:.0f} after far larger budgets")


def minatar_verdict() -> str:
  vbn, plain = _minatar("minatar_vbn"), _minatar("minatar")
  return (f"{vbn['Breakout']['es_eval_return']:.1f} against "
          f"{plain['Breakout']['es_eval_return']:.2g}, one seed")


def _es_vs_ppo(env: str, threshold: float) -> dict:
  return next(r for r in result("claims/es_vs_ppo")["rows"]
              if r["env"] == env and r["threshold"] == threshold)


def es_vs_ppo_hopper() -> str:
  r = _es_vs_ppo("hopper", 1000.0)
  ratio = r["ratio_env_steps"].split(" (")[0]
  return (f"within {r['ES_env_steps'] / 1e6:.2f}M median steps and {r['ES_cpu_s']:.0f} median "
          "CPU-s; Brax PPO with Brax's published settings (4 updates of 327,680 steps at this "
          f"budget) ended at {r['PPO_final']} against ES's {r['ES_final']}, so ES/PPO steps "
          f"{ratio}")


def es_vs_ppo_walker2d() -> str:
  r = _es_vs_ppo("walker2d", 500.0)
  return (f"ES {r['ES_final']} against PPO {r['PPO_final']} at the budget (ES passed 500 in "
          f"{r['reached_ES'].split('/')[0]} of 3 seeds, median "
          f"{r['ES_env_steps'] / 1e6:.2f}M steps")


def es_vs_ppo_halfcheetah() -> str:
  r = _es_vs_ppo("halfcheetah", 100.0)
  ppo = "none" if r["reached_PPO"].startswith("0/") else r["reached_PPO"]
  return (f"ES {r['ES_final']} against PPO {r['PPO_final']} (ES passed 100 in {r['reached_ES']} "
          f"seeds at {r['ES_env_steps'] / 1e6:.2f}M median steps, PPO in {ppo})")


def variance_verdict() -> str:
  d = result("claims/variance")
  rel = d["relvar_by_T"]
  grow = rel["es"][-1] / d["es_smooth_relvar"]
  vs = [e / r for e, r in zip(rel["es"], rel["reinforce"])]
  vs_base = [e / r for e, r in zip(rel["es"], rel["reinforce_baseline"])]
  return (f"ES's grows {grow:.1f}× once returns turn non-smooth, and ES is {min(vs):.0f}–"
          f"{max(vs):.0f}× noisier than REINFORCE here ({min(vs_base):.0f}–{max(vs_base):.0f}× "
          "than REINFORCE with a baseline)")


def _scaling_model() -> tuple[dict, dict, dict]:
  d = result("claims/scaling")
  big = max(d["paper"]["cores"])
  row = next(r for r in d["model"] if r["workers"] == big)
  return d, row, d["model_inputs"]


def scaling_model() -> str:
  d, row, inputs = _scaling_model()
  small, big = d["paper"]["cores"]
  paper = d["paper"]["minutes"][0] / d["paper"]["minutes"][1]
  s = d["settings"]
  return (f"model ({inputs['env']}, 2×256 policy, pop {s['model_pop']:,}, "
          f"{s['link_gbps']:.0f} Gb/s): {big:,} workers {row['speedup_vs_18']:.1f}× faster than "
          f"{small} ({row['speedup_vs_18_no_update']:.1f}× without the update every worker "
          f"repeats) against the paper's {paper:.1f}×; collectives ≈ "
          f"{1e3 * row['comm_s']:.0f} ms per generation")


def _scaling_modes() -> tuple[dict, dict]:
  d = result("claims/scaling_modes")
  return d, next(r for r in d["rows"] if r["setting"] == "cpu" and r["workers"] == 1440)


def scaling_modes() -> str:
  d, row = _scaling_modes()
  hosts, cores = map(int, row["layout"].split("x"))
  group = [1 << (n.bit_length() - 1) for n in (hosts, cores)]  # core/comm.py's split_group
  return (f"speed-up 18 → 1,440 `returns` {row['returns_x']:.1f}×, `hierarchical` "
          f"{row['hierarchical_x']:.1f}×, `gradient` {row['gradient_x']:.1f}×, `auto` "
          f"{row['auto_x']:.1f}× ({row['auto']}; each split rebuilds on the largest "
          f"power-of-two group of each axis: {group[0]} × {group[1]} of {hosts} × {cores})")


def scaling_modes_verdict() -> str:
  d, row = _scaling_modes()
  paper = d["paper"]["minutes"][0] / d["paper"]["minutes"][1]
  versus = "passes" if row["auto_x"] >= paper else "comes close to"
  reach = "reaches" if row["auto_x"] >= 75 else "is short of"
  return (f"`auto` {versus} the paper ({row['auto_x']:.1f}× against {paper:.1f}×) and {reach} "
          f"the 75× goal of the ideal 80×")


def scaling_update() -> str:
  _, _, inputs = _scaling_model()
  return (f"{inputs['update_s']:.1f} s per {inputs['update_population']:,} members at "
          f"{inputs['params'] / 1e3:.0f}k params")


def humanoid() -> str:
  evals = [r for r in metrics("presets/humanoid/metrics.jsonl") if "eval_return" in r]
  first = next(r for r in evals if r["eval_return"] >= 6000)
  last = evals[-1]
  gpu = result("presets_gpu")
  row = next(r for r in gpu["rows"] if r["preset"] == "humanoid")
  start = row["process_wall_s"] - row["train_wall_s"]  # start-up and the step's compile
  early = next(r for r in evals if r["eval_return"] >= 4000)
  return (f"evaluation return {early['eval_return']:.0f} at generation {early['generation']}, "
          f"**{first['eval_return']:.0f} at generation {first['generation']}** "
          f"({first['env_steps'] / 1e6:.0f}M env steps, {first['wall_s']:.0f} s of training, "
          f"~{first['wall_s'] + start:.0f} s from launch including the compile), "
          f"{last['eval_return']:.0f} ± {last['eval_return_std']:.0f} at {last['generation']}")


BLOCKS = {
    "claims-where": claims_where,
    "claim-intrinsic-dim": intrinsic_dim,
    "claim-variance": variance,
    "claim-scaling-bytes": scaling_bytes,
    "claim-frame-skip": frame_skip,
    "claim-frame-skip-verdict": frame_skip_verdict,
    "claim-parameterization": parameterization,
    "claim-minatar": minatar,
    "claim-minatar-verdict": minatar_verdict,
    "claim-humanoid": humanoid,
    "claim-variance-verdict": variance_verdict,
    "claim-scaling-model": scaling_model,
    "claim-scaling-update": scaling_update,
    "claim-scaling-modes": scaling_modes,
    "claim-scaling-modes-verdict": scaling_modes_verdict,
    "claim-es-vs-ppo-hopper": es_vs_ppo_hopper,
    "claim-es-vs-ppo-walker2d": es_vs_ppo_walker2d,
    "claim-es-vs-ppo-halfcheetah": es_vs_ppo_halfcheetah,
}
