"""The cost of noise: key-derived normals (threefry, rbg, unsafe_rbg) vs a shared noise table.

Times the two places ES touches noise, at a few parameter counts:
  * ask:  the population's perturbed parameters, ``theta + sigma * eps_i``  -> (pop, P);
  * tell: the weighted sum ``sum_j w_j eps_j`` rebuilt in chunks            -> (P,).
Key-derived variants use esjax.perturbations as is (noise of member i from fold_in(gen_key, i)),
only the key's PRNG implementation changes. The table variant is the paper's: one
precomputed array of N(0, 1) floats, member i's noise is the slice at an offset drawn from
member i's key -- still decided by (seed, generation, index) alone.

    python -m benchmarks.noise                          # CPU default, ~1-2 min
    python -m benchmarks.noise --params 10000,100000,1000000 --population 4096   # GPU
"""
from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp

from benchmarks import common
from esjax import keys
from esjax.perturbations import gaussian as noise


def key_variant(impl: str):
  """(make_gen_key, member_eps(gen_key, idx, P)) with keys of PRNG implementation ``impl``."""

  def make_key(seed):
    return jax.random.fold_in(jax.random.key(seed, impl=impl), 7)  # a generation key

  def eps(gen_key, idx, num_params):
    return noise.sample(keys.noise_key(gen_key, idx), num_params)

  return make_key, eps


def table_variant(table: jax.Array):
  """Noise as a slice of a shared table at an offset drawn from the member's key."""

  def make_key(seed):
    return jax.random.fold_in(jax.random.PRNGKey(seed), 7)

  def eps(gen_key, idx, num_params):
    hi = table.shape[0] - num_params
    offset = jax.random.randint(keys.noise_key(gen_key, idx), (), 0, hi)
    return jax.lax.dynamic_slice(table, (offset,), (num_params,))

  return make_key, eps


def build(eps, population: int, num_params: int, chunk: int, sigma: float = 0.05):
  pairs = population // 2

  @jax.jit
  def ask(gen_key, theta):
    members = jnp.arange(population)
    e = jax.vmap(lambda m: keys.member_sign(m, True) * eps(gen_key, m // 2, num_params))(
        members)
    return theta[None] + sigma * e  # (pop, P)

  @jax.jit
  def tell(gen_key, w):  # w: (pairs,) -> (P,), the same chunked scan as esjax.perturbations
    n = -(-pairs // chunk)
    idx = jnp.arange(n * chunk).reshape(n, chunk)
    wp = jnp.zeros((n * chunk,)).at[:pairs].set(w).reshape(n, chunk)

    def body(total, xs):
      i, ww = xs
      directions = jax.vmap(lambda j: eps(gen_key, j, num_params))(i)
      return total + noise.weighted_sum(ww, directions), None

    return jax.lax.scan(body, jnp.zeros((num_params,)), (idx, wp))[0]

  return ask, tell


def ask_tell_consistent(ask, tell, gen_key, num_params: int, population: int,
                        sigma: float = 0.05) -> bool:
  """Does ``tell`` rebuild the very directions ``ask`` used? (the key-derived contract).

  Checked for a few pairs with one-hot weights. PRNGs whose vmap rule gives a key different
  bits depending on its position in the batch (rbg, unsafe_rbg) fail it.
  """
  cand = ask(gen_key, jnp.zeros((num_params,)))
  pairs = population // 2
  for p in sorted({0, 1, pairs // 2, pairs - 1}):
    rebuilt = tell(gen_key, jnp.zeros((pairs,)).at[p].set(1.0))
    if not bool(jnp.allclose(rebuilt, cand[2 * p] / sigma, atol=1e-4)):
      return False
  return True


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--params", default="1000,10000,100000")
  p.add_argument("--population", type=int, default=256)
  p.add_argument("--chunk", type=int, default=64)
  p.add_argument("--table-size", type=int, default=2**25, help="floats in the shared table")
  p.add_argument("--repeats", type=int, default=5)
  p.add_argument("--out", default=None)
  p.add_argument("--name", default="noise")
  a = p.parse_args(argv)
  table = jax.random.normal(jax.random.PRNGKey(1), (a.table_size,))
  variants = {"threefry (default)": key_variant("threefry2x32"), "rbg": key_variant("rbg"),
              "unsafe_rbg": key_variant("unsafe_rbg"), "table": table_variant(table)}
  rows = []
  for num_params in (int(x) for x in a.params.split(",")):
    theta = jnp.zeros((num_params,))
    w = jnp.linspace(-0.5, 0.5, a.population // 2)
    base = None
    for name, (make_key, eps) in variants.items():
      ask, tell = build(eps, a.population, num_params, a.chunk)
      gk = make_key(0)
      common.block(ask(gk, theta))
      common.block(tell(gk, w))
      t_ask = common.best_of(lambda: ask(gk, theta), a.repeats)
      t_tell = common.best_of(lambda: tell(gk, w), a.repeats)
      # The noise must still be standard normal whichever variant made it.
      sample = ask(gk, theta)[::2] / 0.05
      row = {"params": num_params, "noise": name, "ask_ms": 1e3 * t_ask, "tell_ms": 1e3 * t_tell,
             "ask+tell_ms": 1e3 * (t_ask + t_tell), "eps_std": float(sample.std()),
             "eps_mean": float(sample.mean()),
             "ask_tell_consistent": ask_tell_consistent(ask, tell, gk, num_params,
                                                        a.population)}
      base = base or row["ask+tell_ms"]
      row["speedup_vs_threefry"] = base / row["ask+tell_ms"]
      rows.append(row)
      common.log(row)
  notes = [
      f"Population {a.population} (mirrored: {a.population // 2} noise directions), tell chunk "
      f"{a.chunk}, medians of {a.repeats} compiled calls; table = {a.table_size:,} floats "
      f"({a.table_size * 4 / 2**20:.0f} MiB) built once, outside the timings.",
      "ask = (pop, P) perturbed parameters; tell = sum of w_j eps_j over the directions, rebuilt "
      "in chunks as esjax.perturbations.weighted_noise_sum does.",
      "ask_tell_consistent: tell's chunked rebuild of pair p equals the noise ask gave member "
      "2p (checked with one-hot weights). A variant that fails it breaks esjax's contract (member "
      "noise decided by (seed, generation, index) alone) and cannot be used whatever its speed.",
      "eps_std / eps_mean: moments of the generated noise (should be ~1 / ~0). A table's slices "
      "overlap, so members' noise is correlated when offsets are close: the paper accepted that "
      "with a 250M-float table.",
  ]
  common.write_results(a.name, "Noise cost: PRNG keys vs shared table", rows, notes,
                       out_dir=a.out)


if __name__ == "__main__":
  main()
