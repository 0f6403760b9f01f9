"""Device-count invariance (docs/architecture.md property 1), the gradient comm mode, and
many seeds.

Each device count needs its own interpreter (the CPU device count is fixed at JAX start),
so every case runs as a subprocess with 1, 2 and 4 forced CPU devices, all at once.
"""
import numpy as np
import pytest

from tests.helpers.subproc import FAST_COMPILE, run_all

COUNTS = (1, 2, 4)

_BLACK_BOX = """
import json, jax, jax.numpy as jnp, numpy as np, esjax
target = jnp.linspace(-1.0, 1.0, 40)
problem = esjax.black_box(lambda p, k: -jnp.sum((p - target) ** 2) + 0.01 * jax.random.normal(k))
def run(**kw):
  cfg = esjax.TrainConfig.of(**{**dict(population_size=16, generations=5, eval_every=0,
                                    normalize_obs=False, sigma=0.1, learning_rate=0.05,
                                    seed=3), **kw})
  r = esjax.train(cfg, problem=problem, initial_params=jnp.zeros(40), progress=False)
  return r
out = {"devices": jax.device_count()}
# Seeds 4 and 5 alone only once: by device-count invariance they stand for every count.
single = {s: run(seed=s) for s in ((3, 4, 5) if jax.device_count() == 1 else (3,))}
out["returns"] = single[3].flat_params.tolist()
out["gradient"] = run(comm="gradient").flat_params.tolist()
multi = run(num_seeds=3)
out["seeds"] = multi.flat_params.tolist()
out["singles"] = [single[s].flat_params.tolist() for s in single]
out["seed_metrics"] = [[m["pop_return_mean"], m["pop_return_mean_per_seed"]]
                       for m in multi.metrics]
out["single_metrics"] = [[m["pop_return_mean"] for m in single[s].metrics] for s in single]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def black_box_runs():
  return run_all(_BLACK_BOX, COUNTS, timeout=300)


@pytest.mark.slow
def test_black_box_params_do_not_depend_on_the_device_count(black_box_runs):
  for n in COUNTS:
    assert black_box_runs[n]["devices"] == n
  ref = np.array(black_box_runs[1]["returns"])
  assert np.abs(ref).max() > 0.1  # it moved
  for n in COUNTS[1:]:
    np.testing.assert_allclose(black_box_runs[n]["returns"], ref, rtol=0, atol=1e-5)


@pytest.mark.slow  # the fixture is the slow tests' own: the quick tier would build it again
def test_gradient_comm_mode_gives_the_same_update_as_returns_mode(black_box_runs):
  # Same estimate sum_j w_j eps_j, only summed per device then psummed: equal up to rounding.
  for n in COUNTS:
    np.testing.assert_allclose(black_box_runs[n]["gradient"], black_box_runs[n]["returns"],
                               rtol=0, atol=1e-5)


@pytest.mark.slow
def test_seed_s_of_a_k_seed_run_is_the_single_run_with_seed_plus_s(black_box_runs):
  ref = black_box_runs[1]  # single runs with seeds 3, 4 and 5 on one device
  singles = np.array(ref["singles"])
  assert not np.allclose(singles[0], singles[1])  # the seeds really differ
  for n in COUNTS:
    r = black_box_runs[n]
    seeds = np.array(r["seeds"])
    assert seeds.shape == singles.shape == (3, 40)
    np.testing.assert_allclose(seeds, singles, rtol=0, atol=1e-5)
    for g, (mean, per_seed) in enumerate(r["seed_metrics"]):
      expected = [ref["single_metrics"][s][g] for s in range(3)]
      np.testing.assert_allclose(per_seed, expected, rtol=1e-5)
      assert mean == pytest.approx(np.mean(per_seed), rel=1e-6)


_BRAX = """
import json, jax, esjax
cfg = esjax.TrainConfig.of(env="hopper", backend="spring", episode_length=30, population_size=8,
                        hidden_sizes=(8, 8), generations=3, eval_every=0, seed=1)
r = esjax.train(cfg, progress=False)
print(json.dumps({"devices": jax.device_count(), "params": r.flat_params.tolist(),
                  "obs_mean": r.normalizer.mean.tolist(),
                  "returns": [m["pop_return_mean"] for m in r.metrics]}))
"""


@pytest.mark.slow
def test_brax_hopper_params_do_not_depend_on_the_device_count():
  runs = run_all(_BRAX, COUNTS, timeout=400, xla_flags=FAST_COMPILE)
  ref = runs[1]
  for n in COUNTS[1:]:
    assert runs[n]["devices"] == n
    np.testing.assert_allclose(runs[n]["returns"], ref["returns"], rtol=1e-4)
    np.testing.assert_allclose(runs[n]["obs_mean"], ref["obs_mean"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(runs[n]["params"], ref["params"], rtol=0, atol=1e-4)
