"""A real Brax env end to end (hopper, spring backend): ES improves the return."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import esjax

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hopper_result():
  config = esjax.TrainConfig.of(env="hopper", backend="spring", population_size=64,
                             episode_length=150, generations=12, eval_every=6, eval_episodes=4,
                             hidden_sizes=(16, 16), generations_per_call=6, seed=1)
  return esjax.train(config, progress=False)


def test_a_few_generations_improve_the_return(hopper_result):
  means = [m["pop_return_mean"] for m in hopper_result.metrics]
  assert len(means) == 12
  assert np.mean(means[-3:]) > np.mean(means[:3]) + 20, means
  evals = [m["eval_return"] for m in hopper_result.metrics if "eval_return" in m]
  assert len(evals) == 2 and all(np.isfinite(evals))


def test_env_steps_count_live_steps_only(hopper_result):
  for m in hopper_result.metrics:
    # Episodes that fall early must not be charged the full episode length.
    assert 0 < m["gen_env_steps"] <= 64 * 150
    assert m["episode_length_mean"] * 64 == pytest.approx(m["gen_env_steps"], rel=1e-5)
  steps = [m["env_steps"] for m in hopper_result.metrics]
  assert steps == sorted(steps) and steps[-1] == sum(m["gen_env_steps"]
                                                     for m in hopper_result.metrics)


def test_policy_acts_in_range_and_normalizer_learned(hopper_result):
  obs = jnp.asarray(np.random.default_rng(0).normal(size=(5, 11)) * 10, jnp.float32)
  act = hopper_result.act(obs)
  assert act.shape == (5, 3)
  assert float(jnp.abs(act).max()) <= 1.0
  assert float(hopper_result.normalizer.count) > 0
  assert np.all(np.isfinite(hopper_result.flat_params))
  # The returned pytree is the flax params of the MLP.
  kernels = [x.shape for x in jax.tree.leaves(hopper_result.params)]
  assert (11, 16) in kernels and (16, 3) in kernels
