import jax
import jax.numpy as jnp
import numpy as np
import pytest

from esjax.policies import make_policy


@pytest.mark.parametrize("kind", ["mlp", "linear"])
def test_actions_in_range_for_any_params(kind):
  policy, flat = make_policy(kind, 7, 3, (16, 16))
  wild = flat + 50.0 * jax.random.normal(jax.random.PRNGKey(0), flat.shape)
  act = policy.apply(wild, 100.0 * jnp.ones(7))
  assert act.shape == (3,) and float(jnp.abs(act).max()) <= 1.0


def test_mlp_shape_and_activation():
  policy, flat = make_policy("mlp", 5, 2, (8, 4), "relu")
  assert policy.num_params == (5 * 8 + 8) + (8 * 4 + 4) + (4 * 2 + 2)
  assert policy.module.activation == "relu"
  np.testing.assert_array_equal(policy.unravel(flat)["params"]["Dense_0"]["bias"], np.zeros(8))


def test_linear_starts_at_zero_action():
  policy, flat = make_policy("linear", 4, 2)
  assert policy.num_params == 4 * 2 + 2
  np.testing.assert_array_equal(policy.apply(flat, jnp.ones(4)), np.zeros(2))


@pytest.mark.parametrize("vbn", [False, True])
def test_a_bound_member_gives_the_actions_of_the_flat_vector_bit_for_bit(vbn):
  policy, flat = make_policy("mlp", 5, 2, (8, 8), vbn=vbn)
  members = flat + 0.3 * jax.random.normal(jax.random.PRNGKey(1), (6,) + flat.shape)
  obs = jax.random.normal(jax.random.PRNGKey(2), (6, 5))
  ref = jax.random.normal(jax.random.PRNGKey(3), (16, 5))
  stats = jax.vmap(lambda p: policy.reference_stats(p, ref))(members)
  flat_way = jax.jit(jax.vmap(policy.apply))(members, obs, stats)
  bound = jax.jit(jax.vmap(policy.bind))(members, stats)
  bound_way = jax.jit(jax.vmap(policy.apply_bound))(bound, obs)
  assert np.array_equal(np.asarray(flat_way), np.asarray(bound_way))
  assert not isinstance(bound, jax.Array)  # the weights as the module's variables
