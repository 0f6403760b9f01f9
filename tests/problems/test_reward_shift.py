"""ARS's reward shift: subtracted per env step in training rollouts, never in evaluation."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import esjax
from esjax import keys
from esjax.problems.brax import brax_problem
from esjax.envs.brax import make_env
from esjax.strategies import base as strategy_lib

POP, LENGTH = 4, 20


def _config(**kw):
  return esjax.TrainConfig.of(strategy="ars", population_size=POP, episode_length=LENGTH,
                              hidden_sizes=(8, 8), generations=1, eval_episodes=2, **kw)


def test_custom_problem_with_a_reward_shift_is_refused():
  problem = esjax.black_box(lambda p, k: -jnp.sum(p**2))
  with pytest.raises(esjax.ConfigError, match="reward_shift=1.0 applies to the Brax rollout"):
    esjax.setup(_config(reward_shift=1.0, normalize_obs=False), problem, jnp.zeros(4))


@pytest.mark.slow
def test_training_returns_are_shifted_per_live_step_and_evaluation_is_not():
  config = _config(reward_shift=1.0)
  s = esjax.setup(config)
  config = s.config  # the backend resolved for the env
  env = make_env(config.problem.env, config.problem.backend)
  true = brax_problem(env, s.policy, LENGTH, config.problem.normalize_obs, config.problem.obs_clip)
  state = jax.tree.map(np.asarray, s.state)

  # The generation's members and rollout keys, as make_generation builds them.
  strategy = config.strategy.build()
  gen_key = keys.generation_key(state.key, state.generation)
  members = jnp.arange(POP)
  params = strategy_lib.ask(strategy, state.es, gen_key, members)
  rollout_keys = jax.vmap(lambda m: keys.rollout_key(gen_key, keys.noise_index(m, True)))(members)
  rollouts = lambda problem: jax.jit(jax.vmap(problem.evaluate, in_axes=(0, None, 0)))(
      params, state.normalizer, rollout_keys)
  unshifted, shifted = rollouts(true), rollouts(s.problem)
  assert np.all(np.asarray(unshifted.steps) > 0)
  np.testing.assert_array_equal(shifted.steps, unshifted.steps)
  np.testing.assert_allclose(shifted.ret, unshifted.ret - unshifted.steps, rtol=1e-5, atol=1e-4)

  # The compiled generation trains on the shifted returns...
  _, buf, ran = s.run_generations(s.state, 1)
  assert int(ran) == 1
  expected = np.mean(np.asarray(unshifted.ret) - np.asarray(unshifted.steps))
  assert float(buf.pop_return_mean[0]) == pytest.approx(expected, rel=1e-5, abs=1e-4)
  assert float(buf.episode_length_mean[0]) == pytest.approx(np.mean(unshifted.steps))

  # ...and evaluation measures the true reward.
  eval_keys = jax.random.split(keys.eval_key(state.key, state.generation), config.runtime.eval_episodes)
  ev = jax.jit(jax.vmap(true.evaluate, in_axes=(None, None, 0)))(state.es.mean, state.normalizer,
                                                                  eval_keys)
  mean, _ = s.evaluate(s.state)
  assert float(mean) == pytest.approx(float(np.mean(ev.ret)), rel=1e-5, abs=1e-4)
  assert float(np.mean(ev.ret)) > float(np.mean(ev.ret - ev.steps)) + 1  # the shift would show
