"""ARS, PGPE and ClipUp: keys-only updates against NumPy transcriptions of the papers, against
evosax 0.3.2, and on a sphere under jit + scan."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import esjax
from esjax import keys, strategies
from esjax.perturbations import gaussian

P = 7
RUN_KEY = jax.random.PRNGKey(3)


def _noise(gen_key, num_directions, num_params=P):
  """The (directions, P) noise esjax's keys draw: row k is pair k's +eps."""
  return np.asarray(jax.vmap(lambda i: gaussian.sample(keys.noise_key(gen_key, i), num_params))(
      jnp.arange(num_directions)), np.float64)


def _returns(seed, pop):
  """Distinct continuous returns (no ties: the rank shapers' tie rules then agree)."""
  return np.random.default_rng(seed).normal(size=pop).astype(np.float32) * 3.0 + 1.0


@functools.lru_cache(maxsize=None)
def _compiled(name, noise_chunk=64, **options):
  """A strategy and its ``strategies.tell`` (``noise_chunk`` directions at a time) jitted once
  per configuration (compiling is what these tests spend their time on)."""
  es = strategies.REGISTRY[name](**options)
  return es, jax.jit(lambda state, gen_key, returns: strategies.tell(
      es, state, gen_key, returns, noise_chunk=noise_chunk))


def _evosax_population(mean, sigma, eps):
  """evosax's ask puts all ``+z`` first, then all ``-z``; esjax interleaves (2k: +, 2k+1: -)."""
  plus = mean + sigma * eps
  return jnp.asarray(np.concatenate([plus, 2 * mean - plus]), jnp.float32)


def _evosax_fitness(returns):
  """evosax minimizes and orders halves as above: -returns, all + members then all - members."""
  return jnp.asarray(np.concatenate([-returns[0::2], -returns[1::2]]), jnp.float32)


# ------------------------------------------------------------------------------------ ARS

def _ars(pop, b):
  # noise_chunk 3 leaves a padded last chunk: padding must weigh nothing.
  return _compiled("ars", population_size=pop, learning_rate=0.05, sigma=0.02, top_directions=b,
                   noise_chunk=3)


def ars_reference(mean, alpha, nu, eps, returns, b):
  """Mania et al. 2018, Algorithm 2, step 7, in float64. A non-finite return counts as the
  lowest finite one (esjax's rank-last rule); pairs tied with the b-th best score are kept."""
  del nu  # the paper's step does not divide by nu
  r = np.asarray(returns, np.float64)
  finite = np.isfinite(r)
  if not finite.any():
    return np.asarray(mean, np.float64)
  r = np.where(finite, r, r[finite].min())
  plus, minus = r[0::2], r[1::2]
  score = np.maximum(plus, minus)
  order = np.flatnonzero(score >= np.sort(score)[::-1][b - 1])
  sigma_r = np.concatenate([plus[order], minus[order]]).std()
  if sigma_r == 0:
    return np.asarray(mean, np.float64)
  return mean + alpha / (order.size * sigma_r) * ((plus - minus)[order] @ eps[order])


@pytest.mark.parametrize("pop,b", [(16, 0), (16, 4), (12, 3)])
def test_ars_matches_numpy_transcription(pop, b):
  es, tell = _ars(pop, b)
  mean = np.linspace(-1, 1, P)
  state = es.init(jnp.asarray(mean, jnp.float32))
  gen_key = keys.generation_key(RUN_KEY, 5)
  returns = _returns(pop + b, pop)
  new, info = tell(state, gen_key, jnp.asarray(returns))
  pairs = pop // 2
  want = ars_reference(mean, 0.05, 0.02, _noise(gen_key, pairs), returns,
                       pairs if b == 0 else min(b, pairs))
  np.testing.assert_allclose(new.mean, want, rtol=1e-5, atol=1e-6)
  assert not np.allclose(want, mean)
  assert float(info.update_norm) > 0


def test_ars_non_finite_returns_rank_last():
  pop, b = 12, 3
  es, tell = _ars(pop, b)
  gen_key = keys.generation_key(RUN_KEY, 1)
  state = es.init(jnp.zeros(P))
  returns = _returns(0, pop)
  # A +inf would win the max(r+, r-) ranking if it counted as large; it counts as the lowest
  # finite return instead, and so does a NaN next to the best return.
  returns[2], returns[7], returns[6] = np.inf, np.nan, 50.0
  new, _ = tell(state, gen_key, jnp.asarray(returns))
  assert np.all(np.isfinite(new.mean))
  want = ars_reference(np.zeros(P), 0.05, 0.02, _noise(gen_key, pop // 2), returns, b)
  np.testing.assert_allclose(new.mean, want, rtol=1e-5, atol=1e-6)
  # Most returns non-finite: they all tie at the lowest finite return.
  returns[[0, 5, 9]] = [np.nan, -np.inf, np.nan]
  new, _ = tell(state, gen_key, jnp.asarray(returns))
  want = ars_reference(np.zeros(P), 0.05, 0.02, _noise(gen_key, pop // 2), returns, b)
  np.testing.assert_allclose(new.mean, want, rtol=1e-5, atol=1e-6)
  assert not np.allclose(want, 0)
  # No finite pair at all, or sigma_R = 0 over the chosen returns: no step, no NaN.
  es1, tell1 = _compiled("ars", population_size=pop, top_directions=1)
  for bad in (np.full(pop, np.nan), np.array([9.0, 9.0] + [0.0, 1.0] * 5)):
    new, _ = tell1(es1.init(jnp.ones(P)), gen_key, jnp.asarray(bad, jnp.float32))
    np.testing.assert_array_equal(new.mean, np.ones(P))


def test_ars_options():
  es = strategies.ars(8, reward_shift=1.0)
  assert es.mirrored
  # reward_shift is an ARS option that the trainer reads from the config (never the Strategy):
  # ARS's is the one given, a strategy without the option shifts nothing.
  assert esjax.TrainConfig.of(strategy="ars", reward_shift=1.0).strategy.resolved()[
      "reward_shift"] == 1.0
  assert esjax.TrainConfig.of().strategy.resolved().get("reward_shift", 0.0) == 0.0
  assert strategies.REGISTRY["ars"] is strategies.ars
  # b >= N is all N directions (V1/V2), like b = 0.
  returns = jnp.asarray(_returns(4, 8))
  np.testing.assert_array_equal(strategies.ars(8, top_directions=100).utilities(None, returns)[0],
                                es.utilities(None, returns)[0])
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
  es, tell = _ars(pop, b)
  mean = jnp.linspace(-1, 1, P)
  gen_key = keys.generation_key(RUN_KEY, 2)
  returns = _returns(11, pop)
  new, _ = tell(es.init(mean), gen_key, jnp.asarray(returns))

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


# --------------------------------------------------------------------------------- ClipUp

def clipup_reference(loss_grads, lr, max_speed, momentum):
  """Toklu et al. 2020: v <- m v + lr g/||g||, ||v|| clipped to max_speed, step = v (g is the
  fitness gradient: here -loss_grad). A zero gradient adds nothing."""
  v, steps = 0.0, []
  for grad in loss_grads:
    g = -np.asarray(grad, np.float64)
    norm = np.linalg.norm(g)
    v = momentum * v + lr * (g / norm if norm > 0 else 0.0 * g)
    speed = np.linalg.norm(v)
    v = v * (max_speed / speed) if speed > max_speed else v
    steps.append(v)
  return steps


def test_clipup_matches_numpy_reference_on_a_pytree():
  lr, max_speed, momentum = 0.15, 0.3, 0.9
  rng = np.random.default_rng(0)
  drift = rng.normal(size=7)
  # Aligned gradients build speed past max_speed (clipped from step 3 on); a zero gradient and
  # a reversal follow, where momentum alone and then the new direction set the velocity.
  grads = [drift + 0.3 * rng.normal(size=7) for _ in range(4)] + [np.zeros(7), -5 * drift]
  grads = [g * scale for g, scale in zip(grads, [1.0, 100.0, 0.01, 3.0, 1.0, 1.0])]
  opt = strategies.clipup(lr, max_speed, momentum)
  params = {"a": jnp.zeros(3), "b": jnp.zeros((2, 2))}
  state = opt.init(params)
  update = jax.jit(opt.update)
  want = clipup_reference(grads, lr, max_speed, momentum)
  speeds = []
  for grad, expected in zip(grads, want):
    tree = {"a": jnp.asarray(grad[:3], jnp.float32),
            "b": jnp.asarray(grad[3:].reshape(2, 2), jnp.float32)}
    step, state = update(tree, state, params)
    flat = np.concatenate([np.ravel(step["a"]), np.ravel(step["b"])])
    np.testing.assert_allclose(flat, expected, rtol=1e-5, atol=1e-7)
    speeds.append(np.linalg.norm(flat))
  assert speeds[0] == pytest.approx(lr, rel=1e-6)
  assert max(speeds) == pytest.approx(max_speed, rel=1e-6)  # the clip engaged
  assert sum(s > max_speed * (1 - 1e-6) for s in speeds) >= 2
  with pytest.raises(ValueError):
    strategies.clipup(0.1, 0.0)


# ----------------------------------------------------------------------------------- PGPE

def centered_rank_reference(r):
  r = np.asarray(r, np.float64)
  return np.argsort(np.argsort(r, kind="stable"), kind="stable") / (r.size - 1) - 0.5


def pgpe_reference(mean, sigma, velocity, eps, returns, lr, max_speed, sigma_lr, max_change):
  """Sehnke et al. 2010, symmetric sampling, over centered-rank utilities and the generation's
  mean utility as baseline; the center stepped by ClipUp (momentum 0.9) and sigma by plain
  ascent clipped to +-max_change * sigma. Everything in parameter units (delta = sigma eps)."""
  u = centered_rank_reference(returns)
  plus, minus, baseline = u[0::2], u[1::2], u.mean()
  delta = sigma * eps
  grad_mean = np.mean((plus - minus)[:, None] / 2 * delta, axis=0)
  grad_sigma = np.mean(((plus + minus) / 2 - baseline)[:, None] * (delta**2 - sigma**2) / sigma,
                       axis=0)
  velocity = 0.9 * velocity + lr * grad_mean / np.linalg.norm(grad_mean)
  speed = np.linalg.norm(velocity)
  velocity = velocity * (max_speed / speed) if speed > max_speed else velocity
  lo, hi = sigma * (1 - max_change), sigma * (1 + max_change)
  return mean + velocity, np.clip(sigma + sigma_lr * grad_sigma, lo, hi), velocity


PGPE_OPTIONS = dict(population_size=12, learning_rate=0.05, max_speed=0.08, sigma=0.3,
                    sigma_learning_rate=2.0, sigma_max_change=0.2, noise_chunk=4)


def test_pgpe_matches_numpy_transcription_over_generations():
  o = PGPE_OPTIONS
  es, tell = _compiled("pgpe", **o)
  mean, sigma, velocity = np.linspace(-1, 1, P), np.full(P, o["sigma"]), np.zeros(P)
  state = es.init(jnp.asarray(mean, jnp.float32))
  clipped = []
  for g in range(4):
    gen_key = keys.generation_key(RUN_KEY, g)
    returns = _returns(100 + g, o["population_size"])
    state, info = tell(state, gen_key, jnp.asarray(returns))
    new_sigma = sigma
    mean, sigma, velocity = pgpe_reference(mean, sigma, velocity,
                                           _noise(gen_key, o["population_size"] // 2), returns,
                                           o["learning_rate"], o["max_speed"],
                                           o["sigma_learning_rate"], o["sigma_max_change"])
    np.testing.assert_allclose(state.mean, mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state.sigma, sigma, rtol=1e-5, atol=1e-7)
    clipped.append(np.isclose(np.abs(sigma / new_sigma - 1), o["sigma_max_change"]))
  clipped = np.array(clipped)
  assert clipped.any() and not clipped.all()  # both sides of the sigma clip were exercised
  assert float(info.update_norm) <= o["max_speed"] * (1 + 1e-6)


def test_pgpe_non_finite_returns_keep_the_state_finite():
  o = PGPE_OPTIONS
  es, tell = _compiled("pgpe", **o)
  returns = _returns(5, o["population_size"])
  returns[[1, 4, 8]] = [np.nan, np.inf, -np.inf]
  state, _ = tell(es.init(jnp.zeros(P)), keys.generation_key(RUN_KEY, 0), jnp.asarray(returns))
  assert np.all(np.isfinite(state.mean)) and np.all(np.isfinite(state.sigma))
  assert np.all(np.asarray(state.sigma) > 0)
  assert strategies.REGISTRY["pgpe"] is strategies.pgpe
  for bad in (dict(population_size=7), dict(population_size=8, sigma_max_change=1.0),
              dict(population_size=8, optimizer="nope")):
    with pytest.raises(ValueError):
      strategies.pgpe(**bad)


@pytest.mark.parametrize("optimizer", ["clipup", "sgd"])
def test_pgpe_matches_evosax(optimizer):
  """evosax's PGPE on the population esjax's keys produce, over three generations.

  Settings to match: ``std_init`` / ``std_lr`` / ``std_max_change`` = sigma /
  sigma_learning_rate / sigma_max_change, its default centered-rank shaping, ``fitness =
  -returns`` (it minimizes; centered ranks of -r are exactly -u for distinct returns, which
  its descent convention undoes), and as optimizer its own ``clipup(learning_rate,
  max_velocity=max_speed)`` or ``optax.sgd(learning_rate)``. Its mean and sigma gradients
  carry the same 1/pop scale and mean-fitness baseline as esjax. Deviations compensated by
  tolerance only: evosax's ClipUp divides by ||g|| + 1e-8 (esjax by ||g||), and evosax
  rebuilds sigma*eps as ``population - mean`` in float32. Its centered ranks average ties
  where esjax's break them by index: the returns here have no ties.
  """
  from evosax.algorithms import PGPE
  from evosax.core.optimizer import clipup as evosax_clipup
  o = dict(PGPE_OPTIONS, **({} if optimizer == "clipup" else dict(optimizer=optimizer)))
  es, tell = _compiled("pgpe", **o)
  ev_opt = (evosax_clipup(o["learning_rate"], max_velocity=o["max_speed"])
            if optimizer == "clipup" else optax.sgd(o["learning_rate"]))
  ev = PGPE(o["population_size"], jnp.zeros(P), optimizer=ev_opt)
  params = ev.default_params.replace(std_init=o["sigma"], std_lr=o["sigma_learning_rate"],
                                     std_max_change=o["sigma_max_change"])
  mean = jnp.linspace(-1, 1, P)
  state, ev_state = es.init(mean), ev.init(jax.random.PRNGKey(0), mean, params)
  for g in range(3):
    gen_key = keys.generation_key(RUN_KEY, 10 + g)
    returns = _returns(200 + g, o["population_size"])
    population = _evosax_population(np.asarray(state.mean, np.float64),
                                    np.asarray(state.sigma, np.float64),
                                    _noise(gen_key, o["population_size"] // 2))
    ev_state, _ = ev.tell(jax.random.PRNGKey(g), population, _evosax_fitness(returns), ev_state,
                          params)
    state, _ = tell(state, gen_key, jnp.asarray(returns))
    np.testing.assert_allclose(state.mean, ev_state.mean, rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(state.sigma, ev_state.std, rtol=1e-5, atol=1e-6)
  assert not np.allclose(state.sigma, o["sigma"])


# ------------------------------------------------------------------------------- sphere

SPHERE_TARGET = jnp.linspace(-1.0, 1.0, 10)


def _sphere_run(es, generations, pop=32, noise_chunk=64):
  """``generations`` of ask/tell on f(x) = -||x - target||^2 from x = 0, under jit + scan."""
  members = jnp.arange(pop)

  def generation(state, g):
    gen_key = keys.generation_key(RUN_KEY, g)
    cands = strategies.ask(es, state, gen_key, members)
    returns = -jnp.sum((cands - SPHERE_TARGET) ** 2, axis=1)
    state, _ = strategies.tell(es, state, gen_key, returns, noise_chunk=noise_chunk)
    return state, jnp.linalg.norm(state.mean - SPHERE_TARGET)

  run = jax.jit(lambda s: jax.lax.scan(generation, s, jnp.arange(generations)))
  return run(es.init(jnp.zeros(10)))


@pytest.mark.parametrize("name,options,tolerance", [
    ("ars", dict(learning_rate=0.02, sigma=0.03, top_directions=8), 0.05),
    # ClipUp's constant step size leaves an orbit of about max_speed around the optimum.
    ("pgpe", dict(learning_rate=0.02, max_speed=0.04, sigma=0.1), 0.08),
])
def test_sphere_converges_under_jit_and_scan(name, options, tolerance):
  es = strategies.REGISTRY[name](32, **options)
  state, distance = _sphere_run(es, 200, noise_chunk=16)
  assert float(distance[0]) > 1.5  # ||target|| = 1.95 from the start at 0
  assert float(distance[-1]) < tolerance, np.asarray(distance[::20])
  assert np.all(np.isfinite(state.mean)) and np.all(np.asarray(state.sigma) > 0)
