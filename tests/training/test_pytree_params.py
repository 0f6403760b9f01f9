"""Params as a pytree (issue 12, part 1, at the API): ``esjax.minimize`` and ``esjax.train``
take a flax params dict as ``x0``/``initial_params`` and hand the fitness the same structure;
ES perturbs its flat vector, so the result equals the flat-vector run's."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import esjax

X = jnp.linspace(-1, 1, 32)[:, None]
Y = jnp.sin(3 * X)


class MLP(nn.Module):
  @nn.compact
  def __call__(self, x):
    return nn.Dense(1)(nn.tanh(nn.Dense(8)(x)))


def _mlp():
  params = MLP().init(jax.random.PRNGKey(0), X)
  flat, unravel = ravel_pytree(params)
  loss_tree = lambda p, k: jnp.mean((MLP().apply(p, X) - Y) ** 2)
  loss_flat = lambda p, k: loss_tree(unravel(p), k)
  return params, flat, unravel, loss_tree, loss_flat


def test_minimize_on_an_mlp_pytree_equals_the_flat_vector_run():
  params, flat, unravel, loss_tree, loss_flat = _mlp()
  kw = dict(generations=30, population_size=32, sigma=0.05, learning_rate=0.05)
  tree = esjax.minimize(loss_tree, params, **kw)
  vec = esjax.minimize(loss_flat, flat, **kw)
  assert jax.tree.structure(tree.best_params) == jax.tree.structure(params)
  np.testing.assert_array_equal(ravel_pytree(tree.mean)[0], vec.mean)
  assert tree.best_fitness == vec.best_fitness < float(loss_tree(params, None))


def test_train_with_pytree_initial_params_returns_the_same_tree():
  params, flat, _, loss_tree, loss_flat = _mlp()
  config = esjax.TrainConfig.of(population_size=16, generations=5, eval_every=5,
                                eval_episodes=1, normalize_obs=False)
  tree = esjax.train(config, problem=esjax.black_box(lambda p, k: -loss_tree(p, k)),
                     initial_params=params, progress=False)
  vec = esjax.train(config, problem=esjax.black_box(lambda p, k: -loss_flat(p, k)),
                    initial_params=flat, progress=False)
  np.testing.assert_array_equal(tree.flat_params, vec.flat_params)
  assert jax.tree.structure(tree.params) == jax.tree.structure(params)
  np.testing.assert_array_equal(ravel_pytree(tree.params)[0], vec.flat_params)


def test_a_pytree_with_an_int_leaf_is_one_config_error():
  with pytest.raises(esjax.ConfigError, match="x0 has a leaf of dtype int32; expected float"):
    esjax.minimize(lambda p, k: jnp.sum(p["a"]), {"a": np.zeros(3, np.int32)})


class Tiny(nn.Module):
  """A user's own policy: 4 CartPole observations -> an action index."""

  @nn.compact
  def __call__(self, obs):
    return jnp.argmax(nn.Dense(2)(nn.relu(nn.Dense(6)(obs))), axis=-1).astype(jnp.int32)


def test_a_users_flax_module_trains_saves_and_loads(tmp_path):
  pytest.importorskip("gymnax")
  config = esjax.TrainConfig.of(env="gymnax:CartPole-v1", population_size=16, generations=3,
                                eval_every=3, eval_episodes=2, episode_length=50)
  out = str(tmp_path / "run")
  result = esjax.train(config, out_dir=out, policy_module=Tiny(), progress=False)
  assert result.config.policy.kind == "custom"
  shapes = jax.tree.map(jnp.shape, result.params)
  # flax names submodules in construction order: the outer Dense(2) is built first.
  assert shapes == {"params": {"Dense_0": {"bias": (2,), "kernel": (6, 2)},
                               "Dense_1": {"bias": (6,), "kernel": (4, 6)}}}
  saved = esjax.load(out, module=Tiny())
  np.testing.assert_array_equal(saved.flat_params, result.flat_params)
  assert int(saved.act(jnp.zeros(4))) in (0, 1)
  with pytest.raises(esjax.ConfigError, match="policy 'custom' is a user's flax module"):
    esjax.load(out)
  # eval and render of such a run take the module as load does.
  returns = esjax.evaluate_run(out, episodes=2, seed=0, module=Tiny())
  np.testing.assert_array_equal(returns, saved.evaluate(2, 0))
