"""Low-rank perturbations (EGGROLL, issue 12 section 2): factors from keys are the dense
``A B^T / sqrt(r)`` reference, the forward pass that never forms ``E`` equals the one on
``W + sigma E``, the chunked update equals the dense sum, runs are device-invariant, the compiled
step's traffic does not grow with the parameter count, and short runs learn."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import esjax
from esjax import keys
from esjax.cli import main
from esjax.perturbations import lowrank
from esjax.policies import make_policy
from esjax.strategies import base, open_es
from tests.helpers.subproc import FAST_COMPILE, run_all

GEN_KEY = jax.random.fold_in(jax.random.PRNGKey(3), 5)
# A pytree with two matrices (one of them a row) and two non-matrix leaves.
TREE = {"a": jnp.zeros((5, 3)), "b": jnp.zeros((4,)), "c": jnp.zeros((1, 6)), "d": jnp.zeros(())}


def _layout():
  return lowrank.LowRankLayout.of(TREE)


def test_layout_follows_ravel_pytree_order():
  layout = _layout()
  flat, unravel = jax.flatten_util.ravel_pytree(
      jax.tree.map(lambda x: jnp.arange(x.size, dtype=jnp.float32).reshape(x.shape) + 100 *
                   len(x.shape), TREE))
  assert layout.num_params == flat.shape[0] == 15 + 4 + 6 + 1
  assert [l.path for l in layout.kernels] == [("a",), ("c",)]
  assert layout.rest_size == 5
  for leaf in layout.leaves:  # each leaf's slice of the flat vector is that leaf
    np.testing.assert_array_equal(flat[leaf.offset:leaf.offset + leaf.size].reshape(leaf.shape),
                                  unravel(flat)[leaf.path[0]])


def test_member_factors_from_keys_equal_the_dense_reference_and_mirrors_negate():
  rank = 3
  pert = lowrank.LowRank(_layout(), rank)
  num_params = pert.layout.num_params
  noise = jax.vmap(lambda m: pert.member_noise(GEN_KEY, m, num_params, True))(jnp.arange(6))
  for member in range(6):
    # The reference, drawn here by hand: A, B from fold_in(noise_key(pair), leaf index).
    key = keys.noise_key(GEN_KEY, member // 2)
    sign = 1.0 - 2.0 * (member % 2)
    ab_a = jax.random.normal(jax.random.fold_in(key, 0), (5 + 3, rank))
    ab_c = jax.random.normal(jax.random.fold_in(key, 2), (1 + 6, rank))
    e_a = sign * ab_a[:5] @ ab_a[5:].T / math.sqrt(rank)
    e_c = sign * ab_c[:1] @ ab_c[1:].T / math.sqrt(rank)
    rest_b = sign * jax.random.normal(jax.random.fold_in(key, 1), (4,))
    rest_d = sign * jax.random.normal(jax.random.fold_in(key, 3), (1,))
    want = jnp.concatenate([e_a.ravel(), rest_b, e_c.ravel(), rest_d])
    one = jax.tree.map(lambda x: x[member], noise)
    np.testing.assert_allclose(lowrank.dense(pert.layout, one), want, rtol=1e-5, atol=1e-6)
  dense = jax.vmap(lambda n: lowrank.dense(pert.layout, n))(noise)
  np.testing.assert_array_equal(dense[0::2], -dense[1::2])  # mirrored pairs share, negated
  assert not np.allclose(dense[0], dense[2])
  # member params = mean + sigma * eps, formed densely only by flat()
  mean = jnp.linspace(-1.0, 1.0, pert.layout.num_params)
  p = pert.params(mean, jnp.float32(0.1), jax.tree.map(lambda x: x[2], noise))
  np.testing.assert_allclose(p.flat(), mean + 0.1 * dense[2], rtol=1e-6)


def test_low_rank_noise_is_standardized():
  layout = lowrank.LowRankLayout.of({"w": jnp.zeros((200, 100))})
  for rank in (1, 4, 16):
    eps = lowrank.dense(layout, lowrank.LowRank(layout, rank).member_noise(
        GEN_KEY, 0, layout.num_params, False))
    assert abs(float(eps.std()) - 1.0) < 0.1 and abs(float(eps.mean())) < 0.05


def test_forward_pass_with_the_correction_equals_the_formed_weights():
  policy, flat = make_policy("mlp", 6, 3, hidden_sizes=(16, 8), key=jax.random.PRNGKey(1))
  pert = lowrank.LowRank(lowrank.LowRankLayout.of(policy.unravel(flat)), 2)
  strategy = open_es(8)
  state = strategy.init(flat)
  members = jnp.arange(8)
  cands = base.ask(strategy, state, GEN_KEY, members, pert)
  obs = jax.random.normal(jax.random.PRNGKey(2), (8, 5, 6))  # per member, a batch of 5
  got = jax.jit(jax.vmap(policy.apply, in_axes=(pert.member_axes(), 0)))(cands, obs)
  dense = jax.vmap(lambda c: c.flat(), in_axes=(pert.member_axes(),))(cands)
  want = jax.vmap(policy.apply)(dense, obs)
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  assert not np.allclose(want[0], want[1])  # members really differ
  # The members share the mean's W: no (members, m, n) array exists in the vmapped forward.
  jaxpr = str(jax.make_jaxpr(jax.vmap(policy.apply, in_axes=(pert.member_axes(), 0)))(
      cands, obs))
  for m, n in ((6, 16), (16, 8), (8, 3)):
    assert f"[8,{m},{n}]" not in jaxpr


def test_a_2d_leaf_that_is_no_dense_kernel_is_refused():
  import flax.linen as nn

  class Odd(nn.Module):
    @nn.compact
    def __call__(self, x):
      return x @ self.param("w", nn.initializers.ones, (3, 2))

  params = Odd().init(jax.random.PRNGKey(0), jnp.ones(3))
  layout = lowrank.LowRankLayout.of(params)
  p = lowrank.LowRank(layout, 1)
  member = p.params(jax.flatten_util.ravel_pytree(params)[0], jnp.float32(0.1),
                    p.member_noise(GEN_KEY, 0, layout.num_params, False))
  from esjax.policies import lowrank as policy_lowrank
  with pytest.raises(esjax.ConfigError, match="not nn.Dense kernels"):
    policy_lowrank.apply(Odd(), member, jnp.ones(3))


@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_chunked_moments_equal_the_dense_weighted_sum(chunk):
  pert = lowrank.LowRank(_layout(), 4)
  w = jnp.linspace(-1.0, 2.0, 7)
  idx = jnp.array([0, 5, 2, 9, 11, 3, 4])
  eps = jax.vmap(lambda i: lowrank.dense(pert.layout, lowrank.draw(
      pert.layout, 4, keys.noise_key(GEN_KEY, i))))(idx)
  num_params = pert.layout.num_params
  (got,) = pert.moments_from_keys(GEN_KEY, (w,), (1,), num_params, chunk, indices=idx)
  np.testing.assert_allclose(got, w @ eps, rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="first moments"):
    pert.moments_from_keys(GEN_KEY, (w,), (2,), num_params, chunk)


def test_tell_from_keys_equals_dense_tell_and_scales_by_sigma_sqrt_r():
  rank = 2
  pert = lowrank.LowRank(_layout(), rank)
  strategy = open_es(10, optimizer="sgd", learning_rate=1.0, weight_decay=0.0, sigma=0.5)
  num_params = pert.layout.num_params
  state = strategy.init(jnp.zeros(num_params))
  returns = jnp.array([3.0, 1.0, -2.0, 0.5, 4.0, 4.5, 0.0, -1.0, 2.0, 2.5])
  new, _ = base.tell(strategy, state, GEN_KEY, returns, perturbation=pert)
  eps = jax.vmap(lambda m: lowrank.dense(pert.layout,
                                         pert.member_noise(GEN_KEY, m, num_params, True)))(
      jnp.arange(0, 10, 2))
  ref, _ = base.dense_tell(strategy, state, eps, returns)
  np.testing.assert_allclose(new.mean, ref.mean, rtol=1e-5, atol=1e-6)
  # SGD at lr 1 from 0: theta = sum_j w_j A_j B_j^T / (n sigma sqrt(r)) on each matrix.
  w = base.pair_difference(esjax.centered_rank(returns), True)
  a = jnp.zeros((5, 3))
  for j in range(5):
    ab = jax.random.normal(jax.random.fold_in(keys.noise_key(GEN_KEY, j), 0), (8, rank))
    a = a + w[j] * ab[:5] @ ab[5:].T
  np.testing.assert_allclose(new.mean[:15], (a / (10 * 0.5 * math.sqrt(rank))).ravel(),
                             rtol=1e-5, atol=1e-6)


def test_strategies_without_isotropic_noise_refuse_low_rank():
  pert = lowrank.LowRank(_layout(), 1)
  with pytest.raises(ValueError, match="snes"):
    base.check_perturbation(esjax.strategies.snes(8), pert)
  with pytest.raises(ValueError, match="at least one 2-D"):
    lowrank.LowRank(lowrank.LowRankLayout.of({"v": jnp.zeros(4)}), 1)


# A rank-2 target matrix; the fitness sees the params pytree it was given (matrix and a bias).
_TARGET = (jax.random.normal(jax.random.PRNGKey(1), (30, 2)) @
           jax.random.normal(jax.random.PRNGKey(2), (2, 20)))


def _fitness(p, k):
  if isinstance(p, dict):
    return -jnp.sum((p["W"] - _TARGET) ** 2) - jnp.sum(p["b"] ** 2)
  return -jnp.sum((p[:600].reshape(30, 20) - _TARGET) ** 2) - jnp.sum(p[600:] ** 2)


def test_black_box_low_rank_run_improves():
  cfg = esjax.TrainConfig.of(population_size=32, generations=30, eval_every=0,
                             normalize_obs=False, sigma=0.1, learning_rate=0.05,
                             perturbation="lowrank", rank=2)
  r = esjax.train(cfg, problem=esjax.black_box(_fitness),
                  initial_params={"W": jnp.zeros((30, 20)), "b": jnp.zeros(5)}, progress=False)
  first, last = r.metrics[0]["pop_return_mean"], r.metrics[-1]["pop_return_mean"]
  assert last > first + 0.15 * abs(first), (first, last)
  # A flat vector has no matrix to perturb at low rank: one line.
  with pytest.raises(esjax.ConfigError, match="at least one 2-D"):
    esjax.train(cfg, problem=esjax.black_box(_fitness), initial_params=jnp.zeros(605),
                progress=False)


def test_gymnax_cartpole_low_rank_run_improves():
  pytest.importorskip("gymnax")
  cfg = esjax.TrainConfig.of(env="gymnax:CartPole-v1", population_size=32, generations=8,
                             eval_every=0, hidden_sizes=(16, 16), perturbation="lowrank",
                             rank=1, sigma=0.1, learning_rate=0.05, seed=1)
  r = esjax.train(cfg, progress=False)
  means = [m["pop_return_mean"] for m in r.metrics]
  assert max(means[-3:]) > 1.5 * means[0], means


_INVARIANCE = """
import json, jax, jax.numpy as jnp, esjax
target = jax.random.normal(jax.random.PRNGKey(1), (12, 8))
f = lambda p, k: -jnp.sum((p["W"] - target) ** 2) + 0.01 * jax.random.normal(k)
cfg = esjax.TrainConfig.of(population_size=16, generations=4, eval_every=0, normalize_obs=False,
                        sigma=0.1, learning_rate=0.05, perturbation="lowrank", rank=2, seed=3)
init = {"W": jnp.zeros((12, 8)), "b": jnp.zeros(3)}
r = esjax.train(cfg, problem=esjax.black_box(f), initial_params=init, progress=False)
g = esjax.train(cfg.replace(comm="gradient"), problem=esjax.black_box(f), initial_params=init,
                progress=False)
print(json.dumps({"devices": jax.device_count(), "params": r.flat_params.tolist(),
                  "gradient": g.flat_params.tolist()}))
"""


@pytest.mark.slow
def test_low_rank_runs_do_not_depend_on_the_device_count():
  out = run_all(_INVARIANCE, (1, 4), timeout=300)
  assert out[1]["devices"] == 1 and out[4]["devices"] == 4
  ref = np.array(out[1]["params"])
  assert np.abs(ref).max() > 0.05  # it moved
  np.testing.assert_allclose(out[4]["params"], ref, rtol=0, atol=1e-6)
  for n in (1, 4):  # the data-parallel mode sums the same low-rank directions
    np.testing.assert_allclose(out[n]["gradient"], ref, rtol=0, atol=1e-5)


_TRAFFIC = """
import json, jax.numpy as jnp, esjax
from esjax.core import hlo
from esjax.training.train import setup
out = {}
for m in (10, 300):
  cfg = esjax.TrainConfig.of(population_size=16, generations=1, eval_every=0,
                             normalize_obs=False, perturbation="lowrank", rank=4)
  s = setup(cfg, esjax.black_box(lambda p, k: -jnp.sum(p["W"] ** 2) - jnp.sum(p["b"] ** 2)),
            {"W": jnp.zeros((m, m)), "b": jnp.zeros(m)})
  out[str(m)] = {"params": int(s.state.es.mean.shape[0]),
                 "bytes": hlo.collective_bytes(hlo.step_hlo(s))}
print(json.dumps(out))
"""


def test_low_rank_traffic_does_not_grow_with_the_parameter_count():
  r = run_all(_TRAFFIC, [4], timeout=300, xla_flags=FAST_COMPILE)[4]
  small, large = r["10"], r["300"]
  assert large["params"] > 500 * small["params"]
  assert small["bytes"] == large["bytes"] == 4 * 16  # the all-gathered returns alone


def test_a_low_rank_step_never_forms_the_population_s_dense_noise():
  # A policy of 10^6 params (benchmarks/large.py's cost cell), pop 256 on one device, the
  # default --comm auto: a step that formed a chunk of directions' dense noise (as the split
  # modes' tree does) needs 64 x P floats and more; the members' factored forward passes and
  # the chunked matmuls of the update need a few P (the update, Adam's moments).
  from benchmarks import large  # pylint: disable=g-import-not-at-top
  h = large.width_for(1_000_000)
  policy, flat = make_policy("mlp", large.OBS, large.ACT, hidden_sizes=(h, h),
                             key=jax.random.PRNGKey(0))
  cfg = esjax.TrainConfig.of(population_size=256, generations=1, eval_every=0,
                             normalize_obs=False, num_devices=1, perturbation="lowrank")
  s = esjax.setup(cfg, large.policy_problem(policy, 16), policy.unravel(flat))
  mem = s.run_generations.lower(s.state, 1).compile().memory_analysis()
  floats = mem.temp_size_in_bytes / 4
  assert floats < 16 * flat.shape[0], floats / flat.shape[0]


@pytest.mark.parametrize("flags,named", [
    (["--perturbation", "sparse"], "perturbation='sparse' is invalid; expected one of: full, "
                                   "lowrank"),
    (["--rank", "0"], "rank=0 is invalid"),
    (["--rank", "x"], "x"),
    (["--strategy", "snes", "--perturbation", "lowrank"], "ars, open_es"),
    (["--vbn", "--perturbation", "lowrank"], "vbn with perturbation='lowrank' is not supported"),
    (["--rank", "4"], "rank=4 applies only to perturbation='lowrank'"),  # full is the default
])
def test_bad_low_rank_flags_exit_2_with_one_line(flags, named, tmp_path, capsys):
  out = tmp_path / "run"
  assert main(["train", *flags, "--out", str(out)]) == 2
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and err.startswith("esjax: error:")
  assert named in err
  assert not out.exists()


@pytest.mark.slow  # a benchmark script's whole --quick run
def test_large_benchmark_quick_mode(tmp_path):
  from benchmarks import large  # pylint: disable=g-import-not-at-top
  rows = large.main(["--quick", "--out", str(tmp_path)])
  cost = [r for r in rows if "gen_s" in r]
  assert {r["perturbation"] for r in cost} == {"full", "rank 1"}
  assert all(r["status"] == "ok" and r["gen_s"] > 0 and r["memory_mib"] > 0 for r in cost)
  curves = [r for r in rows if "task" in r]
  assert {r["perturbation"] for r in curves} == {"full", "rank 1"}
  for name in ("large.md", "large.json", "large_curves.md", "large.png"):
    assert (tmp_path / name).exists()
