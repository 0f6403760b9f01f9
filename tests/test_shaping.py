import numpy as np
import pytest

from esjax.strategies import shaping


def np_centered_rank(x):
  ranks = np.empty(len(x))
  ranks[np.argsort(x, kind="stable")] = np.arange(len(x))
  return ranks / (len(x) - 1) - 0.5


@pytest.mark.parametrize("n", [2, 7, 64])
def test_centered_rank_matches_numpy(n):
  x = np.random.default_rng(n).normal(size=n).astype(np.float32)
  np.testing.assert_allclose(shaping.centered_rank(x), np_centered_rank(x), atol=1e-6)


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
