"""SNES and sep-CMA-ES: NumPy transcriptions of the papers, evosax 0.3.2, convergence, ties.

Every reference runs on the noise esjax's keys produce, so a keys-only update that differs from
the paper's by more than float32 rounding fails here.
"""
import functools
import inspect
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from esjax import keys, strategies
from esjax.perturbations import gaussian
from esjax.strategies import base

P = 7  # parameters of the reference problems: small, odd, not a multiple of the chunk
POP = 12


# One strategy per (name, mirrored) for every reference test, so that ``tell`` compiles once
# each (seconds apiece on a shared machine). The initial sigma is the state's, not the
# strategy's: tests that want another one replace it. noise_chunk 5 leaves a padded last chunk.
OPTIONS = {"snes": dict(sigma=0.3, learning_rate=0.7), "sep_cma_es": dict(sigma=0.4)}
NOISE_CHUNK = 5


@functools.lru_cache(maxsize=None)
def make(name, mirrored):
  """(strategy, jitted base.tell, jitted base.dense_tell)."""
  es = strategies.REGISTRY[name](POP, mirrored=mirrored, **OPTIONS[name])
  return (es, jax.jit(functools.partial(base.tell, es, noise_chunk=NOISE_CHUNK)),
          jax.jit(functools.partial(base.dense_tell, es)))


@functools.partial(jax.jit, static_argnums=1)
def _noise(gen_key, mirrored):
  n_dir = POP // 2 if mirrored else POP
  eps = jax.vmap(lambda i: gaussian.sample(keys.noise_key(gen_key, i), P))(jnp.arange(n_dir))
  members = jnp.arange(POP)
  signs = keys.member_sign(members, mirrored)[:, None]
  return eps, eps[keys.noise_index(members, mirrored)] * signs


def dense_noise(gen_key, mirrored):
  """(directions, P) noise as the contract's reference builds it, and each member's signed
  noise (pop, P) in float64 for the NumPy references."""
  eps, members = _noise(gen_key, mirrored)
  return eps, np.asarray(members, np.float64)


def np_rank_weights(returns, table):
  """table[rank] per member, best first; tied returns (non-finite ones all tied, last) share
  the mean of the entries their ranks span."""
  x = np.asarray(returns, np.float64)
  x = np.where(np.isfinite(x), x, -np.inf)
  pos = np.empty(len(x), int)
  pos[np.argsort(-x, kind="stable")] = np.arange(len(x))
  return np.array([np.mean(np.asarray(table)[pos[x == xi]]) for xi in x])


def np_no_signal(returns):
  finite = np.isfinite(returns)
  return (not finite.any()) or (finite.all() and np.ptp(returns) == 0)


def returns_with_ties_and_nan(pop=POP, seed=0):
  r = np.random.default_rng(seed).normal(size=pop).round(1)
  r[3] = r[7] = r[10]  # a three-way tie
  r[5] = np.nan
  r[8] = -np.inf
  return jnp.asarray(r, jnp.float32)


# ---------------------------------------------------------------------------- SNES, NumPy


def np_snes_table(n):
  raw = np.maximum(0.0, math.log(n / 2 + 1) - np.log(np.arange(1, n + 1)))
  return raw / raw.sum() - 1.0 / n


def np_snes_step(mean, sigma, eps, returns, lr_mean, lr_sigma):
  """Schaul et al. 2011, Algorithm 1 (SNES), over members' signed noise (pop, P)."""
  if np_no_signal(np.asarray(returns)):
    return mean, sigma
  u = np_rank_weights(returns, np_snes_table(len(returns)))
  grad_mean = u @ eps
  grad_log_sigma = u @ (eps**2 - 1)
  return mean + lr_mean * sigma * grad_mean, sigma * np.exp(lr_sigma / 2 * grad_log_sigma)


@pytest.mark.parametrize("mirrored", [False, True])
def test_snes_tell_equals_numpy_transcription(mirrored):
  es, tell, dense_tell = make("snes", mirrored)
  state = es.init(jnp.linspace(-1.0, 1.0, P))
  # A non-uniform sigma, as after some generations, so that sigma * grad_mean is checked.
  state = state.replace(sigma=jnp.linspace(0.1, 0.5, P))
  np.testing.assert_allclose(state.sigma_learning_rate, (3 + math.log(P)) / (5 * math.sqrt(P)),
                             rtol=1e-6)
  gen_key = keys.generation_key(jax.random.PRNGKey(1), 4)
  returns = returns_with_ties_and_nan()
  eps, member_eps = dense_noise(gen_key, mirrored)
  want_mean, want_sigma = np_snes_step(np.asarray(state.mean, np.float64),
                                       np.asarray(state.sigma, np.float64), member_eps,
                                       np.asarray(returns), 0.7, float(state.sigma_learning_rate))
  for new, _ in (tell(state, gen_key, returns), dense_tell(state, eps, returns)):
    np.testing.assert_allclose(new.mean, want_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new.sigma, want_sigma, rtol=1e-5)


# ------------------------------------------------------------------------ sep-CMA-ES, NumPy


def np_sep_cma_constants(n, pop):
  """Ros & Hansen 2008 with the Hansen & Kern 2004 defaults, written out again on purpose."""
  mu = pop // 2
  w = np.log(mu + 1) - np.log(np.arange(1, mu + 1))
  w = np.concatenate([w / w.sum(), np.zeros(pop - mu)])
  mu_eff = 1 / np.sum(w**2)
  c_sigma = (mu_eff + 2) / (n + mu_eff + 3)
  d_sigma = 1 + 2 * max(0, math.sqrt((mu_eff - 1) / (n + 1)) - 1) + c_sigma
  c_cov = (1 / mu_eff) * 2 / (n + math.sqrt(2)) ** 2 + (1 - 1 / mu_eff) * min(
      1, (2 * mu_eff - 1) / ((n + 2) ** 2 + mu_eff))
  c_cov = (n + 2) / 3 * c_cov
  chi_n = math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n * n))
  return dict(w=w, mu_eff=mu_eff, c_sigma=c_sigma, d_sigma=d_sigma, c_c=4 / (n + 4),
              c_cov=c_cov, mu_cov=mu_eff, chi_n=chi_n)


def np_sep_cma_step(s, eps, returns):
  """One sep-CMA-ES generation in the paper's y = sqrt(C) eps space; ``s`` a dict of arrays."""
  if np_no_signal(np.asarray(returns)):
    return dict(s)
  n = s["mean"].shape[0]
  k = np_sep_cma_constants(n, len(returns))
  w = np_rank_weights(returns, k["w"])
  y = np.sqrt(s["C"]) * eps  # members' steps, ~ N(0, C)
  y_w = w @ y
  mean = s["mean"] + s["sigma"] * y_w
  cs = k["c_sigma"]
  p_sigma = (1 - cs) * s["p_sigma"] + math.sqrt(cs * (2 - cs) * k["mu_eff"]) * y_w / np.sqrt(s["C"])
  norm = np.linalg.norm(p_sigma)
  sigma = s["sigma"] * math.exp(cs / k["d_sigma"] * (norm / k["chi_n"] - 1))
  g = s["g"] + 1
  h = float(norm / math.sqrt(1 - (1 - cs) ** (2 * g)) < (1.4 + 2 / (n + 1)) * k["chi_n"])
  cc = k["c_c"]
  p_c = (1 - cc) * s["p_c"] + h * math.sqrt(cc * (2 - cc) * k["mu_eff"]) * y_w
  delta = (1 - h) * cc * (2 - cc)
  c_cov, mu_cov = k["c_cov"], k["mu_cov"]
  C = ((1 - c_cov) * s["C"] + c_cov / mu_cov * (p_c**2 + delta * s["C"])
       + c_cov * (1 - 1 / mu_cov) * (w @ y**2))
  return dict(mean=mean, sigma=sigma, C=C, p_sigma=p_sigma, p_c=p_c, g=g)


def _np_state(state):
  return dict(mean=np.asarray(state.mean, np.float64), sigma=float(state.sigma),
              C=np.asarray(state.diag_cov, np.float64),
              p_sigma=np.asarray(state.p_sigma, np.float64),
              p_c=np.asarray(state.p_c, np.float64), g=int(state.generation))


def _assert_sep_cma_close(state, want, rtol=1e-5, atol=1e-6):
  np.testing.assert_allclose(state.mean, want["mean"], rtol=rtol, atol=atol)
  np.testing.assert_allclose(state.sigma, want["sigma"], rtol=rtol)
  np.testing.assert_allclose(state.diag_cov, want["C"], rtol=rtol, atol=atol)
  np.testing.assert_allclose(state.p_sigma, want["p_sigma"], rtol=rtol, atol=10 * atol)
  np.testing.assert_allclose(state.p_c, want["p_c"], rtol=rtol, atol=10 * atol)
  assert int(state.generation) == want["g"]


@pytest.mark.parametrize("mirrored", [False, True])
def test_sep_cma_tell_equals_numpy_transcription(mirrored):
  es, tell, dense_tell = make("sep_cma_es", mirrored)
  state = es.init(jnp.linspace(-1.0, 1.0, P))
  dense = state
  want = _np_state(state)
  # Several generations, so that the paths, C and the generation counter carry over; the last
  # one's returns carry no information and must change nothing.
  for g in range(5):
    gen_key = keys.generation_key(jax.random.PRNGKey(2), g)
    eps, member_eps = dense_noise(gen_key, mirrored)
    returns = returns_with_ties_and_nan(seed=g) if g < 4 else jnp.full(POP, jnp.nan)
    want = np_sep_cma_step(want, member_eps, np.asarray(returns))
    state, _ = tell(state, gen_key, returns)
    dense, _ = dense_tell(dense, eps, returns)
    _assert_sep_cma_close(state, want)
    _assert_sep_cma_close(dense, want)


# ------------------------------------------------------------------------ evosax 0.3.2


def distinct_returns_with_nan(pop=POP, seed=0):
  """No ties (evosax ranks ties by truncating scipy's average ranks, an order of its own) and one
  NaN (evosax, too, ranks NaN fitness last)."""
  r = np.random.default_rng(100 + seed).permutation(pop).astype(np.float32) - pop / 2
  r[(seed * 5 + 1) % pop] = np.nan
  return jnp.asarray(r)


@functools.lru_cache(maxsize=None)
def evosax_snes():
  """One instance: evosax jits tell with ``self`` static, so each instance compiles anew."""
  import optax
  from evosax.algorithms import SNES
  return SNES(POP, jnp.zeros(P), optimizer=optax.sgd(OPTIONS["snes"]["learning_rate"]))


@functools.lru_cache(maxsize=None)
def evosax_sep_cma():
  from evosax.algorithms import Sep_CMA_ES
  return Sep_CMA_ES(POP, jnp.zeros(P))


@pytest.mark.parametrize("mirrored", [False, True])
def test_snes_matches_evosax(mirrored):
  """evosax's SNES tell on esjax's population gives esjax's mean and sigma, generation after
  generation, each library carrying its own state.

  Deviations, and how they are bridged:
  * evosax minimizes: its fitness is -returns.
  * evosax's ask draws its own noise: it is not called; its tell gets the candidates esjax's
    keys produce and recovers z = (x - mean) / std from them (float32 rounding only).
  * evosax has no mirrored sampling, but its update reads the population alone, so mirrored
    pairs are fed as two plain members.
  * evosax ranks tied fitness by truncated average ranks: no ties here (they are checked
    against the NumPy transcription); one NaN, which both rank last.
  * The mean's learning rate (0.7 here, 1 in the paper) is evosax's optimizer: optax.sgd(0.7).
    Its utilities and its lr_std default are the paper's (asserted, not set).
  """
  es, tell, _ = make("snes", mirrored)
  state = es.init(jnp.linspace(-1.0, 1.0, P))
  evo = evosax_snes()
  params = evo.default_params.replace(std_init=jnp.float32(0.3))
  np.testing.assert_allclose(params.weights, np_snes_table(POP), rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(params.lr_std_init, state.sigma_learning_rate, rtol=1e-6)
  evo_state = evo.init(jax.random.PRNGKey(0), state.mean, params)
  for g in range(3):
    gen_key = keys.generation_key(jax.random.PRNGKey(5), g)
    returns = distinct_returns_with_nan(seed=g)
    population = base.ask(es, state, gen_key, jnp.arange(POP))
    evo_state, _ = evo.tell(jax.random.PRNGKey(g), population, -returns, evo_state, params)
    state, _ = tell(state, gen_key, returns)
    np.testing.assert_allclose(state.mean, evo_state.mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state.sigma, evo_state.std, rtol=1e-5)


@pytest.mark.parametrize("mirrored", [False, True])
def test_sep_cma_matches_evosax(mirrored):
  """evosax's Sep_CMA_ES tell on esjax's population gives esjax's mean, sigma, C and both
  evolution paths, generation after generation, each library carrying its own state.

  Deviations, and how they are bridged:
  * evosax minimizes: its fitness is -returns.
  * evosax's ask draws its own noise: its population is discarded and its tell gets the
    candidates esjax's keys produce. Its ask is still called, for what it does to the state:
    D = sqrt(C) for the next tell, with C clipped to [0, 1e8] and loaded with 1e-8 on the
    diagonal (a numerical guard, far below float32 resolution of C ~ 1).
  * evosax's Sep_CMA_ES inherits CMA-ES's defaults from Hansen's 2016 tutorial (weights
    ln((lambda+1)/2) - ln i, c_sigma = (mu_eff+2)/(n+mu_eff+5), c_c = (4+mu_eff/n)/(n+4+2
    mu_eff/n), c_1 = 2/((n+1.3)^2+mu_eff) and a c_mu without the sep (n+2)/3 scaling): all are
    set to the paper's (Ros & Hansen 2008 with the Hansen & Kern 2004 defaults), c_1 =
    c_cov_sep/mu_cov and c_mu = c_cov_sep (1 - 1/mu_cov) being the paper's split of c_cov_sep.
  * evosax's h_sigma normalizes ||p_sigma|| by sqrt(1 - (1-c_sigma)^(2(g+2))) at its counter g,
    one generation more than the updates p_sigma has had (it adds 1 at the call and again
    inside): its generation_counter starts at -1 so that both use the true path variance.
  * evosax has no mirrored sampling, but its update reads the population alone, so mirrored
    pairs are fed as two plain members.
  * evosax ranks tied fitness by truncated average ranks: no ties here; one NaN, ranked last.
  """
  es, tell, _ = make("sep_cma_es", mirrored)
  state = es.init(jnp.linspace(-1.0, 1.0, P))
  evo = evosax_sep_cma()
  k = np_sep_cma_constants(P, POP)
  f32 = jnp.float32
  params = evo.default_params.replace(
      std_init=f32(0.4), weights=jnp.asarray(k["w"], f32), mu_eff=f32(k["mu_eff"]),
      c_std=f32(k["c_sigma"]), d_std=f32(k["d_sigma"]), c_c=f32(k["c_c"]),
      c_1=f32(k["c_cov"] / k["mu_cov"]), c_mu=f32(k["c_cov"] * (1 - 1 / k["mu_cov"])),
      chi_n=f32(k["chi_n"]))
  evo_state = evo.init(jax.random.PRNGKey(0), state.mean, params).replace(generation_counter=-1)
  for g in range(6):
    gen_key = keys.generation_key(jax.random.PRNGKey(6), g)
    returns = distinct_returns_with_nan(seed=g)
    _, evo_state = evo.ask(jax.random.PRNGKey(g), evo_state, params)
    population = base.ask(es, state, gen_key, jnp.arange(POP))
    evo_state, _ = evo.tell(jax.random.PRNGKey(g), population, -returns, evo_state, params)
    state, _ = tell(state, gen_key, returns)
    np.testing.assert_allclose(state.mean, evo_state.mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state.sigma, evo_state.std, rtol=1e-5)
    np.testing.assert_allclose(state.diag_cov, evo_state.C, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state.p_sigma, evo_state.p_std, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(state.p_c, evo_state.p_c, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------ convergence

DIM = 10
_ROTATION = np.linalg.qr(np.random.default_rng(0).normal(size=(DIM, DIM)))[0]
_SCALES = 100.0 ** (np.arange(DIM) / (DIM - 1))  # condition number 1e2
PROBLEMS = {
    "sphere": lambda x: jnp.sum(x**2),
    "rotated_ellipsoid": lambda x: jnp.sum(_SCALES * (jnp.asarray(_ROTATION, jnp.float32) @ x)**2),
}
# Generations to f < 1e-8 from x0 = 3, sigma 1, population 10 (the papers' 4 + floor(3 ln 10)),
# measured over 5 seeds: SNES sphere 173-191, ellipsoid 627-1004; sep-CMA-ES sphere 110-127,
# ellipsoid 363-455. The budgets leave room for other seeds.
BUDGET = {"snes": {"sphere": 300, "rotated_ellipsoid": 1500},
          "sep_cma_es": {"sphere": 250, "rotated_ellipsoid": 800}}


@pytest.mark.parametrize("name", ["snes", "sep_cma_es"])
def test_converges_under_jit_and_scan(name):
  """Both problems and 3 seeds in one compiled scan per strategy; each run's f(mean) is read at
  its problem's budget. (Past it the sphere runs reach f = 0 in float32, where the returns all
  tie and the state must simply hold still: the finiteness check covers that too.)"""
  es = strategies.REGISTRY[name](10, sigma=1.0)
  members = jnp.arange(10)
  fs = list(PROBLEMS.values())
  length = max(BUDGET[name].values())

  def run(problem, seed):
    f = lambda x: jax.lax.switch(problem, fs, x)
    def generation(state, g):
      gen_key = keys.generation_key(jax.random.PRNGKey(seed), g)
      x = base.ask(es, state, gen_key, members)
      state, _ = base.tell(es, state, gen_key, -jax.vmap(f)(x))
      return state, f(state.mean)
    return jax.lax.scan(generation, es.init(jnp.full(DIM, 3.0)), jnp.arange(length))

  problems, seeds = jnp.repeat(jnp.arange(len(fs)), 3), jnp.tile(jnp.arange(3), len(fs))
  states, curves = jax.jit(jax.vmap(run))(problems, seeds)
  for row, problem in enumerate(np.asarray(problems)):
    budget = BUDGET[name][list(PROBLEMS)[problem]]
    assert curves[row, budget - 1] < 1e-8, (list(PROBLEMS)[problem], row, curves[row, budget - 1])
  for leaf in jax.tree.leaves(states):
    assert np.all(np.isfinite(np.asarray(leaf)))


# ------------------------------------------------------------------------ ties, non-finite


@pytest.mark.parametrize("name", ["snes", "sep_cma_es"])
@pytest.mark.parametrize("mirrored", [False, True])
def test_uninformative_returns_leave_the_state_unchanged(name, mirrored):
  """All non-finite or all equal returns: base.weigh zeroes every weight, and the mean (for
  sep-CMA-ES the whole state: its decays would otherwise shrink C and sigma) stays put."""
  es, tell, _ = make(name, mirrored)
  state = es.init(jnp.linspace(-1.0, 1.0, P))
  gen_key = keys.generation_key(jax.random.PRNGKey(7), 0)
  state, _ = tell(state, gen_key, returns_with_ties_and_nan())  # paths and C off their init
  for fill in (np.nan, np.inf, -np.inf, 2.5):
    new, info = tell(state, keys.generation_key(jax.random.PRNGKey(7), 1), jnp.full(POP, fill))
    for leaf in jax.tree.leaves((new, info)):
      assert np.all(np.isfinite(np.asarray(leaf))), fill
    np.testing.assert_array_equal(new.mean, state.mean)
    np.testing.assert_array_equal(new.sigma, state.sigma)
    if name == "sep_cma_es":
      for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(state)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name,total", [("snes", 0.0), ("sep_cma_es", 1.0)])
def test_ties_share_one_weight_and_nonfinite_ranks_last(name, total):
  es = make(name, False)[0]
  state = es.init(jnp.zeros(P))
  returns = returns_with_ties_and_nan()
  w = np.asarray(es.utilities(state, returns)[0])
  assert w[3] == w[7] == w[10]  # the three-way tie
  assert w[5] == w[8] == w.min()  # NaN and -inf: tied with each other, last
  np.testing.assert_allclose(w.sum(), total, atol=1e-6)  # sharing keeps the table's sum
  # Shuffling the members shuffles their weights and nothing else.
  perm = np.random.default_rng(1).permutation(POP)
  np.testing.assert_allclose(np.asarray(es.utilities(state, returns[perm])[0]), w[perm],
                             rtol=1e-6, atol=1e-7)
  # A return of +inf is an overflow, not a success: it ranks with the NaN.
  w_inf = np.asarray(es.utilities(state, returns.at[0].set(jnp.inf))[0])
  assert w_inf[0] == w_inf[5] == w_inf.min()


# ------------------------------------------------------------------------ contract


@pytest.mark.parametrize("name", ["snes", "sep_cma_es"])
def test_tell_split_equals_tell(name):
  """Four simulated devices, each summing its share of the directions, then a pairwise
  exchange: the --comm gradient mode. Every device ends with the same bits, equal to the
  chunk-after-chunk tell up to rounding (the layouts' bitwise equality is
  tests/invariance/test_comm_modes.py's, under shard_map: a vmap batches the matmuls)."""
  es, tell, _ = make(name, True)
  state = es.init(jnp.linspace(-1.0, 1.0, P))
  gen_key = keys.generation_key(jax.random.PRNGKey(8), 0)
  returns = returns_with_ties_and_nan()
  want, _ = tell(state, gen_key, returns)

  def combine(moments):  # the butterfly of core/step.py over a vmapped axis of 4
    for bit in (1, 2):
      moments = tuple(m + jax.lax.ppermute(m, "d", [(j, j ^ bit) for j in range(4)])
                      for m in moments)
    return moments

  split = jax.jit(jax.vmap(lambda i: base.tell_split(es, state, gen_key, returns, i, 4, combine,
                                                     noise_chunk=NOISE_CHUNK)[0],
                           axis_name="d"))(jnp.arange(4))
  for a, b in zip(jax.tree.leaves(split), jax.tree.leaves(want)):
    for i in range(4):
      assert np.array_equal(a[i], a[0])
    np.testing.assert_allclose(a[0], b, rtol=1e-5, atol=1e-6)


def test_registered_with_plain_json_options():
  for name in ("snes", "sep_cma_es"):
    factory = strategies.REGISTRY[name]
    assert getattr(strategies, name) is factory
    for option in list(inspect.signature(factory).parameters.values())[1:]:
      assert isinstance(option.default, (bool, int, float, str)), (name, option.name)
  assert strategies.SNESState is not None and strategies.SepCMAESState is not None
