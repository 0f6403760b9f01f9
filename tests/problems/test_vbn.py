"""Virtual batch normalization (issue 11, section 2): a reference batch drawn once from the run
key, statistics recomputed per member under its own perturbed weights before each episode,
frozen for the episode; the batch is identical on every device and process, checkpointed, and
nothing about it crosses devices."""
import jax
import jax.numpy as jnp
import flax.linen as nn
import numpy as np
import pytest

import esjax
from esjax import keys
from esjax.cli import main
from esjax.policies import make_policy
from esjax.problems import normalizer as norm_lib
from esjax.problems import reference
from esjax.rundir import checkpoint as ckpt_lib
from esjax.training.train import setup, to_host
from esjax.strategies import base as strategy_lib
from tests.helpers.subproc import FAST_COMPILE, run_all

CARTPOLE = dict(env="gymnax:CartPole-v1", vbn=True, population_size=16, hidden_sizes=(8, 8),
                sigma=0.1, learning_rate=0.05, member_chunk=4, eval_every=0)
TIMING = ("wall_s", "steps_per_s")


def _member_params(s, members):
  """Member params of generation 0, as the step builds them (strategy ask from the keys)."""
  gen_key = keys.generation_key(s.state.key, s.state.generation)
  return strategy_lib.ask(s.strategy, s.state.es, gen_key, jnp.asarray(members))


def _mean_var(h, axes):
  return h.mean(axes), ((h - h.mean(axes)) ** 2).mean(axes)


def test_stats_are_recomputed_per_member_and_equal_the_layers_batch_moments():
  s = setup(esjax.TrainConfig.of(**CARTPOLE, generations=1))
  batch = s.state.normalizer.vbn_batch
  assert batch.shape == (128, 4) and bool(jnp.all(jnp.isfinite(batch)))
  # The batch is the run key's, drawn by the problem's collector: no other randomness.
  np.testing.assert_array_equal(batch, s.problem.reference_batch(keys.vbn_key(s.state.key)))
  x = norm_lib.normalize(s.state.normalizer, batch)  # what evaluate feeds (count 0: identity)
  cand = _member_params(s, [0, 2])  # two noise directions (mirrored: 0 and 1 share one)
  stats = [s.policy.reference_stats(c, x)["batch_stats"] for c in cand]
  # Direct computation, layer by layer, from each member's own (perturbed) weights.
  for c, st in zip(cand, stats):
    p = s.policy.unravel(c)["params"]
    h = x @ p["Dense_0"]["kernel"]  # no bias: the VBN offset replaces it
    m0, v0 = _mean_var(h, 0)
    np.testing.assert_allclose(st["BatchNorm_0"]["mean"], m0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(st["BatchNorm_0"]["var"], v0, rtol=1e-4, atol=1e-6)
    bn = p["BatchNorm_0"]
    a = jnp.tanh((h - m0) / jnp.sqrt(v0 + 1e-3) * bn["scale"] + bn["bias"])
    m1, v1 = _mean_var(a @ p["Dense_1"]["kernel"], 0)
    np.testing.assert_allclose(st["BatchNorm_1"]["mean"], m1, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(st["BatchNorm_1"]["var"], v1, rtol=1e-4, atol=1e-6)
  # Per member: another member's perturbed weights give other statistics.
  for layer in ("BatchNorm_0", "BatchNorm_1"):
    assert not np.allclose(stats[0][layer]["mean"], stats[1][layer]["mean"])
    assert not np.allclose(stats[0][layer]["var"], stats[1][layer]["var"])


def test_episode_uses_the_members_own_stats_frozen():
  """evaluate's return equals an episode stepped here with that member's reference_stats,
  computed once and applied unchanged at every step; another member's stats differ."""
  s = setup(esjax.TrainConfig.of(**CARTPOLE, generations=1, episode_length=60))
  import gymnax
  env, env_params = gymnax.make("CartPole-v1")
  cand = _member_params(s, [0, 2])
  key = jax.random.PRNGKey(7)
  got = jax.jit(jax.vmap(s.problem.evaluate, in_axes=(0, None, None)))(
      cand, s.state.normalizer, key)

  @jax.jit
  def episode(flat, stats):
    reset_key, step_key = jax.random.split(key)
    obs, st = env.reset_env(reset_key, env_params)

    def body(t, c):
      obs, st, ret, alive = c
      a = s.policy.apply(flat, norm_lib.normalize(s.state.normalizer, obs), stats)
      obs2, st2, r, done, _ = env.step_env(jax.random.fold_in(step_key, t), st, a, env_params)
      return (jnp.where(alive, obs2, obs), jax.tree.map(lambda x, y: jnp.where(alive, x, y),
                                                        st2, st),
              ret + jnp.where(alive, r, 0.0), alive & ~done)

    return jax.lax.fori_loop(0, 60, body, (obs, st, 0.0, True))[2]

  x = norm_lib.normalize(s.state.normalizer, s.state.normalizer.vbn_batch)
  own = [float(episode(c, s.policy.reference_stats(c, x))) for c in cand]
  assert [float(r) for r in got.ret] == own


@pytest.mark.slow
def test_cnn_vbn_on_minatar_per_channel_conv_stats():
  cfg = esjax.TrainConfig.of(env="gymnax:Breakout-MinAtar", vbn=True, vbn_batch=32,
                             population_size=8, member_chunk=4, generations=2,
                             episode_length=30, eval_every=2, eval_episodes=2)
  s = setup(cfg)
  assert type(s.policy.module).__name__ == "CNN" and s.policy.vbn
  batch = s.state.normalizer.vbn_batch
  assert batch.shape == (32, 10, 10, 4)
  c = _member_params(s, [1])[0]
  st = s.policy.reference_stats(c, batch)["batch_stats"]
  conv = nn.Conv(16, (3, 3), padding="VALID", use_bias=False).apply(
      {"params": s.policy.unravel(c)["params"]["Conv_0"]}, batch)
  m, v = _mean_var(conv, (0, 1, 2))  # per channel, over batch and positions
  np.testing.assert_allclose(st["BatchNorm_0"]["mean"], m, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(st["BatchNorm_0"]["var"], v, rtol=1e-4, atol=1e-6)
  r = esjax.train(cfg, progress=False)
  assert len(r.metrics) == 2 and np.isfinite(r.metrics[-1]["eval_return"])


_DEVICES = """
import json, zlib, numpy as np, jax, jax.numpy as jnp, esjax
from esjax import keys
from esjax.core.mesh import AXIS
from esjax.training.train import setup
from esjax.strategies import base as strategy_lib
from jax.sharding import PartitionSpec as P
cfg = esjax.TrainConfig.of(env="gymnax:CartPole-v1", vbn=True, population_size=16,
                           hidden_sizes=(8, 8), sigma=0.1, learning_rate=0.05, member_chunk=4,
                           eval_every=0, generations=3, episode_length=100)
n = jax.device_count()
s = setup(cfg.replace(num_devices=n))
vb = s.state.normalizer.vbn_batch
# Every device holds the same batch, and computes the same statistics for the same member.
shards = [np.asarray(sh.data) for sh in vb.addressable_shards]
assert len(shards) == n and all((x == shards[0]).all() for x in shards)
gen_key = keys.generation_key(s.state.key, s.state.generation)
def stats_here(state):
  c = strategy_lib.ask(s.strategy, state.es, gen_key, jnp.arange(1) + 3)[0]
  st = s.policy.reference_stats(c, state.normalizer.vbn_batch)
  return jax.tree.map(lambda x: x[None], st)
per_device = jax.jit(jax.shard_map(stats_here, mesh=s.mesh, in_specs=P(), out_specs=P(AXIS),
                                   check_vma=False))(s.state)
leaves = [np.asarray(x) for x in jax.tree.leaves(per_device)]
same_stats = all((x == x[0]).all() for x in leaves)
r = esjax.train(cfg.replace(num_devices=n), progress=False)
print(json.dumps({"batch_crc": zlib.crc32(shards[0].tobytes()), "same_stats": bool(same_stats),
                  "stats": [x[0].tolist() for x in leaves],
                  "params": np.asarray(r.flat_params).tolist(),
                  "returns": [m["pop_return_mean"] for m in r.metrics]}))
"""


@pytest.mark.slow
def test_vbn_batch_stats_and_params_equal_on_1_and_4_devices():
  out = run_all(_DEVICES, [1, 4], timeout=600)
  one, four = out[1], out[4]
  assert one["same_stats"] and four["same_stats"]  # every device of a run agrees
  assert one["batch_crc"] == four["batch_crc"]  # the same reference batch on 1 and 4 devices
  assert one["stats"] == four["stats"]
  assert one["params"] == four["params"]  # bitwise
  assert one["returns"] == four["returns"]


@pytest.mark.slow
def test_vbn_batch_and_params_equal_in_two_processes_and_in_one(tmp_path):
  """2 processes x 2 devices (one JAX job, gloo) and 1 process x 4 devices: every process draws
  the same reference batch from the run key, and the runs end with the same params."""
  from tests.invariance.test_bitwise import _free_port, _launch, _load, _wait
  job = ("localhost:%d" % _free_port(), 2)
  outs = [tmp_path / f"{name}.json" for name in ("p0", "p1", "single")]
  _wait([_launch(outs[i], 2, "vbn", *job, i) for i in range(2)]
        + [_launch(outs[2], 4, "vbn")], timeout=600)
  p0, p1, single = (_load(o) for o in outs)
  assert (p0["process"], p1["process"]) == (0, 1) and single["devices"] == 4
  runs = [p0["4"], p1["4"], single["4"]]
  for run in runs[1:]:
    assert run["vbn_batch"] == runs[0]["vbn_batch"]
    assert run["params"] == runs[0]["params"] and run["metrics"] == runs[0]["metrics"]


_HLO = """
import json, esjax
from esjax.core import hlo
from esjax.training.train import setup
out = {}
for vbn in (False, True):
  for hidden in ((8, 8), (128, 128)):
    cfg = esjax.TrainConfig.of(env="gymnax:CartPole-v1", vbn=vbn, population_size=16,
                               hidden_sizes=hidden, member_chunk=4, generations=1,
                               eval_every=0, episode_length=20)
    s = setup(cfg)
    out[f"{vbn}/{hidden[0]}"] = {"params": int(s.state.es.mean.shape[0]),
                                 "bytes": hlo.collective_bytes(hlo.step_hlo(s))}
print(json.dumps(out))
"""


@pytest.mark.slow  # four forced devices
def test_vbn_traffic_is_independent_of_the_parameter_count():
  r = run_all(_HLO, [4], timeout=600, xla_flags=FAST_COMPILE)[4]
  small, large = r["True/8"], r["True/128"]
  assert large["params"] > 100 * small["params"]
  # Nothing about VBN crosses devices: the same bytes as without it, whatever the width.
  assert small["bytes"] == large["bytes"] == r["False/8"]["bytes"] == r["False/128"]["bytes"]
  pop, obs, chunks = 16, 4, 4
  assert small["bytes"] == 4 * pop * 2 + 4 * chunks * (2 * obs + 1)


@pytest.mark.parametrize("argv, needle", [
    (["--vbn-batch", "64"], "vbn_batch=64 is set but vbn is off"),
    (["--vbn", "--vbn-batch", "1"], "vbn_batch=1 is invalid"),
    (["--vbn", "--vbn-batch", "0"], "vbn_batch=0 is invalid"),
    (["--vbn", "--policy", "linear"], "policy='linear' has none"),
])
def test_bad_vbn_companions_exit_2_with_one_line(argv, needle, tmp_path, capsys):
  rc = main(["train", "--env", "gymnax:CartPole-v1", *argv, "--out", str(tmp_path / "r")])
  err = capsys.readouterr().err
  assert rc == 2 and needle in err and err.count("\n") == 1, err
  assert not (tmp_path / "r").exists()


def test_vbn_with_a_custom_problem_is_a_config_error():
  with pytest.raises(esjax.ConfigError, match="drop vbn"):
    setup(esjax.TrainConfig.of(vbn=True, population_size=8),
          esjax.black_box(lambda p, k: -jnp.sum(p ** 2)), jnp.zeros(3))


def test_short_vbn_run_on_cartpole_improves_the_return(tmp_path):
  cfg = esjax.TrainConfig.of(**{**CARTPOLE, "population_size": 32, "hidden_sizes": (16, 16),
                                "eval_every": 16}, generations=16, eval_episodes=4)
  r = esjax.train(cfg, out_dir=str(tmp_path / "run"), progress=False, tensorboard=False)
  first, last = r.metrics[0]["pop_return_mean"], r.metrics[-1]["pop_return_mean"]
  print(f"CartPole, VBN: population mean {first:.1f} -> {last:.1f}, "
        f"eval {r.metrics[-1]['eval_return']:.1f}")
  assert last > 3 * first and r.metrics[-1]["eval_return"] >= 200
  # The saved run carries its reference batch: load/eval see the batch training used.
  saved = esjax.load(str(tmp_path / "run"))
  np.testing.assert_array_equal(saved.normalizer.vbn_batch, r.state.normalizer.vbn_batch)
  from esjax.viz.playback import evaluate_run
  assert evaluate_run(str(tmp_path / "run"), 2).mean() >= 200


def test_resume_keeps_the_reference_batch_and_equals_the_uninterrupted_run(tmp_path):
  cfg = esjax.TrainConfig.of(**CARTPOLE, generations=4, checkpoint_every=2,
                             episode_length=100)
  whole = esjax.train(cfg, progress=False)
  run = str(tmp_path / "run")
  esjax.train(cfg.replace(generations=2), out_dir=run, progress=False, tensorboard=False)
  # The checkpoint holds the batch: the restored state's is the run's.
  s = setup(cfg)
  fp = ckpt_lib.fingerprint(s.config, "brax", s.problem.obs_size, s.action_size)
  assert fp["vbn"] is True and fp["vbn_batch"] == 128
  restored = ckpt_lib.restore_latest(run, to_host(s.state), fp)
  np.testing.assert_array_equal(restored.state.normalizer.vbn_batch,
                                whole.state.normalizer.vbn_batch)
  resumed = esjax.train(cfg, out_dir=run, progress=False, tensorboard=False, resume=True)
  np.testing.assert_array_equal(resumed.flat_params, whole.flat_params)
  np.testing.assert_array_equal(resumed.state.normalizer.vbn_batch,
                                whole.state.normalizer.vbn_batch)
  assert ([{k: v for k, v in m.items() if k not in TIMING} for m in resumed.metrics]
          == [{k: v for k, v in m.items() if k not in TIMING} for m in whole.metrics])


def test_resume_without_vbn_into_a_vbn_checkpoint_is_refused(tmp_path):
  cfg = esjax.TrainConfig.of(**CARTPOLE, generations=1, episode_length=20)
  run = str(tmp_path / "run")
  esjax.train(cfg, out_dir=run, progress=False, tensorboard=False)
  with pytest.raises(esjax.ConfigError, match="vbn"):
    esjax.train(cfg.replace(vbn=False, generations=2), out_dir=run, progress=False,
                tensorboard=False, resume=True)


def test_reference_batch_is_the_random_policy_stream_of_the_run_key():
  from esjax.envs import gymnax as gx
  from esjax.problems.interface import obs_view
  env = gx.make_env("CartPole-v1")
  collect = reference.env_collector(env, obs_view(env.observation_space), env.episode_length, 64)
  a = collect(keys.vbn_key(jax.random.PRNGKey(0)))
  np.testing.assert_array_equal(a, collect(keys.vbn_key(jax.random.PRNGKey(0))))
  assert not np.array_equal(a, collect(keys.vbn_key(jax.random.PRNGKey(1))))
  # Random CartPole episodes end within ~20-40 steps: 64 observations span several episodes,
  # each starting near the upright state (|x| small).
  starts = np.flatnonzero(np.all(np.abs(np.asarray(a)) < 0.05, axis=1))
  assert len(starts) >= 2
  # Seeds of a multi-seed run draw their own batch, as their single runs do.
  s = setup(esjax.TrainConfig.of(**CARTPOLE, generations=1, num_seeds=2, vbn_batch=16))
  vb = s.state.normalizer.vbn_batch
  assert vb.shape == (2, 16, 4) and not np.array_equal(vb[0], vb[1])
  single = setup(esjax.TrainConfig.of(**CARTPOLE, generations=1, seed=1, vbn_batch=16))
  np.testing.assert_array_equal(vb[1], single.state.normalizer.vbn_batch)


def test_vbn_policy_without_stats_is_an_error_and_no_vbn_is_unchanged():
  p, f = make_policy("mlp", 4, 2, (8,), vbn=True)
  with pytest.raises(ValueError, match="reference batch"):
    p.apply(f, jnp.zeros(4))
  plain, flat = make_policy("mlp", 4, 2, (8,))
  assert not plain.vbn and plain.reference_stats(flat, jnp.zeros((3, 4))) == {}
  assert sorted(plain.unravel(flat)["params"]) == ["Dense_0", "Dense_1"]
  assert p.num_params == plain.num_params - 8 + 16  # Dense_0 loses its bias; BN adds 2 x 8
