"""Numerical faults: NaN / +inf / -inf returns rank last, are counted, and never reach params."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from brax.envs.base import Wrapper

import esjax
from esjax import keys
from esjax.envs.brax import make_env

BAD = [np.nan, np.inf, -np.inf]


@pytest.mark.parametrize("shaper", [esjax.centered_rank, esjax.z_score, esjax.identity])
def test_nonfinite_returns_get_the_lowest_utility(shaper):
  x = np.array([1.0, np.nan, np.inf, -np.inf, 2.0, 0.5], np.float32)
  u = np.asarray(shaper(jnp.asarray(x)))
  finite = np.isfinite(x)
  assert np.all(np.isfinite(u))
  assert u[~finite].max() <= u[finite].min()
  # Finite returns keep their order among themselves.
  assert np.all(np.diff(u[finite][np.argsort(x[finite])]) > 0)


def test_centered_rank_puts_plus_inf_last_not_first():
  x = jnp.array([1.0, jnp.inf, 2.0, jnp.nan])
  u = np.asarray(esjax.centered_rank(x))
  # Ranks: the two faults tie at -inf and share (0 + 1) / 2, then 1.0 -> 2, 2.0 -> 3; over 3.
  np.testing.assert_allclose(u, np.array([2, 0.5, 3, 0.5]) / 3 - 0.5, rtol=1e-6)


FAULT_P = 0.35  # fraction of rollout keys whose fitness is NaN, +inf or -inf


def _fault(u):
  return jnp.where(u < 0.15, jnp.nan, jnp.where(u < 0.25, jnp.inf, -jnp.inf))


def faulty_fitness(params, key):
  u = jax.random.uniform(jax.random.fold_in(key, 7))
  good = -jnp.sum((params - 3.0) ** 2)
  return jnp.where(u < FAULT_P, _fault(u), good)


def expected_faults(seed, generations, population, fault_p):
  """Counted independently of the step: which members' rollout keys draw a fault."""
  run_key = jax.random.PRNGKey(seed)
  counts = []
  members = jnp.arange(population)
  for g in range(generations):
    gen_key = keys.generation_key(run_key, g)
    u = jax.vmap(lambda m: jax.random.uniform(jax.random.fold_in(
        keys.rollout_key(gen_key, keys.noise_index(m, True)), 7)))(members)
    counts.append(int((np.asarray(u) < fault_p).sum()))
  return counts


@pytest.mark.parametrize("shaping", ["centered_rank", "z_score", "identity"])
def test_black_box_faults_are_counted_and_params_stay_finite(shaping):
  gens, pop = 25, 32
  config = esjax.TrainConfig.of(population_size=pop, generations=gens, eval_every=0,
                             normalize_obs=False, sigma=0.1, learning_rate=0.1, shaping=shaping,
                             generations_per_call=5)
  result = esjax.train(config, problem=esjax.black_box(faulty_fitness),
                       initial_params=jnp.zeros(10), progress=False)
  counts = [m["nonfinite_returns"] for m in result.metrics]
  assert counts == expected_faults(config.runtime.seed, gens, pop, FAULT_P)
  assert sum(counts) > 0
  assert all(np.isfinite(m["param_norm"]) and np.isfinite(m["pop_return_mean"])
             for m in result.metrics)
  assert np.all(np.isfinite(result.flat_params))
  # Still learning from the finite members: distance to the optimum shrank well below the
  # initial sqrt(10 * 9).
  assert np.linalg.norm(result.flat_params - 3.0) < 0.6 * np.sqrt(90.0)


class PoisonWrapper(Wrapper):
  """Rewards and observations turn NaN from the first step for a random subset of episodes
  (chosen from the reset key, so the test can predict which members are hit)."""

  def reset(self, rng):
    state = self.env.reset(rng)
    poison = jax.random.uniform(jax.random.fold_in(rng, 7)) < FAULT_P
    return state.replace(info={**state.info, "poison": poison})

  def step(self, state, action):
    nxt = self.env.step(state, action)
    p = state.info["poison"]
    return nxt.replace(reward=jnp.where(p, jnp.nan, nxt.reward),
                       obs=jnp.where(p, jnp.nan, nxt.obs),
                       info={**nxt.info, "poison": p})


@pytest.mark.slow
def test_brax_nan_rewards_and_obs_are_counted_and_never_reach_params_or_normalizer():
  gens, pop = 3, 16
  config = esjax.TrainConfig.of(population_size=pop, generations=gens, episode_length=20,
                             hidden_sizes=(8, 8), eval_every=0, generations_per_call=gens)
  env = PoisonWrapper(make_env("hopper", "spring"))
  policy, params = esjax.make_policy("mlp", int(env.observation_size), int(env.action_size),
                                     config.policy.hidden_sizes, config.policy.activation,
                                     jax.random.PRNGKey(config.runtime.seed))
  problem = esjax.brax_problem(env, policy, config.problem.episode_length,
                               config.problem.normalize_obs,
                               config.problem.obs_clip)
  result = esjax.train(config, problem=problem, initial_params=params, progress=False)
  counts = [m["nonfinite_returns"] for m in result.metrics]
  assert counts == expected_faults(config.runtime.seed, gens, pop, FAULT_P)
  assert 0 < sum(counts) < gens * pop
  assert np.all(np.isfinite(result.flat_params))
  norm = result.normalizer
  assert np.all(np.isfinite(norm.mean)) and np.all(np.isfinite(norm.m2))
  # Every poisoned episode's NaN observations were left out of the normalizer's count.
  observed = sum(m["gen_env_steps"] for m in result.metrics) + gens * pop  # steps + resets
  assert 0 < float(norm.count) <= observed - sum(counts)
