import jax
import jax.numpy as jnp
import numpy as np

from esjax import keys
from esjax.perturbations import gaussian as noise


def test_mirrored_pairs_are_exact_negatives():
  gen_key = keys.generation_key(jax.random.PRNGKey(0), 3)
  eps = jax.vmap(lambda m: noise.member_noise(gen_key, m, 100, True))(jnp.arange(8))
  np.testing.assert_array_equal(eps[0::2], -eps[1::2])
  assert not np.allclose(eps[0], eps[2])


def test_same_key_same_noise_different_generation_different_noise():
  key = jax.random.PRNGKey(7)
  a = noise.member_noise(keys.generation_key(key, 5), 11, 50, False)
  b = noise.member_noise(keys.generation_key(key, 5), 11, 50, False)
  c = noise.member_noise(keys.generation_key(key, 6), 11, 50, False)
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c)


def test_member_noise_depends_only_on_index():
  # The noise of member 5 is the same whether it is evaluated alone or in a batch.
  gen_key = keys.generation_key(jax.random.PRNGKey(1), 0)
  alone = noise.member_noise(gen_key, 5, 30, True)
  batch = jax.vmap(lambda m: noise.member_noise(gen_key, m, 30, True))(jnp.arange(4, 8))
  np.testing.assert_array_equal(alone, batch[1])


def test_noise_and_rollout_streams_differ():
  gen_key = keys.generation_key(jax.random.PRNGKey(0), 0)
  assert not np.array_equal(keys.noise_key(gen_key, 0), keys.rollout_key(gen_key, 0))


def test_weighted_noise_sum_matches_dense_for_any_chunk():
  gen_key = keys.generation_key(jax.random.PRNGKey(2), 1)
  w = jax.random.normal(jax.random.PRNGKey(3), (37,))
  dense = w @ jax.vmap(lambda i: noise.sample(keys.noise_key(gen_key, i), 20))(jnp.arange(37))
  for chunk in (1, 5, 16, 37, 100):
    np.testing.assert_allclose(noise.weighted_noise_sum(gen_key, w, 20, chunk), dense,
                               rtol=1e-5, atol=1e-5)


def test_weighted_noise_sum_explicit_indices():
  gen_key = keys.generation_key(jax.random.PRNGKey(2), 1)
  idx = jnp.array([4, 9, 2])
  w = jnp.array([0.5, -1.0, 2.0])
  dense = sum(wi * noise.sample(keys.noise_key(gen_key, i), 12) for wi, i in zip(w, idx))
  np.testing.assert_allclose(noise.weighted_noise_sum(gen_key, w, 12, 2, indices=idx), dense,
                             rtol=1e-5, atol=1e-6)


def _dot_precisions(jaxpr) -> list:
  found = []
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == "dot_general":
      found.append(eqn.params["precision"])
    for value in eqn.params.values():
      inner = getattr(value, "jaxpr", None)
      if inner is not None and hasattr(inner, "eqns"):
        found += _dot_precisions(inner)
  return found


def test_the_tells_noise_sums_ask_for_full_float32():
  """An accelerator at JAX's default precision may round a float32 dot's inputs (TF32 on a
  GPU: on an H200 the sum over 10**6 parameters missed the members' noise); every dot of the
  moments' rebuild must ask for HIGHEST, which CPUs compute as they always did."""
  gen_key = keys.generation_key(jax.random.PRNGKey(0), 0)
  w = jnp.ones((10,))
  closed = jax.make_jaxpr(lambda k, w: noise.moments_from_keys(k, (w, w), (1, 2), 40, 4))(
      gen_key, w)
  precisions = _dot_precisions(closed.jaxpr)
  highest = jax.lax.Precision.HIGHEST
  assert len(precisions) >= 2
  assert all(p == (highest, highest) for p in precisions), precisions
