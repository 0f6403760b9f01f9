"""Claim 3 of Salimans et al. (2017): RL is sensitive to the action frequency, ES is not
("long horizons": ES perturbs parameters once per episode, so acting every step or every 8th
step changes its estimator little, while a policy gradient's credit assignment spans K times
fewer or more decisions).

The same Brax env, physics and env-step budget for esjax's OpenAI-ES (``--frame-skip K``: each
action repeated K env steps, lengths and budgets in env steps) and Brax's PPO trainer
(``action_repeat=K``, its settings from ``_ppo.py``, which also count env steps), for
K = 1, 2, 4, 8: the return each reaches at the budget and the env steps to a threshold.

    python -m benchmarks.claims.frame_skip --seeds 2            # committed: hopper, K = 1, 2, 4, 8
    python -m benchmarks.claims.frame_skip --seeds 2 --resume   # goes on after a stop
    python -m benchmarks.claims.frame_skip --skips 1,4 --budget 2000000 --seeds 2
    python -m benchmarks.claims.frame_skip --quick              # minutes: checks that it runs

Writes ``benchmarks/results/claims/frame_skip.md`` (+ csv/json) and ``frame_skip.png``.
"""
from __future__ import annotations

import argparse
import json
import os

import esjax  # noqa: F401  (first: esjax sets XLA flags before JAX starts)
import numpy as np

from benchmarks import common
from benchmarks.claims import _ppo  # installs the jax 0.10 shim for Brax PPO
from esjax.config import presets

RESULTS = os.path.join(common.RESULTS_DIR, "claims")


def run_es(a, skip: int, seed: int):
  over = dict(env_steps=a.budget, generations=None, eval_every=a.eval_every,
              eval_episodes=a.eval_episodes, seed=seed, episode_length=a.episode_length,
              frame_skip=skip)
  if a.quick:
    over.update(population_size=16)
  c = common.es_curve(presets.config(a.env, **over))
  return [(r["env_steps"], float(r["eval_return"]), r["at_cpu_s"]) for r in c.evals]


def ppo_overrides(a, skip: int) -> dict:
  """PPO's settings at frame skip K: ``action_repeat=K`` and the batch divided by K, so an
  update still collects the same env steps and PPO gets as many updates from the budget at
  every K (as ES gets as many generations). With the batch unchanged one K=8 update would
  collect 2.6M env steps, twice the budget."""
  s = _ppo.settings(a.env)
  if a.quick:
    s.update(num_envs=32, batch_size=32, num_minibatches=4, unroll_length=5)
  batch = max(1, s["batch_size"] // skip)
  return {**{k: s[k] for k in ("num_envs", "num_minibatches", "unroll_length")},
          "action_repeat": skip, "batch_size": batch}


def run_ppo(a, skip: int, seed: int):
  # One evaluation per update (_ppo's default), so PPO stops at the first update past the
  # budget instead of running 10 updates whatever the budget.
  out = _ppo.run(a.env, a.budget, seed, episode_length=a.episode_length,
                 num_eval_envs=4 if a.quick else a.eval_episodes,
                 overrides=ppo_overrides(a, skip))
  return [(steps, ret, cpu) for steps, ret, _, cpu, _ in out["curve"]]


def summarize(method, skip, seed, curve, a) -> dict:
  within = [c for c in curve if c[0] <= a.budget] or curve[:1]
  hit = next((c for c in curve if c[1] >= a.threshold), None)
  return {"method": method, "frame_skip": skip, "seed": seed, "budget": a.budget,
          "return_at_budget": within[-1][1] if within else float("nan"),
          "best_return": max(c[1] for c in curve) if curve else float("nan"),
          f"steps_to_{a.threshold:g}": hit[0] if hit else None,
          "env_steps": curve[-1][0] if curve else 0,
          "cpu_s": round(curve[-1][2], 1) if curve else None}


def plot(rows, a, path):
  plt = common.pyplot()
  fig, ax = plt.subplots(figsize=(6, 4))
  for method in ("es", "ppo"):
    pts = {}
    for r in rows:
      if r["method"] == method:
        pts.setdefault(r["frame_skip"], []).append(r["return_at_budget"])
    ks = sorted(pts)
    means = [np.mean(pts[k]) for k in ks]
    errs = [np.std(pts[k]) for k in ks]
    ax.errorbar(ks, means, yerr=errs, marker="o", capsize=3,
                label="esjax OpenAI-ES" if method == "es" else "Brax PPO")
  ax.set_xscale("log", base=2)
  ax.set_xlabel("frame skip K (action repeat)")
  ax.set_ylabel(f"return at {a.budget:,} env steps")
  ax.set_title(f"Claim 3: action frequency, {a.env}")
  ax.legend()
  common.save_figure(fig, path)


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--env", default="hopper")
  p.add_argument("--skips", default="1,2,4,8")
  p.add_argument("--seeds", type=int, default=1)
  p.add_argument("--budget", type=int, default=1_310_720, help="env steps per run and method")
  p.add_argument("--threshold", type=float, default=500.0)
  p.add_argument("--episode-length", type=int, default=1000)
  p.add_argument("--eval-every", type=int, default=2, help="ES generations between evaluations")
  p.add_argument("--eval-episodes", type=int, default=16)
  p.add_argument("--methods", default="es,ppo")
  p.add_argument("--quick", action="store_true", help="tiny budgets: checks that it runs")
  p.add_argument("--resume", action="store_true",
                 help="keep the runs already in the table (same budget) and run the rest")
  p.add_argument("--out", default=RESULTS)
  a = p.parse_args()
  if a.quick:
    a.skips, a.seeds, a.budget, a.threshold = "1,2", 1, 6_400, 50.0
    a.episode_length, a.eval_every, a.eval_episodes = 100, 1, 4
  os.makedirs(a.out, exist_ok=True)
  rows, path = [], os.path.join(a.out, "frame_skip.json")
  if a.resume and os.path.exists(path):
    with open(path) as f:
      rows = [r for r in json.load(f)["rows"] if r.get("budget") == a.budget]
  for method in a.methods.split(","):
    for skip in (int(k) for k in a.skips.split(",")):
      for seed in range(a.seeds):
        if any((r["method"], r["frame_skip"], r["seed"]) == (method, skip, seed) for r in rows):
          continue
        curve = (run_es if method == "es" else run_ppo)(a, skip, seed)
        rows.append(summarize(method, skip, seed, curve, a))
        common.log(rows[-1])
        write(rows, a)  # after every run: a stopped run keeps what it finished (--resume)


def write(rows, a):
  plot(rows, a, os.path.join(a.out, "frame_skip.png"))
  es_cfg = presets.config(a.env)
  common.write_results(
      "frame_skip", "Claim 3: return against the action frequency, ES and PPO", rows,
      [f"{a.env} (spring), episodes of {a.episode_length} env steps, {a.budget:,} env steps per "
       f"run and method, {a.seeds} seed(s); frame skip K repeats each action K env steps "
       "(esjax --frame-skip, Brax PPO action_repeat); both count env steps, not decisions.",
       f"ES: esjax's '{a.env}' preset (pop {es_cfg.strategy.population_size}), evaluated every "
       f"{a.eval_every} generations over {a.eval_episodes} episodes with the same frame skip.",
       f"PPO: {_ppo.SOURCE.get(a.env, 'Brax settings')}, action_repeat = K and batch_size "
       "divided by K (every update collects the same env steps at every K), one evaluation "
       "per update, deterministic; cpu_s is process CPU seconds (the machine is shared).",
       "return_at_budget: the last evaluation at or below the budget."],
      out_dir=a.out)


if __name__ == "__main__":
  main()
