"""The env-step budget stops inside the compiled call, per seed (issue 9, section 6).

The problem is a black box whose members take a random number of "env steps" (1..99), so the
generation at which a budget is reached depends on the run's keys and differs between seeds.
"""
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import esjax
from esjax.core import step as step_lib
from esjax.problems.base import Evaluation, Problem
from esjax.problems.normalizer import ObsStats
from esjax.rundir import checkpoint as ckpt_lib
from esjax.rundir import files as run_io
from esjax.training.train import to_host

BUDGET = 4000  # about 800 steps per generation: reached at generation 5 or 6
TIMING = ("wall_s", "steps_per_s")


def _evaluate(params, normalizer, key):
  del normalizer
  k_ret, k_steps = jax.random.split(key)
  ret = -jnp.sum((params - 1.0) ** 2) + 0.1 * jax.random.normal(k_ret)
  return Evaluation(ret, jax.random.randint(k_steps, (), 1, 100), ObsStats.zeros(0))


PROBLEM = Problem(_evaluate, obs_size=0)


def config(**kw):
  base = dict(population_size=16, generations=1000, env_steps=BUDGET, eval_every=3,
              eval_episodes=2, normalize_obs=False, sigma=0.1, learning_rate=0.05,
              generations_per_call=4, checkpoint_every=2, seed=5)
  return esjax.TrainConfig.of(**{**base, **kw})


def train(out=None, resume=False, **kw):
  return esjax.train(config(**kw), out_dir=None if out is None else str(out), problem=PROBLEM,
                     initial_params=jnp.zeros(6), progress=False, resume=resume)


def untimed(records):
  return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def restore(out):
  s = esjax.setup(config(), PROBLEM, jnp.zeros(6))
  fp = ckpt_lib.fingerprint(s.config, "custom", 0, 0)
  return ckpt_lib.restore_latest(str(out), to_host(s.state), fp)


def test_step_counter_is_exact_far_past_int32():
  add = jax.jit(step_lib.steps_add)
  c = step_lib.steps_zero()
  for _ in range(100):
    c = add(c, jnp.int32(10**9))
  c = add(c, jnp.int32(2**31 - 1))
  total = 10**11 + 2**31 - 1
  assert int(step_lib.steps_value(c)) == total
  assert bool(step_lib.steps_reached(c, total)) and not bool(step_lib.steps_reached(c, total + 1))
  assert bool(step_lib.steps_reached(c, 2**31)) and bool(step_lib.steps_reached(c, 2**30 - 1))
  seeds = jnp.stack([c, step_lib.steps_zero()])  # a seed axis broadcasts
  assert step_lib.steps_value(add(seeds, jnp.array([1, 2], jnp.int32))).tolist() == [total + 1, 2]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp("budget")
  return root, train(root / "fused"), train(root / "single", generations_per_call=1)


def test_fused_call_stops_at_the_budget_like_one_at_a_time(runs):
  root, fused, single = runs
  gen = int(fused.state.generation)
  assert gen % 4, "the budget must be reached inside a fused call for this test to mean much"
  np.testing.assert_array_equal(fused.flat_params, single.flat_params)  # bitwise
  assert gen == int(single.state.generation)
  assert untimed(fused.metrics) == untimed(single.metrics)
  for name, result in (("fused", fused), ("single", single)):
    out = root / name
    lines = run_io.read_metrics(str(out))
    assert [m["generation"] for m in lines] == list(range(1, gen + 1))
    steps = int(step_lib.steps_value(result.state.env_steps))
    assert lines[-1]["env_steps"] == steps >= BUDGET > lines[-2]["env_steps"]
    assert steps == sum(m["gen_env_steps"] for m in lines)
    # The final checkpoint is of that generation and holds the returned state.
    r = restore(out)
    assert r.generation == int(r.state.generation) == gen and r.env_steps == steps
    assert len(r.records) == gen
    np.testing.assert_array_equal(r.state.es.mean, result.flat_params)
  # Evaluation at every third generation and at the stop, as without fusion.
  assert [m["generation"] for m in fused.metrics if "eval_return" in m] == \
      [g for g in range(1, gen + 1) if g % 3 == 0 or g == gen]


def test_resume_from_a_checkpoint_before_the_budget_continues_exactly(runs, tmp_path):
  root, fused, _ = runs
  out = tmp_path / "run"
  shutil.copytree(root / "fused", out)
  steps = sorted(int(d) for d in os.listdir(out / "checkpoints"))
  for d in steps[1:]:  # back to the oldest checkpoint kept: the counter comes from its state
    shutil.rmtree(out / "checkpoints" / str(d))
  r = restore(out)
  assert r.generation == steps[0] < int(fused.state.generation)
  assert int(step_lib.steps_value(r.state.env_steps)) == r.env_steps == \
      fused.metrics[steps[0] - 1]["env_steps"]
  resumed = train(out, resume=True)
  np.testing.assert_array_equal(resumed.flat_params, fused.flat_params)
  assert int(resumed.state.generation) == int(fused.state.generation)
  assert int(step_lib.steps_value(resumed.state.env_steps)) == \
      int(step_lib.steps_value(fused.state.env_steps))
  assert untimed(run_io.read_metrics(str(out))) == untimed(fused.metrics)


def test_each_seed_stops_at_its_own_budget(runs):
  _, seed5, _ = runs
  multi = train(num_seeds=3)
  singles = [seed5] + [train(seed=5 + s) for s in (1, 2)]
  gens = [int(r.state.generation) for r in singles]
  assert len(set(gens)) > 1, "the seeds must stop at different generations"
  assert np.asarray(multi.state.generation).tolist() == gens
  assert len(multi.metrics) == max(gens)
  last = multi.metrics[-1]
  assert last["generation_per_seed"] == gens
  for s, one in enumerate(singles):
    np.testing.assert_allclose(multi.flat_params[s], one.flat_params, rtol=1e-6, atol=1e-7)
    steps = int(step_lib.steps_value(one.state.env_steps))
    assert int(step_lib.steps_value(multi.state.env_steps)[s]) == steps == \
        last["env_steps_per_seed"][s] >= BUDGET
    # The seed's rows are its single run's; after it stopped, its values are None.
    per_seed = [m["pop_return_mean_per_seed"][s] for m in multi.metrics]
    np.testing.assert_allclose(per_seed[:gens[s]], [m["pop_return_mean"] for m in one.metrics],
                               rtol=1e-5)
    assert per_seed[gens[s]:] == [None] * (max(gens) - gens[s])
    # A stopped seed keeps its state: the last evaluation is of its final params.
    assert last["eval_return_per_seed"][s] == pytest.approx(one.metrics[-1]["eval_return"],
                                                            rel=1e-5)
  stopped = [s for s in range(3) if gens[s] < max(gens)]
  assert last["pop_return_mean"] == pytest.approx(np.mean(
      [v for v in last["pop_return_mean_per_seed"] if v is not None]))
  assert all(last["pop_return_mean_per_seed"][s] is None for s in stopped)
