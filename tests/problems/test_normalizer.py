import jax.numpy as jnp
import numpy as np

from esjax.problems import normalizer as nl


def _stats(x):
  return nl.ObsStats(jnp.float32(len(x)), jnp.asarray(x.sum(0)), jnp.asarray((x**2).sum(0)))


def test_running_update_matches_numpy_over_all_batches():
  rng = np.random.default_rng(0)
  batches = [rng.normal(5.0, 3.0, size=(n, 4)).astype(np.float32) for n in (10, 200, 1, 57)]
  state = nl.init(4)
  for b in batches:
    state = nl.update(state, _stats(b))
  allx = np.concatenate(batches)
  mean, std = nl.mean_std(state)
  np.testing.assert_allclose(mean, allx.mean(0), rtol=1e-4)
  np.testing.assert_allclose(std, allx.std(0), rtol=1e-3)


def test_merged_device_sums_equal_one_batch():
  rng = np.random.default_rng(1)
  x = rng.normal(size=(100, 3)).astype(np.float32)
  merged = _stats(x[:40]) + _stats(x[40:])
  one = nl.update(nl.init(3), _stats(x))
  two = nl.update(nl.init(3), merged)
  np.testing.assert_allclose(one.mean, two.mean, rtol=1e-5)
  np.testing.assert_allclose(one.m2, two.m2, rtol=1e-4)


def test_empty_state_is_identity_and_clipping():
  state = nl.init(2)
  obs = jnp.array([0.3, -7.0])
  np.testing.assert_allclose(nl.normalize(state, obs, clip=5.0), [0.3, -5.0])


def test_nan_observation_is_not_counted():
  s = nl.ObsStats.of(jnp.array([jnp.nan, 1.0]), jnp.float32(0.0))
  assert float(s.count) == 0 and np.all(np.isfinite(s.sum)) and np.all(np.isfinite(s.sumsq))
