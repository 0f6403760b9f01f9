"""``esjax.minimize`` / ``esjax.maximize``: black-box optimization on the compiled step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import esjax
from esjax.errors import ConfigError
from esjax.core.mesh import to_host
from esjax.problems import check_fitness
from esjax.training import optimize
from esjax.strategies import REGISTRY
from esjax.strategies import options as options_lib
from tests.helpers import subproc

TARGET = np.linspace(-1.0, 1.0, 5).astype(np.float32)
FAST = dict(population_size=16, sigma=0.1, learning_rate=0.05, weight_decay=0.0)


def quadratic(x, key):
  del key
  return jnp.sum((x - TARGET) ** 2)


def test_minimize_reaches_the_optimum_of_a_quadratic():
  r = esjax.minimize(quadratic, np.zeros(5, np.float32), generations=150, **FAST)
  assert isinstance(r, esjax.OptimizeResult)
  np.testing.assert_allclose(r.mean, TARGET, atol=0.05)
  assert r.best_fitness < 1e-3
  h = r.history
  assert all(len(v) == 150 for v in h.values())
  assert {"pop_fitness_mean", "pop_fitness_best", "mean_fitness", "best_fitness", "nonfinite",
          "grad_norm", "update_norm"} <= set(h)
  # Reported in f's own sign: the curves fall, the running best never rises.
  assert h["mean_fitness"][-1] < h["mean_fitness"][0] / 100
  assert np.all(np.diff(h["best_fitness"]) <= 0)
  assert r.best_fitness == h["best_fitness"][-1]
  assert r.best_fitness <= min(h["mean_fitness"].min(), h["pop_fitness_best"].min())


def test_maximize_reaches_the_optimum_and_reports_fitness_unnegated():
  r = esjax.maximize(lambda x, k: 5.0 - quadratic(x, k), np.zeros(5, np.float32),
                     generations=150, **FAST)
  np.testing.assert_allclose(r.mean, TARGET, atol=0.05)
  assert 5.0 - 1e-3 < r.best_fitness <= 5.0
  assert np.all(np.diff(r.history["best_fitness"]) >= 0)
  assert r.history["pop_fitness_best"][-1] >= r.history["pop_fitness_mean"][-1]


def test_best_params_achieve_best_fitness_when_the_best_is_a_member():
  # learning_rate 0: the mean never moves, so anything better than x0 is a member, whose
  # params were rebuilt from its key (only its return crossed devices). A Strategy object, as
  # the option checks (TrainConfig's) refuse learning_rate=0 by name.
  x0 = np.full(5, 2.0, np.float32)
  es = esjax.open_es(16, sigma=0.5, learning_rate=0.0, weight_decay=0.0)
  r = esjax.minimize(quadratic, x0, es, generations=3)
  np.testing.assert_array_equal(r.mean, x0)
  assert r.best_fitness < float(quadratic(x0, None))
  assert r.best_fitness == r.history["pop_fitness_best"].min()
  assert not np.allclose(r.best_params, x0)
  np.testing.assert_allclose(float(quadratic(r.best_params, None)), r.best_fitness, rtol=1e-5)


def test_best_params_achieve_best_fitness_when_the_best_is_the_mean():
  r = esjax.minimize(quadratic, np.zeros(5, np.float32), generations=60, **FAST)
  np.testing.assert_allclose(float(quadratic(r.best_params, None)), r.best_fitness, rtol=1e-5)


def test_chunked_calls_equal_one_fused_call(monkeypatch):
  one = esjax.minimize(quadratic, np.zeros(5, np.float32), generations=10, **FAST)
  monkeypatch.setattr(optimize, "MAX_GENERATIONS_PER_CALL", 4)  # calls of 4, 4 and 2
  chunked = esjax.minimize(quadratic, np.zeros(5, np.float32), generations=10, **FAST)
  np.testing.assert_array_equal(chunked.mean, one.mean)
  np.testing.assert_array_equal(chunked.best_params, one.best_params)
  for k, v in one.history.items():
    np.testing.assert_array_equal(chunked.history[k], v, err_msg=k)


def test_a_strategy_object_and_nonfinite_fitness():
  es = esjax.open_es(8, "sgd", learning_rate=0.1, sigma=0.1, weight_decay=0.0)

  def blows_up(x, key):  # NaN for a third of the rollout keys: those members rank last
    return jnp.where(jax.random.uniform(key) < 0.3, jnp.nan, quadratic(x, key))

  r = esjax.minimize(blows_up, np.zeros(5, np.float32), strategy=es, generations=20)
  assert r.history["nonfinite"].sum() > 0
  assert np.all(np.isfinite(r.mean)) and np.isfinite(r.best_fitness)
  assert r.history["mean_fitness"][-1] < r.history["mean_fitness"][0]


def _error(call) -> str:
  with pytest.raises(ConfigError) as e:
    call()
  message = str(e.value)
  assert "\n" not in message
  return message


def test_bad_inputs_are_one_line_config_errors():
  x0 = np.zeros(10, np.float32)
  assert _error(lambda: esjax.minimize(quadratic, x0, "nope")) == (
      f"strategy='nope' is unknown; expected one of: {', '.join(sorted(REGISTRY))}")
  assert _error(lambda: esjax.minimize(quadratic, x0, "open_es", lr=0.1)) == (
      "strategy 'open_es' takes no option 'lr'; its options: "
      + ", ".join(options_lib.options(REGISTRY["open_es"])))
  assert "learning_rate, sigma" in ", ".join(options_lib.options(REGISTRY["open_es"]))
  assert _error(lambda: esjax.minimize(quadratic, x0, optimizer="nope")).startswith(
      "optimizer='nope' is invalid; expected one of: adam")
  assert _error(lambda: esjax.minimize(quadratic, np.zeros((2, 5)))) == (
      "x0 has shape (2, 5) and dtype float64; expected a non-empty 1-D float vector "
      "(e.g. np.zeros(10))")
  assert _error(lambda: esjax.minimize(quadratic, np.arange(5))) == (
      f"x0 has shape (5,) and dtype {np.arange(5).dtype}; expected a non-empty 1-D float "
      "vector (e.g. np.zeros(10))")
  assert _error(lambda: esjax.minimize(lambda x, k: x[:3], x0)) == (
      "fitness returned shape (3,) for params of shape (10,); expected a scalar")
  assert _error(lambda: esjax.minimize(quadratic, x0, population_size=7)) == (
      "population_size=7 is odd but strategy 'open_es' samples mirrored pairs; choose an "
      "even population")
  assert _error(lambda: esjax.minimize(quadratic, x0, generations=0)) == (
      "generations=0 is invalid; expected an int >= 1")
  es = esjax.open_es(8)
  assert _error(lambda: esjax.minimize(quadratic, x0, es, sigma=0.1)) == (
      "options ['sigma'] apply to a strategy named from the registry, not to the Strategy "
      "object 'open_es'")
  assert _error(lambda: esjax.minimize(quadratic, x0, num_devices=64)).startswith(
      "num_devices=64 but only")
  # scipy's f(x): named with the wrapper to write, for a flat x0, a pytree x0 and black_box.
  f_of_x = "f takes (x), but esjax calls f(params, key) (the key makes noisy objectives fair)"
  assert _error(lambda: esjax.minimize(lambda x: jnp.sum(x**2), x0)).startswith(f_of_x)
  assert _error(lambda: esjax.minimize(lambda x: 0.0, {"w": x0})).startswith(f_of_x)
  assert _error(lambda: esjax.black_box(lambda x: 0.0)).startswith("fitness takes (x)")
  assert _error(lambda: esjax.minimize(3, x0)) == (
      "f=3 is not callable; expected f(params, key) -> scalar")
  esjax.black_box(lambda *args: 0.0)  # anything that binds two arguments is taken


# The option checks TrainConfig (and so the CLI) applies, through minimize: (kwargs, message).
BAD_OPTIONS = [
    (dict(sigma=0.0), "sigma=0.0 is invalid; expected a finite number > 0"),
    (dict(sigma=float("nan")), "sigma=nan is invalid; expected a finite number > 0"),
    (dict(sigma=-1.0), "sigma=-1.0 is invalid; expected a finite number > 0"),
    (dict(sigma="0.1"), "sigma='0.1' is invalid; expected a finite number > 0"),
    (dict(learning_rate=-1.0), "learning_rate=-1.0 is invalid; expected a finite number > 0"),
    (dict(weight_decay=-1.0), "weight_decay=-1.0 is invalid; expected a finite number >= 0"),
    (dict(mirrored="no"), "mirrored='no' is invalid; expected true or false"),
    (dict(shaping="foo"), "shaping='foo' is invalid; expected one of: centered_rank, z_score, "
     "identity"),
    (dict(num_devices=0), "num_devices=0 is invalid; expected a positive integer"),
    (dict(num_devices=-1), "num_devices=-1 is invalid; expected a positive integer"),
    (dict(seed=1.5), "seed=1.5 is invalid; expected an integer"),
    (dict(seed="a"), "seed='a' is invalid; expected an integer"),
    ({"x0": {}}, "x0={} is empty; expected a non-empty 1-D float vector or a pytree of float "
     "arrays"),
]


@pytest.mark.parametrize("kwargs,message", BAD_OPTIONS, ids=[repr(k) for k, _ in BAD_OPTIONS])
def test_bad_options_are_the_config_errors_train_config_gives(kwargs, message):
  kwargs = {"x0": np.zeros(5, np.float32), **kwargs}
  assert _error(lambda: esjax.minimize(quadratic, generations=1, **kwargs)) == message


def test_python_float_leaves_of_a_pytree_x0_are_taken():
  def f(p, key):
    del key
    return (p["a"] - 1.0) ** 2 + p["b"] ** 2
  r = esjax.minimize(f, {"a": 1.0, "b": jnp.float32(2.0)}, generations=3, population_size=8)
  assert set(r.mean) == {"a", "b"} and r.mean["a"].dtype == np.float32
  assert r.best_fitness <= 4.0  # x0 itself scores 4


def test_check_fitness_names_what_came_back():
  params = jnp.zeros(4)
  check_fitness(lambda x, k: jnp.sum(x), params)
  check_fitness(lambda x, k: 1.0, params)  # a Python float is a scalar too
  assert _error(lambda: check_fitness(lambda x, k: (x.sum(), x.sum()), params)) == (
      "fitness returned a tuple for params of shape (4,); expected a scalar")
  assert _error(lambda: check_fitness(lambda x, k: x[None], params)) == (
      "fitness returned shape (1, 4) for params of shape (4,); expected a scalar")


_FRESH = """
import json, sys
import numpy as np, jax.numpy as jnp
import esjax.strategies
from esjax.training import optimize
import esjax
r = optimize.minimize(lambda x, k: jnp.sum(x ** 2), np.ones(4, np.float32), generations=3,
                      population_size=8)
try:
  optimize.minimize(lambda x, k: jnp.sum(x ** 2), np.ones(4, np.float32), population_size=6)
  error = None
except esjax.ConfigError as e:
  error = str(e)
try:  # 9 members a device would split a mirrored pair
  optimize.minimize(lambda x, k: jnp.sum(x ** 2), np.ones(4, np.float32), num_devices=2,
                    population_size=18)
  pair = None
except esjax.ConfigError as e:
  pair = str(e)
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"brax", "orbax", "matplotlib"})
print(json.dumps({"heavy": heavy, "lazy": esjax.minimize is optimize.minimize,
                  "fitness": r.best_fitness, "error": error, "pair": pair}))
"""


def test_optimize_pulls_no_brax_orbax_or_matplotlib_and_checks_divisibility():
  out = subproc.run_all(_FRESH, [4], timeout=300)[4]
  assert out["heavy"] == []
  assert out["lazy"]
  assert out["fitness"] < 4.0
  assert out["error"] == ("population_size=6 is not divisible by the 4 devices; use a "
                          "multiple of 4")
  assert out["pair"] == ("population_size=18 over 2 devices splits a mirrored pair; use a "
                         "multiple of 4")


# A 20-d sphere started at distance 9 from its optimum: f(x0) = 81.
SPHERE_X0 = np.full(20, 9.0 / np.sqrt(20), np.float32)


def sphere(x, key):
  del key
  return jnp.sum(x ** 2)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_black_box_defaults_bring_every_strategy_to_1_percent_of_a_sphere(name):
  r = esjax.minimize(sphere, SPHERE_X0, name)  # every default: 100 generations of 64
  start = float(sphere(SPHERE_X0, None))
  print(f"{name}: f {start:.3g} -> mean {float(sphere(r.mean, None)):.3g}, best "
        f"{r.best_fitness:.3g}")
  assert len(r.history["mean_fitness"]) == 100
  assert float(sphere(r.mean, None)) <= 0.01 * start
  assert r.best_fitness <= 0.01 * start


def test_explicit_options_win_over_the_black_box_defaults():
  def sigma(**options):
    p = optimize.prepare(sphere, SPHERE_X0, "open_es", 1, options=options)
    return float(to_host(p.carry).train.es.sigma)
  assert sigma() == pytest.approx(optimize.BLACK_BOX_OPTIONS["open_es"]["sigma"])
  assert sigma(sigma=0.02) == pytest.approx(0.02)
