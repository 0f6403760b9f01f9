"""One conformance suite for every strategy in ``esjax.strategies.REGISTRY``.

Each registered strategy must (a) give the same update from keys as from the dense noise
matrix, (b) compile once for any number of fused generations, (c) give the same result on 1,
2 and 4 devices, (d) move a parameter-count-independent number of bytes per generation,
(e) survive NaN/inf returns, ranking them last, (f) not move on returns without information,
(g) give tied returns one utility, and (h) converge on a sphere and a rotated ellipsoid.

A new strategy adds one line to ``CASES``; a registered strategy without one fails
``test_every_registered_strategy_has_a_case`` (and every other test names the missing line).
"""
from __future__ import annotations

import functools
import inspect
import json
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from esjax import keys
from esjax.core.mesh import to_host
from esjax.perturbations import gaussian
from esjax.training import optimize
from esjax.strategies import REGISTRY, base
from tests.helpers import subproc
from tests.helpers.subproc import FAST_COMPILE


class Case(NamedTuple):
  """A strategy's test settings. ``options`` are its factory's keyword arguments (JSON
  values) for every test; ``population`` is for (a)-(g). ``sphere``/``ellipsoid`` are
  ``(population, generations, threshold)``: ``minimize`` must bring f at the final mean, and
  the best value found, to ``threshold`` or below (f(x0) is about 4 and 130). ``no_signal``
  overrides options for (f) only. ``nonfinite_as`` is what a NaN/inf return must count as in
  (e): "below" every finite return (rank shaping), or the "lowest" finite one (raw-return
  shaping that substitutes it)."""
  options: dict = {}
  population: int = 16
  sphere: tuple = (32, 200, 1e-2)
  ellipsoid: tuple = (32, 400, 0.1)
  no_signal: dict = {}
  nonfinite_as: str = "below"


CASES = {
    # weight_decay 0: the L2 pull moves theta whatever the returns, which (f) forbids, and it
    # biases the optimum of (h) towards 0.
    "open_es": Case(options=dict(sigma=0.1, learning_rate=0.05, weight_decay=0.0),
                    sphere=(32, 150, 1e-2), ellipsoid=(32, 400, 0.1)),
    # ARS weighs raw returns: a NaN/inf counts as the lowest finite return, not below it.
    "ars": Case(options=dict(sigma=0.05, learning_rate=0.05, top_directions=4),
                nonfinite_as="lowest",
                sphere=(32, 300, 0.03), ellipsoid=(32, 600, 0.4)),
    # ARS and PGPE/ClipUp take fixed-size steps (ARS's is normalized by the returns' std,
    # ClipUp's by the gradient norm), so they settle at a noise floor set by the step size;
    # their thresholds are ~1/100 of f(x0) on the ellipsoid, measured: ARS 0.13, PGPE 0.34.
    "pgpe": Case(options=dict(sigma=0.1, learning_rate=0.05, max_speed=0.1),
                 sphere=(32, 300, 1e-2), ellipsoid=(32, 600, 0.4)),
    "snes": Case(options=dict(sigma=0.5), sphere=(32, 150, 1e-2), ellipsoid=(32, 400, 0.1)),
    "sep_cma_es": Case(options=dict(sigma=0.5), sphere=(32, 150, 1e-2),
                       ellipsoid=(32, 400, 0.1)),
}

NAMES = sorted(REGISTRY)
P = 10  # parameters of the unit tests: tiny, every code path still runs


def _case(name: str) -> Case:
  if name not in CASES:
    pytest.fail(f"strategy {name!r} is registered but has no CASES entry in "
                "tests/strategies/test_conformance.py: add one line with its test settings")
  return CASES[name]


def test_every_registered_strategy_has_a_case():
  missing = [n for n in NAMES if n not in CASES]
  assert not missing, (f"registered strategies without a CASES entry in "
                       f"tests/strategies/test_conformance.py: {missing}")


def _takes(name: str, option: str) -> bool:
  return option in inspect.signature(REGISTRY[name]).parameters


@functools.lru_cache(maxsize=None)
def _built(name: str, population: int, options: tuple):
  """The strategy and ``tells(state, gen_key, returns, perm, signs) -> (keys_tell,
  dense_tell)``: the keys-only update and the dense one from the noise matrix with its
  directions reordered by ``perm`` and multiplied by ``signs`` (the identity by default). One
  compile per settings serves (a), (e), (f) and (g); each ignores the half it does not need."""
  es = REGISTRY[name](population, **dict(options))
  n = base.num_directions(es)

  @jax.jit
  def both(state, gen_key, returns, perm, signs):
    eps = _dense_noise(n, gen_key)[perm] * signs[:, None]
    return base.tell(es, state, gen_key, returns), base.dense_tell(es, state, eps, returns)

  def tells(state, gen_key, returns, perm=None, signs=None):
    perm = np.arange(n) if perm is None else perm
    signs = np.ones(n, np.float32) if signs is None else np.asarray(signs, np.float32)
    return both(state, gen_key, jnp.asarray(returns, jnp.float32), perm, signs)

  return es, tells


def _make(name: str, mirrored: bool | None = None, **extra):
  """The case's strategy (optionally with ``mirrored`` forced: skips if it cannot be)."""
  case = _case(name)
  options = {**case.options, **extra}
  if _takes(name, "mirrored"):  # always explicit, so that equal settings share one compile
    default = inspect.signature(REGISTRY[name]).parameters["mirrored"].default
    options["mirrored"] = options.get("mirrored", default) if mirrored is None else mirrored
  es, tells = _built(name, case.population, tuple(sorted(options.items())))
  if mirrored is not None and es.mirrored != mirrored:
    pytest.skip(f"{name} does not take mirrored={mirrored}")
  return es, tells


def _dense_noise(n, gen_key):
  """The (n, P) noise matrix of n directions, drawn from the keys the step draws from."""
  return jax.vmap(lambda i: gaussian.sample(keys.noise_key(gen_key, i), P))(jnp.arange(n))


def _x0(seed=0):
  return jnp.asarray(np.random.default_rng(seed).normal(size=P), jnp.float32)


def _gen_key(g):
  return keys.generation_key(jax.random.PRNGKey(7), g)


def _assert_states_close(a, b, rtol=1e-5, atol=1e-6):
  for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol,
                               err_msg=jax.tree_util.keystr(path))


# (a) ------------------------------------------------------------------------------------

@pytest.mark.parametrize("mirrored", [True, False], ids=["mirrored", "unmirrored"])
@pytest.mark.parametrize("name", NAMES)
def test_keys_tell_equals_dense_tell(name, mirrored):
  es, tells = _make(name, mirrored)
  state = es.init(_x0())
  rng = np.random.default_rng(1)
  for g in range(3):  # several tells: optimizer moments, paths and sigma are live too
    gen_key = _gen_key(g)
    returns = jnp.asarray(rng.normal(size=es.population_size), jnp.float32)
    (from_keys, info_k), (from_dense, info_d) = tells(state, gen_key, returns)
    # Chunked sums under scan vs one matmul: the same terms added in another order.
    _assert_states_close(from_keys, from_dense)
    _assert_states_close(info_k, info_d, rtol=1e-4)
    assert not np.allclose(from_keys.mean, state.mean)  # the update did something
    state = from_keys


# (b) ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_one_compilation_for_any_number_of_fused_generations(name):
  case = _case(name)
  target = jnp.linspace(-1.0, 1.0, P)
  p = optimize.prepare(lambda x, k: jnp.sum((x - target) ** 2), np.zeros(P), name,
                       generations=7, population_size=case.population, sign=-1.0,
                       options=case.options)
  carry = p.carry
  for n in (1, 3, 7):
    carry, _ = p.run(carry, n)
  assert p.run._cache_size() == 1
  assert int(to_host(carry).train.generation) == 11


# (e) ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_nonfinite_returns_rank_last_and_never_reach_the_state(name):
  es, tells = _make(name)
  state = es.init(_x0())
  rng = np.random.default_rng(2)
  n = es.population_size
  for g in range(4):
    returns = rng.normal(size=n).astype(np.float32)
    bad = rng.random(n) < 0.35
    bad[:2] = False  # at least two finite returns: the generation carries information
    returns[bad] = rng.choice(np.array([np.nan, np.inf, -np.inf], np.float32), bad.sum())
    finite = returns[~bad]
    stand_in = finite.min() - 1.0 if _case(name).nonfinite_as == "below" else finite.min()
    clean = np.where(bad, stand_in, returns).astype(np.float32)
    new, info = tells(state, _gen_key(g), returns)[0]
    for path, leaf in jax.tree_util.tree_leaves_with_path((new, info)):
      assert np.all(np.isfinite(np.asarray(leaf))), jax.tree_util.keystr(path)
    expected, _ = tells(state, _gen_key(g), clean)[0]
    _assert_states_close(new, expected, rtol=1e-6, atol=1e-7)
    state = new


# (f) ------------------------------------------------------------------------------------

SILENT = {"all_nan": [np.nan], "all_plus_inf": [np.inf], "mixed_nonfinite": [np.nan, np.inf, -np.inf],
          "all_equal": [3.0]}


@pytest.mark.parametrize("returns", list(SILENT.values()), ids=list(SILENT))
@pytest.mark.parametrize("name", NAMES)
def test_returns_without_information_leave_the_mean_unchanged(name, returns):
  # From init: an optimizer's momentum from earlier generations may still (rightly) coast.
  es, tells = _make(name, **_case(name).no_signal)
  state = es.init(_x0())
  silent = jnp.asarray(np.resize(np.array(returns, np.float32), es.population_size))
  new, info = tells(state, _gen_key(0), silent)[0]
  np.testing.assert_array_equal(new.mean, state.mean)
  for path, leaf in jax.tree_util.tree_leaves_with_path((new, info)):
    assert np.all(np.isfinite(np.asarray(leaf))), jax.tree_util.keystr(path)


# (g) ------------------------------------------------------------------------------------

@pytest.mark.parametrize("mirrored", [True, False], ids=["mirrored", "unmirrored"])
@pytest.mark.parametrize("name", NAMES)
def test_tied_returns_share_one_utility(name, mirrored):
  """Relabelling the population (which direction holds which index, and which member of a
  mirrored pair is "+") is a symmetry of ES: with ties, index tie-breaking would break it."""
  es, tells = _make(name, mirrored)
  n = es.population_size
  rng = np.random.default_rng(3)
  returns = rng.permutation(n).astype(np.float32)
  # Ties that span directions: members 1, 2, 5 (pairs 0, 1, 2 when mirrored), and 8, 12.
  returns[[1, 2, 5]] = returns[1]
  returns[[8, 12]] = returns[8]
  state = es.init(_x0())
  gen_key = _gen_key(0)
  (expected, _), _ = tells(state, gen_key, returns)
  for trial in range(3):
    # New direction k is old direction perm[k]; when mirrored, flipping a pair swaps its
    # members, which is the same as negating its noise.
    perm = rng.permutation(base.num_directions(es))
    if es.mirrored:
      flip = (rng.random(len(perm)) < 0.5).astype(int)
      members = np.stack([2 * perm + flip, 2 * perm + 1 - flip], 1).reshape(-1)
      signs = 1.0 - 2.0 * flip
    else:
      members, signs = perm, None
    _, (relabelled, _) = tells(state, gen_key, returns[members], perm, signs)
    _assert_states_close(relabelled, expected)


# (h) ------------------------------------------------------------------------------------

_TARGET = np.linspace(-1.0, 1.0, P).astype(np.float32)
_ROTATION = np.linalg.qr(np.random.default_rng(0).normal(size=(P, P)))[0].astype(np.float32)
_SCALES = (100.0 ** (np.arange(P) / (P - 1))).astype(np.float32)  # condition number 100


def sphere(x, key):
  del key
  return jnp.sum((x - _TARGET) ** 2)


def rotated_ellipsoid(x, key):
  del key
  return jnp.sum(_SCALES * (_ROTATION @ (x - _TARGET)) ** 2)


@pytest.mark.parametrize("problem", ["sphere", "ellipsoid"])
@pytest.mark.parametrize("name", NAMES)
def test_converges(name, problem):
  case = _case(name)
  f = sphere if problem == "sphere" else rotated_ellipsoid
  population, generations, threshold = getattr(case, problem)
  r = optimize.minimize(f, np.zeros(P, np.float32), name, generations=generations,
                        population_size=population, seed=0, **case.options)
  final = float(f(r.mean, None))
  print(f"{name} {problem}: f(x0)={float(f(jnp.zeros(P), None)):.3g} -> f(mean)={final:.3g}, "
        f"best {r.best_fitness:.3g} in {generations} generations of {population}")
  assert final <= threshold
  assert r.best_fitness <= threshold


# (c) and (d): one subprocess per device count runs every registered strategy ---------------
# They start with the module (when a test here needs them) and run while the tests above do.

_DEVICES = """
import json, jax, jax.numpy as jnp, numpy as np
from esjax.core import step as step_lib
from esjax.core import hlo
from esjax.core.mesh import make_mesh, replicate
from esjax.problems import black_box
from esjax.training import optimize
from esjax.strategies import REGISTRY
OPTIONS = json.loads({options!r})
target = jnp.linspace(-1.0, 1.0, 10)
def f(x, k):  # noisy: the rollout keys (shared by mirrored partners) take part too
  return jnp.sum((x - target) ** 2) + 0.01 * jax.random.normal(k)
def g(x, k):  # any dimension, for the traffic of P = 10 and P = 10_000
  return jnp.sum(x ** 2) + 0.01 * jax.random.normal(k)
def traffic(run, state):
  return hlo.collective_bytes(run.lower(state, 1).compile().as_text())
out = {{"devices": jax.device_count(), "runs": {{}}, "bytes": {{}}, "powers": {{}}}}
for name in sorted(REGISTRY):
  opts = OPTIONS.get(name, {{}})
  r = optimize.minimize(f, np.zeros(10), name, generations=4, seed=1, population_size=16,
                        **opts)
  out["runs"][name] = {{"mean": r.mean.tolist(), "best_params": r.best_params.tolist(),
                       "best_fitness": r.best_fitness,
                       "history": {{k: v.tolist() for k, v in r.history.items()}}}}
  if jax.device_count() != 4:
    continue
  mesh = make_mesh()
  es = REGISTRY[name](16, **opts)
  out["powers"][name] = len(es.powers)
  for comm, dims in (("returns", (10, 10000)), ("gradient", (10000,))):
    for dim in dims:
      gen = step_lib.make_generation(black_box(g), es, 4, False, comm)
      run = step_lib.make_multi_step(step_lib.shard_generation(gen, mesh), 1)
      state = replicate(step_lib.init_state(es, jnp.zeros(dim), 0, 0), mesh)
      out["bytes"][f"{{name}}/{{comm}}/{{dim}}"] = traffic(run, state)
  # minimize's own step: tracking the best member and the mean must add no traffic.
  p = optimize.prepare(g, np.zeros(10000), name, 1, population_size=16, options=opts)
  out["bytes"][f"{{name}}/optimize/10000"] = traffic(p.run, p.carry)
print(json.dumps(out))
"""
_COUNTS = (1, 2, 4)
_PROCS: dict = {}


def _start_device_runs():
  if not _PROCS:
    code = _DEVICES.format(options=json.dumps({n: c.options for n, c in CASES.items()}))
    _PROCS.update({n: subproc.start(code, n, FAST_COMPILE) for n in _COUNTS})


@pytest.fixture(scope="module", autouse=True)
def _device_runs_in_background(request):
  if any("device_runs" in getattr(item, "fixturenames", ()) for item in request.session.items):
    _start_device_runs()
  yield
  for proc in _PROCS.values():  # only ours, and only if a failure left them running
    if proc.poll() is None:
      proc.kill()
  _PROCS.clear()


@pytest.fixture(scope="module")
def device_runs():
  _start_device_runs()
  return {n: subproc.result(p, timeout=600) for n, p in _PROCS.items()}


@pytest.mark.parametrize("name", NAMES)
def test_same_result_on_1_2_and_4_devices(name, device_runs):
  _case(name)
  ref = device_runs[1]["runs"][name]
  assert np.abs(ref["mean"]).max() > 0.01  # it moved
  for n in _COUNTS[1:]:
    assert device_runs[n]["devices"] == n
    run = device_runs[n]["runs"][name]
    # Bitwise: every device rebuilds the same noise from the same keys and applies the
    # same replicated update to the same all-gathered returns.
    np.testing.assert_array_equal(run["mean"], ref["mean"])
    np.testing.assert_array_equal(run["best_params"], ref["best_params"])
    assert run["best_fitness"] == ref["best_fitness"]
    for k, v in ref["history"].items():
      np.testing.assert_array_equal(run["history"][k], v, err_msg=k)


@pytest.mark.parametrize("name", NAMES)
def test_returns_traffic_is_independent_of_the_parameter_count(name, device_runs):
  _case(name)
  b = {k.split("/", 1)[1]: v for k, v in device_runs[4]["bytes"].items()
       if k.startswith(name + "/")}
  print(name, "collective bytes per generation (4 devices, pop 16):", b)
  assert b["returns/10"] == b["returns/10000"]
  assert b["returns/10"] <= 8 * 16  # O(population): returns (and step counts), f32 each
  assert b["optimize/10000"] == b["returns/10"]
  # The control: gradient mode adds parameter-sized partial sums, one per power of eps and per
  # butterfly round (log2(4) = 2 on one host of 4 devices), core/comm.py's count.
  from esjax.core import comm
  powers = device_runs[4]["powers"][name]
  exchange = sum(comm.axis_bytes("gradient", (1, 4), 10000, powers))
  assert exchange == 2 * 4 * 10000 * powers
  assert b["gradient/10000"] == b["returns/10000"] + exchange
