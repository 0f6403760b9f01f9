"""Claim 4 of Salimans et al. (2017): the speed of ES depends on the intrinsic dimensionality
of the problem, not on the number of parameters.

The task: parameters theta in R^D, and a loss that sees them only through a fixed random
d-dimensional projection, ``f(theta) = ||Q theta - z*||^2 / ||z*||^2`` with ``Q`` (d x D)
orthonormal rows and ``z*`` ~ N(0, I_d): a D-parameter model whose useful subspace is
d-dimensional (equivalently, d intrinsic parameters embedded at random in D). OpenAI-ES
searches all D parameters from theta = 0 (f = 1) with its isotropic Gaussian noise; the table
gives the generations until f at the mean falls below ``--threshold``, against D for each d
and against d for each D, with plain SGD and with Adam as the optimizer.

Why the claim should hold with SGD: Q eps is N(0, I_d) whatever D is, so the returns, and the
projection Q g of the gradient estimate, have the same distribution for every D; the D - d
other directions of g are noise the loss never sees. Adam rescales each coordinate by its own
history, which mixes that noise into the step: the table shows how much.

    python -m benchmarks.claims.intrinsic_dim            # D = 1e2..1e5, d = 2, 10, 50
    python -m benchmarks.claims.intrinsic_dim --dims 100,1000,10000,100000,1000000
    python -m benchmarks.claims.intrinsic_dim --quick    # seconds: checks that it runs

Writes ``benchmarks/results/claims/intrinsic_dim.md`` (+ csv/json) and ``intrinsic_dim.png``.
"""
from __future__ import annotations

import argparse
import os

import esjax  # first: esjax sets XLA flags before JAX starts
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common

RESULTS = os.path.join(common.RESULTS_DIR, "claims")


def problem(D: int, d: int, seed: int):
  """(f, Q): the projected quadratic and its d x D orthonormal-row projection."""
  k_q, k_z = jax.random.split(jax.random.PRNGKey(seed))
  q, _ = jnp.linalg.qr(jax.random.normal(k_q, (D, d)))  # D x d, orthonormal columns
  Q = q.T
  z_star = jax.random.normal(k_z, (d,))
  scale = 1.0 / jnp.sum(z_star**2)

  def f(theta, key):
    del key
    r = Q @ theta - z_star
    return jnp.sum(r * r) * scale

  return f, Q


def generations_to(history: np.ndarray, threshold: float) -> int | None:
  below = np.nonzero(history <= threshold)[0]
  return int(below[0]) + 1 if below.size else None


def run(D, d, optimizer, a) -> dict:
  f, _ = problem(D, d, a.seed)
  result = esjax.minimize(f, jnp.zeros(D), "open_es", generations=a.generations, seed=a.seed,
                          population_size=a.population, sigma=a.sigma,
                          learning_rate=a.learning_rate, optimizer=optimizer, weight_decay=0.0)
  curve = np.asarray(result.history["mean_fitness"])
  row = {"optimizer": optimizer, "D": D, "d": d,
         "generations_to_threshold": generations_to(curve, a.threshold),
         "final_f": float(curve[-1])}
  common.log(row)
  return row, curve


def plot(rows, path):
  plt = common.pyplot()
  fig, axes = plt.subplots(1, 2, figsize=(10, 4))
  for ax, opt in zip(axes, ("sgd", "adam")):
    for d in sorted({r["d"] for r in rows}):
      pts = [(r["D"], r["generations_to_threshold"]) for r in rows
             if r["optimizer"] == opt and r["d"] == d and r["generations_to_threshold"]]
      if pts:
        ax.plot(*zip(*pts), marker="o", label=f"d = {d}")
    ax.set_xscale("log")
    ax.set_xlabel("parameters D")
    ax.set_ylabel("generations to threshold")
    ax.set_title(f"OpenAI-ES, {opt}")
    ax.legend()
  common.save_figure(fig, path)


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--dims", default="100,1000,10000,100000", help="parameter counts D")
  p.add_argument("--intrinsic", default="2,10,50", help="intrinsic dimensions d")
  p.add_argument("--optimizers", default="sgd,adam")
  p.add_argument("--generations", type=int, default=300)
  p.add_argument("--population", type=int, default=256)
  p.add_argument("--sigma", type=float, default=0.05)
  p.add_argument("--learning-rate", type=float, default=0.02)
  p.add_argument("--threshold", type=float, default=0.05, help="f at the mean (starts at 1)")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
  p.add_argument("--out", default=RESULTS)
  a = p.parse_args()
  if a.quick:
    a.dims, a.intrinsic, a.generations, a.population = "100,1000", "2,5", 40, 32
  rows = []
  for opt in a.optimizers.split(","):
    for d in (int(x) for x in a.intrinsic.split(",")):
      for D in (int(float(x)) for x in a.dims.split(",")):
        if d <= D:
          rows.append(run(D, d, opt, a)[0])
  os.makedirs(a.out, exist_ok=True)
  plot(rows, os.path.join(a.out, "intrinsic_dim.png"))
  common.write_results(
      "intrinsic_dim", "Claim 4: generations to threshold against parameters D and intrinsic "
      "dimension d", rows,
      [f"OpenAI-ES (esjax.minimize), population {a.population}, sigma {a.sigma}, learning rate "
       f"{a.learning_rate}, centered ranks, mirrored, no weight decay, seed {a.seed}; "
       f"threshold f <= {a.threshold} at the mean (f = 1 at the start), at most "
       f"{a.generations} generations (empty: not reached).",
       "f(theta) = ||Q theta - z*||^2 / ||z*||^2, Q a random d x D matrix with orthonormal "
       "rows: the loss sees D parameters only through a d-dimensional subspace.",
       "Black box, not an RL policy: the claim is about the search, and this isolates it."],
      out_dir=a.out)


if __name__ == "__main__":
  main()
