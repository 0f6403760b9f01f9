import jax.numpy as jnp
import numpy as np
import pytest

from esjax.strategies import shaping


def np_centered_rank(x):
  """The paper's centered ranks with tied values sharing the mean of their ranks: a value's
  sorted positions run from the count of smaller values over its own count, so the mean rank
  is ``smaller + (count - 1) / 2``. Non-finite returns all tie at -inf (they rank last)."""
  x = np.where(np.isfinite(x), np.asarray(x, np.float64), -np.inf)
  values, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
  smaller = np.cumsum(counts) - counts
  ranks = (smaller + (counts - 1) / 2)[inverse.reshape(-1)]
  return ranks / max(len(x) - 1, 1) - 0.5


def np_centered_rank_by_index(x):
  """The paper's released code (ties broken by index): equal to the above without ties."""
  ranks = np.empty(len(x))
  ranks[np.argsort(x, kind="stable")] = np.arange(len(x))
  return ranks / (len(x) - 1) - 0.5


@pytest.mark.parametrize("n", [2, 7, 64])
def test_centered_rank_matches_numpy(n):
  x = np.random.default_rng(n).normal(size=n).astype(np.float32)
  np.testing.assert_allclose(shaping.centered_rank(x), np_centered_rank(x), atol=1e-6)
  np.testing.assert_allclose(shaping.centered_rank(x), np_centered_rank_by_index(x), atol=1e-6)
  # Without ties the tie rule changes nothing: bitwise the former index-ranked float32 formula.
  ranks = jnp.argsort(jnp.argsort(x, stable=True), stable=True).astype(jnp.float32)
  np.testing.assert_array_equal(shaping.centered_rank(x), ranks / max(n - 1, 1) - 0.5)


@pytest.mark.parametrize("n", [2, 5, 64, 257])
def test_tied_returns_share_the_mean_of_their_ranks(n):
  rng = np.random.default_rng(n)
  x = rng.integers(0, max(2, n // 4), size=n).astype(np.float32)  # many ties
  bad = rng.random(n) < 0.2
  x[bad] = rng.choice(np.array([np.nan, np.inf, -np.inf], np.float32), size=bad.sum())
  w = np.asarray(shaping.centered_rank(x))
  np.testing.assert_allclose(w, np_centered_rank(x), atol=1e-6)
  for v in np.unique(x[np.isfinite(x)]):
    assert np.ptp(w[x == v]) == 0  # one utility per tied value
  if bad.any():
    assert np.ptp(w[bad]) == 0 and w[bad].max() < w[~bad].min(initial=np.inf)  # last, tied
  assert abs(w.sum()) < 1e-4  # still centered


def test_tie_averaging_by_hand():
  w = np.asarray(shaping.centered_rank(np.array([1.0, 2.0, 2.0, 3.0, np.nan, -np.inf])))
  # ranks: nan/-inf share (0 + 1) / 2; 1.0 -> 2; the two 2.0 share (3 + 4) / 2; 3.0 -> 5.
  np.testing.assert_allclose(w, np.array([2, 3.5, 3.5, 5, 0.5, 0.5]) / 5 - 0.5, atol=1e-7)


def test_centered_rank_range_and_sum():
  w = np.asarray(shaping.centered_rank(np.array([3.0, -1.0, 10.0, 2.0])))
  np.testing.assert_allclose(w, [1 / 6, -0.5, 0.5, -1 / 6], atol=1e-6)
  assert abs(w.sum()) < 1e-6


def test_z_score_matches_numpy():
  x = np.random.default_rng(0).normal(3.0, 2.0, size=50).astype(np.float32)
  np.testing.assert_allclose(shaping.z_score(x), (x - x.mean()) / x.std(), atol=1e-4)


def test_identity():
  x = np.array([1.0, -2.0, 5.0], np.float32)
  np.testing.assert_array_equal(shaping.identity(x), x)


@pytest.mark.parametrize("name", list(shaping.SHAPERS))
@pytest.mark.parametrize("bad", [np.nan, -np.inf])
def test_nonfinite_ranks_last(name, bad):
  x = np.array([1.0, bad, 3.0, 2.0], np.float32)
  w = np.asarray(shaping.SHAPERS[name](x))
  assert np.all(np.isfinite(w))
  assert w[1] == w.min()
  assert w[2] == w.max()
