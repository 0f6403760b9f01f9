"""The trained policy a run returns, and ``esjax.load`` reads back, takes the env's observations
and gives the env's actions."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import esjax
from esjax.envs import spaces
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
  # A Python list (or tuple) is one observation, or a batch, as its array would be.
  as_list = np.asarray(obs).tolist()
  np.testing.assert_array_equal(saved.act(as_list), actions)
  np.testing.assert_array_equal(saved.act(tuple(as_list[0])), actions[0])


class _DictObs:
  """The point mass of tests/envs/test_own_env.py, its observation a dict: ``state`` (what
  the policy reads by default) beside an entry it does not read, or, with ``keyed=False``,
  two entries of other ranks, all read."""
  action_space = spaces.Box((2,), -1.0, 1.0)
  episode_length = 5

  def __init__(self, keyed: bool):
    self.keyed = keyed
    self.observation_space = spaces.Dict(
        {"state": spaces.Box((4,)), "extra": spaces.Box((3,))} if keyed else
        {"pos": spaces.Box((2,)), "grid": spaces.Box((2, 3))})

  def _obs(self, pos, vel):
    if self.keyed:
      return {"state": jnp.concatenate([pos, vel]), "extra": jnp.ones(3)}
    return {"pos": pos, "grid": jnp.outer(vel, jnp.arange(3.0))}

  def reset(self, key):
    pos = jax.random.uniform(key, (2,), minval=-1.0, maxval=1.0)
    return (pos, jnp.zeros(2)), self._obs(pos, jnp.zeros(2))

  def step(self, state, action, key):
    pos, vel = state
    vel = 0.9 * vel + 0.2 * action
    pos = pos + 0.2 * vel
    return (pos, vel), self._obs(pos, vel), -jnp.linalg.norm(pos), jnp.zeros((), bool)


@pytest.mark.parametrize("keyed", [True, False])
def test_a_dict_observation_env_s_policy_takes_the_env_s_dict(keyed, tmp_path):
  env = _DictObs(keyed)
  cfg = esjax.TrainConfig.of(population_size=8, generations=1, eval_every=0, hidden_sizes=(8,))
  out = str(tmp_path / "run")
  result = esjax.train(cfg, env=env, out_dir=out, progress=False, tensorboard=False)
  saved = esjax.load(out, env=env)
  _, one = env.reset(jax.random.PRNGKey(1))
  batch = jax.vmap(lambda k: env.reset(k)[1])(jax.random.split(jax.random.PRNGKey(2), 6))
  grid = jax.tree.map(lambda x: x.reshape((1, 6) + x.shape[1:]), batch)  # two leading axes
  if keyed:  # the array the run read, as before
    array_one, array_batch = one["state"], batch["state"]
  else:  # the entries flattened and joined in name order: grid, then pos
    array_one = jnp.concatenate([one["grid"].reshape(-1), one["pos"]])
    array_batch = jnp.concatenate([batch["grid"].reshape(6, -1), batch["pos"]], axis=-1)
  for act in (result.act, saved.act):
    np.testing.assert_array_equal(act(one), act(array_one))
    np.testing.assert_array_equal(act(batch), act(array_batch))
    assert act(batch).shape == (6, 2) and act(one).shape == (2,)
    np.testing.assert_array_equal(act(grid).reshape(6, 2), act(batch))
  np.testing.assert_array_equal(saved.act(batch), result.act(batch))
  assert np.abs(saved.act(array_batch)).max() > 0
  with pytest.raises(esjax.ConfigError, match=r"^env 'custom:_DictObs' given to load .* has "
                     r"observations of shape \((8|4),\) .*pass the env the run trained on$"):
    esjax.load(out, env=_DictObs(not keyed))
