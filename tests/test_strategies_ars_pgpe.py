"""ARS, PGPE and ClipUp: keys-only updates against NumPy transcriptions of the papers, against
evosax 0.3.2, and on a sphere under jit + scan."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from esjax import keys, strategies
from esjax.perturbations import gaussian
from esjax.strategies import base

P = 7
RUN_KEY = jax.random.PRNGKey(3)


def _noise(gen_key, num_directions, num_params=P):
  """The (directions, P) noise esjax's keys draw: row k is pair k's +eps."""
  return np.asarray(jax.vmap(lambda i: gaussian.sample(keys.noise_key(gen_key, i), num_params))(
      jnp.arange(num_directions)), np.float64)


def _returns(seed, pop):
  """Distinct continuous returns (no ties: the rank shapers' tie rules then agree)."""
  return np.random.default_rng(seed).normal(size=pop).astype(np.float32) * 3.0 + 1.0


def _tell(es):
  """``strategies.tell`` compiled once per strategy: far cheaper than eager op-by-op dispatch."""
  return jax.jit(lambda state, gen_key, returns: strategies.tell(es, state, gen_key, returns))


def _evosax_population(mean, sigma, eps):
  """evosax's ask puts all ``+z`` first, then all ``-z``; esjax interleaves (2k: +, 2k+1: -)."""
  plus = mean + sigma * eps
  return jnp.asarray(np.concatenate([plus, 2 * mean - plus]), jnp.float32)


def _evosax_fitness(returns):
  """evosax minimizes and orders halves as above: -returns, all + members then all - members."""
  return jnp.asarray(np.concatenate([-returns[0::2], -returns[1::2]]), jnp.float32)


# ------------------------------------------------------------------------------------ ARS

def ars_reference(mean, alpha, nu, eps, returns, b):
  """Mania et al. 2018, Algorithm 2, step 7, in float64. Pairs with a non-finite return are
  dropped first (esjax's documented choice), b shrinks to the finite pairs left."""
  del nu  # the paper's step does not divide by nu
  r = np.asarray(returns, np.float64)
  plus, minus = r[0::2], r[1::2]
  keep = np.flatnonzero(np.isfinite(plus) & np.isfinite(minus))
  order = keep[np.argsort(-np.maximum(plus[keep], minus[keep]), kind="stable")][:b]
  if order.size == 0:
    return np.asarray(mean, np.float64)
  sigma_r = np.concatenate([plus[order], minus[order]]).std()
  if sigma_r == 0:
    return np.asarray(mean, np.float64)
  return mean + alpha / (order.size * sigma_r) * ((plus - minus)[order] @ eps[order])


@pytest.mark.parametrize("pop,b", [(16, 0), (16, 3), (12, 100)])
def test_ars_matches_numpy_transcription(pop, b):
  es = strategies.ars(pop, learning_rate=0.05, sigma=0.02, top_directions=b, noise_chunk=3)
  mean = np.linspace(-1, 1, P)
  state = es.init(jnp.asarray(mean, jnp.float32))
  gen_key = keys.generation_key(RUN_KEY, 5)
  returns = _returns(pop + b, pop)
  new, info = _tell(es)(state, gen_key, jnp.asarray(returns))
  pairs = pop // 2
  want = ars_reference(mean, 0.05, 0.02, _noise(gen_key, pairs), returns,
                       pairs if b == 0 else min(b, pairs))
  np.testing.assert_allclose(new.mean, want, rtol=1e-5, atol=1e-6)
  assert not np.allclose(want, mean)
  assert float(info.update_norm) > 0


def test_ars_non_finite_pairs_are_dropped():
  pop, b = 12, 4
  es = strategies.ars(pop, learning_rate=0.05, sigma=0.02, top_directions=b)
  gen_key = keys.generation_key(RUN_KEY, 1)
  state = es.init(jnp.zeros(P))
  tell = _tell(es)
  returns = _returns(0, pop)
  # A +inf would win the max(r+, r-) ranking if it were kept; a NaN next to the best return,
  # too. Both pairs must rank last and take no part.
  returns[2], returns[7], returns[6] = np.inf, np.nan, 50.0
  new, _ = tell(state, gen_key, jnp.asarray(returns))
  assert np.all(np.isfinite(new.mean))
  want = ars_reference(np.zeros(P), 0.05, 0.02, _noise(gen_key, pop // 2), returns, b)
  np.testing.assert_allclose(new.mean, want, rtol=1e-5, atol=1e-6)
  # Fewer finite pairs than b: b becomes the finite count.
  returns[[0, 5, 9]] = [np.nan, -np.inf, np.nan]  # pairs 0, 2, 4 dropped too: 1 pair left
  new, _ = tell(state, gen_key, jnp.asarray(returns))
  want = ars_reference(np.zeros(P), 0.05, 0.02, _noise(gen_key, pop // 2), returns, b)
  np.testing.assert_allclose(new.mean, want, rtol=1e-5, atol=1e-6)
  assert not np.allclose(want, 0)
  # No finite pair at all, or sigma_R = 0 over the chosen returns: no step, no NaN.
  tell1 = _tell(es1 := strategies.ars(pop, top_directions=1))
  for bad in (np.full(pop, np.nan), np.array([9.0, 9.0] + [0.0, 1.0] * 5)):
    new, _ = tell1(es1.init(jnp.ones(P)), gen_key, jnp.asarray(bad, jnp.float32))
    np.testing.assert_array_equal(new.mean, np.ones(P))


def test_ars_options():
  es = strategies.ars(8, reward_shift=1.0)
  assert es.reward_shift == 1.0 and es.mirrored
  assert strategies.open_es(8).reward_shift == 0.0
  assert strategies.REGISTRY["ars"] is strategies.ars
  for bad in (dict(population_size=7), dict(population_size=8, top_directions=-1)):
    with pytest.raises(ValueError):
      strategies.ars(**bad)


@pytest.mark.parametrize("b", [0, 4])
def test_ars_matches_evosax(b):
  """evosax's ARS (Mania et al. Algorithm 2 as well) on the population esjax's keys produce.

  Settings to match: ``optimizer=optax.sgd(alpha)`` (evosax's default is Adam, the paper's is
  a plain step), ``std_schedule=constant(nu)`` (its nu), identity fitness shaping (its default)
  and ``fitness = -returns`` (it minimizes; its sort by min(f+, f-) is our max(r+, r-)).
  evosax has no top-b option: it keeps ``int(elite_ratio * pop // 2)`` directions with
  ``elite_ratio = 0.5`` fixed in its constructor, so b = 4 of 8 pairs is its own default and
  b = all sets ``elite_ratio = 1``. Deviation compensated by tolerance only: evosax rebuilds
  eps as ``(population - mean) / std`` in float32, and clips sigma_R at 1e-8 (never reached).
  """
  from evosax.algorithms import ARS
  pop, alpha, nu = 16, 0.05, 0.02
  es = strategies.ars(pop, learning_rate=alpha, sigma=nu, top_directions=b)
  mean = jnp.linspace(-1, 1, P)
  gen_key = keys.generation_key(RUN_KEY, 2)
  returns = _returns(11, pop)
  new, _ = _tell(es)(es.init(mean), gen_key, jnp.asarray(returns))

  ev = ARS(pop, jnp.zeros(P), optimizer=optax.sgd(alpha), std_schedule=optax.constant_schedule(nu))
  ev.elite_ratio = 1.0 if b == 0 else 0.5
  assert ev.num_elites == (b or pop // 2)
  params = ev.default_params
  ev_state = ev.init(jax.random.PRNGKey(0), mean, params)
  population = _evosax_population(np.asarray(mean), nu, _noise(gen_key, pop // 2))
  ev_state, _ = ev.tell(jax.random.PRNGKey(1), population, _evosax_fitness(returns), ev_state,
                        params)
  np.testing.assert_allclose(new.mean, ev_state.mean, rtol=2e-5, atol=2e-6)
  assert not np.allclose(new.mean, mean)
