"""Properties of the compiled ES step (docs/architecture.md): one compile, bounded memory."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import esjax
from esjax import keys, strategies
from esjax.training.train import to_host


def _setup(**kw):
  config = esjax.TrainConfig.of(population_size=16, generations=10, eval_every=3, eval_episodes=2,
                             normalize_obs=False, generations_per_call=4, **kw)
  problem = esjax.black_box(lambda p, k: -jnp.sum(p**2) + 0.01 * jax.random.normal(k))
  return config, problem


def test_no_recompilation_after_the_first_generation():
  config, problem = _setup()
  s = esjax.setup(config, problem, initial_params=jnp.ones(8))
  state = s.state
  for n in (4, 1, 3, 2):  # the fused-generation count is traced: one compile serves all
    state, _, _ = s.run_generations(state, n)
    s.evaluate(state)
  assert s.run_generations._cache_size() == 1
  assert s.evaluate._cache_size() == 1
  assert int(to_host(state).generation) == 10


def test_more_generations_than_the_step_holds_are_refused():
  # Rows past generations_per_call would be dropped inside the compiled call without a word.
  config, problem = _setup()
  s = esjax.setup(config, problem, initial_params=jnp.ones(8))
  with pytest.raises(ValueError, match="n must be 0..4"):
    s.run_generations(s.state, 5)
  state, buf, ran = s.run_generations(s.state, 4)
  assert int(ran) == 4 and buf.gen_env_steps.shape[0] == 4
  assert int(to_host(state).generation) == 4


def test_fused_generations_equal_one_at_a_time():
  config, problem = _setup()
  fused = esjax.train(config, problem=problem, initial_params=jnp.ones(8), progress=False)
  single = esjax.train(config.replace(generations_per_call=1),
                       problem=problem, initial_params=jnp.ones(8), progress=False)
  np.testing.assert_array_equal(fused.flat_params, single.flat_params)
  assert [m["generation"] for m in fused.metrics] == list(range(1, 11))
  assert [m["pop_return_mean"] for m in fused.metrics] == \
      [m["pop_return_mean"] for m in single.metrics]
  # Evaluation lands on generations 3, 6, 9 and the last one, whatever the fusion.
  assert [m["generation"] for m in fused.metrics if "eval_return" in m] == [3, 6, 9, 10]


def test_update_memory_does_not_grow_with_population():
  num_params = 20_000

  def temp_bytes(pop):
    es = esjax.open_es(pop, optax.adam(0.01), sigma=0.1)
    state = es.init(jnp.zeros(num_params))
    gen_key = keys.generation_key(jax.random.PRNGKey(0), 0)
    tell = jax.jit(lambda s, k, r: strategies.tell(es, s, k, r, noise_chunk=32))
    compiled = tell.lower(state, gen_key, jnp.zeros(pop)).compile()
    return compiled.memory_analysis().temp_size_in_bytes

  small, large = temp_bytes(256), temp_bytes(8192)
  # 8192 x 20000 noise floats would be 655 MB; chunks keep it to a few chunk-sized buffers.
  assert large < 2 * small + 8192 * 64, (small, large)
  assert large < 8192 * num_params * 4 / 50  # a fiftieth of the dense noise matrix


def test_seeds_are_independent_runs_of_the_same_step():
  config, problem = _setup(num_seeds=3, seed=5)
  multi = esjax.train(config, problem=problem, initial_params=jnp.ones(8), progress=False)
  for s in range(3):
    one = esjax.train(config.replace(num_seeds=1, seed=5 + s),
                      problem=problem, initial_params=jnp.ones(8), progress=False)
    np.testing.assert_array_equal(multi.flat_params[s], one.flat_params)
  rec = multi.metrics[-1]
  assert len(rec["pop_return_mean_per_seed"]) == 3
  assert rec["pop_return_mean"] == pytest.approx(np.mean(rec["pop_return_mean_per_seed"]))


def test_a_non_scalar_fitness_is_one_config_error_before_compiling():
  config = esjax.TrainConfig.of(population_size=8, generations=1, eval_every=0,
                                normalize_obs=False)
  vector = esjax.black_box(lambda p, k: p * 2.0)
  with pytest.raises(esjax.ConfigError) as e:
    esjax.train(config, problem=vector, initial_params=jnp.zeros(3), progress=False)
  assert str(e.value) == "fitness returned shape (3,) for params of shape (3,); expected a scalar"
