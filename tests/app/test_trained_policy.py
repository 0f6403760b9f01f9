"""The trained policy a run returns, and ``esjax.load`` reads back, gives the env's actions."""
import jax
import numpy as np

import esjax
from esjax.rundir import files


def test_the_policy_acts_in_the_envs_bounds_after_train_and_after_load(tmp_path):
  # gymnax's Pendulum takes a torque in [-2, 2]; the policy's tanh gives [-1, 1].
  cfg = esjax.TrainConfig.of(env="gymnax:Pendulum-v1", population_size=8, generations=1,
                             episode_length=10, eval_every=0, hidden_sizes=(8,))
  out = str(tmp_path / "run")
  result = esjax.train(cfg, out_dir=out, progress=False, tensorboard=False)
  saved = esjax.load(out)
  obs = jax.random.normal(jax.random.PRNGKey(0), (5, 3))
  raw = files.make_act(saved.policy, saved.flat_params, saved.normalizer, saved.config)(obs)
  actions = saved.act(obs)
  assert actions.shape == (5, 1) and saved.act(obs[0]).shape == (1,)
  np.testing.assert_array_equal(actions, result.act(obs))
  assert result.policy is result.act  # the earlier name
  np.testing.assert_allclose(actions, 2.0 * raw, rtol=1e-6, atol=1e-6)
  assert np.abs(raw).max() > 0  # a policy that outputs zeros would pass anything
