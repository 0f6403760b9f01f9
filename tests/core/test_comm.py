"""``--comm``: the fixed summation tree's leaves, and what ``auto`` picks and says (issue 25)."""
import pytest

import esjax
from esjax.core import comm
from esjax.perturbations import tree


@pytest.mark.parametrize("directions, want", [(128, 128), (5000, 8192), (8, 8), (100, 128),
                                             (1, 1)])
def test_leaves_are_the_next_power_of_two_of_the_directions(directions, want):
  assert tree.leaves(directions) == tree.max_split(directions) == want


def test_auto_keeps_returns_for_the_default_run():
  # hopper, pop 256 (128 directions), the default policy: far below SPLIT_FROM, so the pinned
  # params (tests/test_pinned.py) are the returns mode's on every layout.
  s = esjax.TrainConfig()
  assert s.runtime.comm == "auto"
  for layout in ((1, 1), (1, 2), (1, 4), (2, 2)):
    c = comm.choose("auto", layout, 128, 1539, 1, "cpu", noise_s=1e-6)
    assert c.mode == "returns"
    assert c.reason.startswith("comm: auto -> returns: the update rebuilds 0.2M noise values")


def test_auto_splits_a_large_update_where_the_model_says():
  big = dict(num_directions=5000, num_params=133_000, moments=1,
             backend="cpu", noise_s=50e-9)
  assert comm.choose("auto", (1, 1), **big).mode == "tree"  # one device: the tree, whole
  assert comm.choose("auto", (1, 4), **big).mode == "hierarchical"
  assert comm.choose("auto", (2, 2), **big).mode == "gradient"  # 0.5 MB at 10 Gb/s is cheap
  # A link between hosts a million times slower: keep the partial sums inside each host.
  slow = comm.choose("auto", (2, 2), **big, gbps=(1e-5, 200.0))
  assert slow.mode == "hierarchical"
  assert "(2 hosts x 2 devices at 1e-05/200 Gb/s)" in slow.reason
  assert "50 ns each (measured)" in slow.reason and "\n" not in slow.reason
  # 3 devices per host: 2 of them split it, the third receives; and the paper's 45 x 32.
  assert comm.choose("auto", (2, 3), **big).mode == "gradient"
  assert comm.choose("auto", (45, 32), **big).mode == "gradient"
  assert comm.choose("auto", (1, 18), **big).mode == "hierarchical"


def test_auto_keeps_a_low_rank_update_whole():
  # The tree forms each direction's dense noise: at 10^6 params a low-rank generation took 10x
  # the time and 20x the memory of its chunked matmuls (benchmarks/results/large.md). The same
  # update of Gaussian noise is split.
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  fitness = esjax.black_box(lambda p, k: -jnp.sum(p["w"] ** 2))
  params = {"w": jnp.zeros((1000, 1000))}  # 128 directions x 10^6: over SPLIT_FROM
  for perturbation, want in (("lowrank", "returns"), ("full", "tree")):
    cfg = esjax.TrainConfig.of(population_size=256, generations=1, eval_every=0,
                               normalize_obs=False, num_devices=1, perturbation=perturbation)
    c = esjax.setup(cfg, fitness, params).comm
    assert c.mode == want, c.reason
  assert c.reason.startswith("comm: auto -> tree")
  low = comm.choose("auto", (2, 2), 5000, 133_000, 1, "cpu", noise_s=50e-9, splits=False)
  assert low.mode == "returns" and "low-rank noise is rebuilt chunk by chunk" in low.reason
  assert comm.choose("gradient", (2, 2), 5000, 133_000, 1, "cpu", splits=False).mode == \
      "gradient"  # as asked


@pytest.mark.parametrize("size, group", [(1, 1), (2, 2), (3, 2), (6, 4), (18, 16), (32, 32),
                                         (45, 32)])
def test_split_group_is_the_largest_power_of_two_in_the_axis(size, group):
  assert comm.split_group(size) == group


def test_a_mode_the_tree_cannot_split_is_one_line():
  with pytest.raises(esjax.ConfigError, match=r"comm='gradient' splits the update into 16 "
                     r"shares on 1 hosts x 16 devices, more than the 8 leaves"):
    comm.choose("gradient", (1, 16), 8, 100, 1, "cpu")
  assert comm.choose("gradient", (1, 3), 8, 100, 1, "cpu").mode == "gradient"
  assert comm.choose("returns", (1, 16), 8, 100, 1, "cpu").mode == "returns"


def test_axis_bytes_are_o_pop_between_hosts_in_the_middle_mode():
  assert comm.axis_bytes("returns", (45, 32), 133_000, 1) == (0, 0)
  assert comm.axis_bytes("hierarchical", (2, 4), 1000, 2) == (0, 2 * 4 * 1000 * 2)
  assert comm.axis_bytes("gradient", (2, 4), 1000, 1) == (4000, 8000)
  # An axis of no power of two: its group's butterfly, then one exchange to the rest.
  assert comm.axis_bytes("hierarchical", (45, 32), 1000, 1) == (0, 5 * 4000)
  assert comm.axis_bytes("gradient", (45, 32), 1000, 1) == ((5 + 1) * 4000, 5 * 4000)
  assert comm.shares("gradient", (45, 32)) == 1024


@pytest.mark.parametrize("count", [1, 2, 8, 64])
def test_streamed_tree_is_the_pairwise_tree_bit_for_bit(count):
  import jax
  import numpy as np
  leaves = jax.random.normal(jax.random.PRNGKey(count), (count, 33))
  got = tree._streamed_tree(lambda x: (x,), leaves, count, 1, 33)[0]
  want = np.asarray(leaves)
  while len(want) > 1:  # level by level, left + right
    want = want[0::2] + want[1::2]
  assert np.array_equal(np.asarray(got), want[0])
