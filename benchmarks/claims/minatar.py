"""Claim 8 of Salimans et al. (2017): ES is competitive on Atari (in one hour on 720 CPUs).

Atari has no Brax counterpart; its JAX analogue is MinAtar (Young & Tian 2019) in gymnax:
10x10 frames, the paper's Atari network scaled down (esjax's ``cnn`` policy: conv 16 3x3 ->
dense 64 -> argmax over the actions, deterministic). ES trains each game for a stated env-step
budget, and its evaluation return is set against the PPO returns published in gymnax's README
(gymnax 1.0.1, trained with gymnax-blines; their budget is not stated there, gymnax-blines
trains MinAtar PPO for millions of steps), which is the peer number the issue names.

    python -m benchmarks.claims.minatar                    # 4 games, 1 seed, 1M env steps each
    python -m benchmarks.claims.minatar --games Breakout-MinAtar --seeds 3 --env-steps 3000000
    python -m benchmarks.claims.minatar --quick            # a minute: checks that it runs

Writes ``benchmarks/results/claims/minatar.md`` (+ csv/json) and ``minatar.png``
(``minatar_vbn.*`` with ``--vbn``).
"""
from __future__ import annotations

import argparse
import os

import esjax  # first: esjax sets XLA flags before JAX starts
import numpy as np

from benchmarks import common

RESULTS = os.path.join(common.RESULTS_DIR, "claims")
# gymnax 1.0.1's README (its package METADATA), column "Trained Agents": PPO returns.
PPO_README = {"Asterix-MinAtar": 15.0, "Breakout-MinAtar": 28.0, "Freeway-MinAtar": 58.0,
              "SpaceInvaders-MinAtar": 131.0}


def train(game: str, seed: int, a) -> tuple[dict, list]:
  fields = dict(env=f"gymnax:{game}", population_size=a.population, sigma=a.sigma,
                learning_rate=a.learning_rate, generations=None, env_steps=a.env_steps,
                eval_every=a.eval_every, eval_episodes=a.eval_episodes, seed=seed)
  if a.vbn:
    fields["vbn"] = True
  if a.episode_length:
    fields["episode_length"] = a.episode_length
  c = common.es_curve(esjax.TrainConfig.of(**fields))
  result, wall, cpu = c.result, c.wall_s, c.cpu_s
  curve = [(m["env_steps"], m["eval_return"]) for m in c.evals]
  final = curve[-1][1] if curve else float("nan")
  ppo = PPO_README.get(game)
  row = {"game": game, "seed": seed, "env_steps": int(result.metrics[-1]["env_steps"]),
         "generations": len(result.metrics), "es_eval_return": final,
         "best_eval_return": max(r for _, r in curve) if curve else float("nan"),
         "ppo_readme_return": ppo, "es_over_ppo": final / ppo if ppo else None,
         "wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}
  common.log(row)
  return row, curve


def plot(curves, rows, path):
  plt = common.pyplot()
  games = sorted({r["game"] for r in rows})
  fig, axes = plt.subplots(1, len(games), figsize=(4 * len(games), 3.5), squeeze=False)
  for ax, game in zip(axes[0], games):
    for (g, seed), curve in curves.items():
      if g == game and curve:
        ax.plot(*zip(*curve), marker="o", markersize=3, label=f"ES seed {seed}")
    if game in PPO_README:
      ax.axhline(PPO_README[game], color="k", linestyle="--", label="PPO (gymnax README)")
    ax.set_title(game)
    ax.set_xlabel("env steps")
    ax.set_ylabel("evaluation return")
    ax.legend(fontsize="small")
  common.save_figure(fig, path)


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--games", default=",".join(PPO_README))
  p.add_argument("--seeds", type=int, default=1)
  p.add_argument("--env-steps", type=int, default=1_000_000, help="budget per game and seed")
  p.add_argument("--population", type=int, default=256)
  p.add_argument("--sigma", type=float, default=0.05)
  p.add_argument("--learning-rate", type=float, default=0.01)
  p.add_argument("--eval-every", type=int, default=5)
  p.add_argument("--eval-episodes", type=int, default=16)
  p.add_argument("--episode-length", type=int, default=0, help="0: the env's own")
  p.add_argument("--vbn", action="store_true", help="virtual batch normalization (the paper's)")
  p.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
  p.add_argument("--out", default=RESULTS)
  a = p.parse_args()
  if a.quick:
    a.games, a.seeds, a.env_steps, a.population = "Breakout-MinAtar", 1, 1500, 16
    a.eval_every, a.eval_episodes, a.episode_length = 2, 2, 50
  rows, curves = [], {}
  for game in a.games.split(","):
    for seed in range(a.seeds):
      row, curve = train(game, seed, a)
      rows.append(row)
      curves[(game, seed)] = curve
  os.makedirs(a.out, exist_ok=True)
  name = "minatar_vbn" if a.vbn else "minatar"
  plot(curves, rows, os.path.join(a.out, f"{name}.png"))
  summary = []
  for game in sorted({r["game"] for r in rows}):
    finals = np.array([r["es_eval_return"] for r in rows if r["game"] == game])
    summary.append(f"{game}: ES {finals.mean():.1f} +- {finals.std():.1f} over {len(finals)} "
                   f"seed(s) at {a.env_steps:,} env steps; PPO (gymnax README) "
                   f"{PPO_README.get(game)}")
  common.write_results(
      name, "Claim 8: ES on MinAtar (gymnax) against gymnax's published PPO returns", rows,
      [f"esjax OpenAI-ES, population {a.population}, sigma {a.sigma}, Adam {a.learning_rate}, "
       f"centered ranks, mirrored, weight decay 0.005; cnn policy (auto for image "
       f"observations){', VBN' if a.vbn else ''}; {a.env_steps:,} env steps per game and seed; "
       f"evaluation every {a.eval_every} generations over {a.eval_episodes} episodes "
       "(deterministic argmax policy); es_eval_return is the last evaluation.",
       "PPO: the returns in gymnax 1.0.1's README (trained agents of gymnax-blines); not run "
       "here, and their env-step budget is larger than this table's.",
       *summary],
      out_dir=a.out)


if __name__ == "__main__":
  main()
