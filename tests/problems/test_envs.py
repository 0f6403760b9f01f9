"""Env sources (issue 11): gymnax 1.x and MuJoCo Playground beside Brax, one naming scheme.

Fast: a 2-generation gymnax CartPole train, the first-terminal episode contract, the discrete
and image policies, CLI errors. ``slow``: anything compiling Playground (MJX) or MinAtar, and
the device-invariance subprocesses.
"""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import esjax
from esjax import cli
from esjax.errors import ConfigError
from esjax.policies import make_policy
from esjax.envs import registry
from esjax.problems import build
from esjax.problems.normalizer import init as norm_init
from esjax.config.train_config import TrainConfig

gymnax = pytest.importorskip("gymnax")

TINY = dict(population_size=8, generations=2, eval_every=2, eval_episodes=2,
            hidden_sizes=(8, 8), seed=1)


def _train(**kw):
  return esjax.train(TrainConfig.of(**{**TINY, **kw}), progress=False)


def test_gymnax_cartpole_trains_through_the_sharded_step():
  r = _train(env="gymnax:CartPole-v1")
  assert len(r.metrics) == 2 and "eval_return" in r.metrics[-1]
  for m in r.metrics:
    # CartPole pays 1 per live step: the population's mean return is its mean episode length.
    assert m["pop_return_mean"] == pytest.approx(m["episode_length_mean"])
    assert 1 <= m["episode_length_mean"] <= 500
  assert r.config.problem.episode_length == 500  # the env's max_steps_in_episode
  assert float(r.normalizer.count) > 0  # vector observations feed the normalizer
  act = r.act(jnp.zeros((3, 4)))
  assert act.dtype == jnp.int32 and act.shape == (3,) and set(np.asarray(act)) <= {0, 1}


def test_gymnax_episode_ends_at_the_first_terminal():
  cfg = TrainConfig.of(env="gymnax:CartPole-v1", policy="linear")  # zero init: always action 0
  built = build.build(cfg.problem, cfg.policy, jax.random.PRNGKey(0))
  keys = jax.random.split(jax.random.PRNGKey(7), 3)
  ev = jax.jit(jax.vmap(built.problem.evaluate, in_axes=(None, None, 0)))(
      built.params, norm_init(4), keys)
  env, params = gymnax.make("CartPole-v1")
  for i, key in enumerate(keys):
    reset_key, step_key = jax.random.split(key)
    _, state = env.reset(reset_key, params)

    def body(st, t):
      # gymnax's own auto-resetting step: it rolls on into the next episode after `done`.
      _, st, reward, terminated, truncated, _ = env.step(jax.random.fold_in(step_key, t), st,
                                                         0, params)
      return st, (reward, terminated | truncated)

    _, (rewards, dones) = jax.lax.scan(body, state, jnp.arange(100))
    first = int(np.argmax(np.asarray(dones)))
    assert np.asarray(dones)[first] and first < 99
    assert int(ev.steps[i]) == first + 1  # steps taken up to and including the first done
    assert float(ev.ret[i]) == pytest.approx(float(rewards[:first + 1].sum()))
    # Observations: the reset one plus one per live step (the terminal one is never acted on).
    assert float(ev.obs_stats.count[i]) == first + 1
  assert int(ev.steps.max()) < 100  # always pushing left falls quickly


def test_discrete_policies_give_valid_action_indices():
  for kind in ("mlp", "linear"):
    policy, flat = make_policy(kind, 4, 3, (8,), discrete=True)
    wild = flat + 5.0 * jax.random.normal(jax.random.PRNGKey(0), flat.shape)
    a = policy.apply(wild, jax.random.normal(jax.random.PRNGKey(1), (16, 4)))
    assert a.dtype == jnp.int32 and a.shape == (16,)
    assert np.all((np.asarray(a) >= 0) & (np.asarray(a) < 3))


def test_cnn_takes_minatar_frames_and_auto_picks_it():
  policy, flat = make_policy("auto", (10, 10, 4), 6, discrete=True)
  assert type(policy.module).__name__ == "CNN"
  frames = jax.random.bernoulli(jax.random.PRNGKey(0), 0.2, (5, 10, 10, 4)).astype(jnp.float32)
  wild = flat + jax.random.normal(jax.random.PRNGKey(1), flat.shape)
  a = policy.apply(wild, frames)
  assert a.shape == (5,) and a.dtype == jnp.int32 and np.all((a >= 0) & (a < 6))
  assert policy.apply(wild, frames[0]).shape == ()  # one unbatched frame
  assert type(make_policy("auto", 11, 3)[0].module).__name__ == "MLP"
  with pytest.raises(ValueError, match="image observations"):
    make_policy("cnn", 11, 3)


@pytest.mark.parametrize("argv, expected", [
    (["--env", "gymnax:CartPol-v1"], "closest: gymnax:CartPole-v1"),
    (["--env", "hoper"], "closest: hopper"),
    (["--env", "gymnax:Breakout"], "gymnax:Breakout-MinAtar"),
    (["--env", "atari:Pong"],
     "'atari' is neither an env source (expected one of: brax, gymnax, playground)"),
    (["--env", "gymnax:CartPole-v1", "--backend", "spring"], "gymnax envs (they have none)"),
    (["--env", "hopper", "--backend", "jax"], "unknown backend 'jax'"),
    (["--policy", "resnet"], "policy='resnet' is invalid"),
    (["--env", "gymnax:CartPole-v1", "--policy", "cnn"], "needs image observations"),
    (["--env", "gymnax:CartPole-v1", "--episode-length", "0"], "episode_length=0"),
])
def test_bad_env_flags_exit_2_with_one_line(argv, expected, capsys, tmp_path):
  out = tmp_path / "run"
  assert cli.main(["train", *argv, "--generations", "1", "--quiet", "--out", str(out)]) == 2
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and expected in err, err
  assert not out.exists()


def test_a_missing_extra_names_the_pip_command(monkeypatch, capsys):
  missing = dataclasses.replace(registry.SOURCES["gymnax"], package="gymnax_is_not_installed")
  monkeypatch.setitem(registry.SOURCES, "gymnax", missing)
  assert cli.main(["train", "--env", "gymnax:CartPole-v1", "--quiet"]) == 2
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and 'pip install -e ".[gymnax]"' in err, err


def test_envs_lists_every_installed_source(capsys):
  assert cli.main(["envs"]) == 0
  out = capsys.readouterr().out
  assert "hopper" in out and "CartPole-v1" in out and "Breakout-MinAtar" in out
  assert ("CartpoleBalance" in out) == registry.SOURCES["playground"].installed


@pytest.mark.slow
def test_minatar_breakout_trains_with_the_cnn_and_no_normalizer():
  r = _train(env="gymnax:Breakout-MinAtar", episode_length=20)
  assert r.normalizer.mean.shape == (0,)  # image observations skip the normalizer
  assert "Conv_0" in r.params["params"]
  assert all(np.isfinite(m["pop_return_mean"]) for m in r.metrics)
  a = r.act(jnp.zeros((2, 10, 10, 4)))
  assert a.dtype == jnp.int32 and np.all((a >= 0) & (a < 3))


@pytest.mark.slow
def test_playground_cartpole_trains_through_the_sharded_step():
  pytest.importorskip("mujoco_playground")
  r = _train(env="playground:CartpoleBalance", episode_length=50)
  assert r.config.problem.backend == "jax"
  for m in r.metrics:
    assert m["episode_length_mean"] == 50  # balance never terminates early
    assert 0 < m["pop_return_mean"] <= 50  # rewards in [0, 1] per step
  assert r.normalizer.mean.shape == (5,)


@pytest.mark.slow
def test_playground_bad_backend_and_menagerie_envs_fail_in_one_line(capsys, tmp_path):
  pytest.importorskip("mujoco_playground")
  assert cli.main(["train", "--env", "playground:CartpoleBalance", "--backend", "cuda",
                   "--quiet", "--out", str(tmp_path / "a")]) == 2
  assert "expected one of: jax, warp" in capsys.readouterr().err
  # A key the env's config does not have: one line naming it and the keys it has.
  assert cli.main(["train", "--env", "playground:CartpoleBalance", "--env-kwargs",
                   '{"no_such": 1}', "--quiet", "--out", str(tmp_path / "b")]) == 2
  err = capsys.readouterr().err
  assert "'no_such' is not a config key" in err and "ctrl_dt" in err and err.count("\n") == 1
  assert not (tmp_path / "b").exists()
  # Go1 needs MuJoCo Menagerie's robot model; offline, playground's git clone fails and the
  # load is one ConfigError line. (With the assets present it just loads; nothing is trained.)
  from esjax.envs import playground as pg
  try:
    pg.make("Go1Getup")
  except ConfigError as e:
    assert "Menagerie" in str(e) and "\n" not in str(e)


_INVARIANCE = """
import json, jax, esjax
cfg = esjax.TrainConfig.of(env=ENV, episode_length=30, population_size=8, hidden_sizes=(8, 8),
                           generations=2, eval_every=0, seed=1)
r = esjax.train(cfg, progress=False)
print(json.dumps({"devices": jax.device_count(), "params": r.flat_params.tolist(),
                  "returns": [m["pop_return_mean"] for m in r.metrics]}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("env", ["gymnax:CartPole-v1", "playground:CartpoleBalance"])
def test_params_do_not_depend_on_the_device_count(env):
  from tests.helpers.subproc import FAST_COMPILE, run_all
  if env.startswith("playground"):
    pytest.importorskip("mujoco_playground")
  runs = run_all(_INVARIANCE.replace("ENV", repr(env)), (1, 4), timeout=500,
                 xla_flags=FAST_COMPILE)
  assert runs[4]["devices"] == 4
  np.testing.assert_allclose(runs[4]["returns"], runs[1]["returns"], rtol=1e-5)
  # Each member's rollout is the same computation on any device; only the cross-device sums
  # (normalizer statistics, the update's reduction) may round differently: 1e-6, not bitwise.
  np.testing.assert_allclose(runs[4]["params"], runs[1]["params"], rtol=0, atol=1e-6)


def test_brax_fluid_gets_a_clip_that_takes_a_min_and_jax_numpy_is_left_alone():
  import inspect
  from brax import fluid
  import esjax.envs.brax  # noqa: F401  (applies the shim on import)
  x = jnp.array([-1.0, 0.5, 2.0])
  np.testing.assert_array_equal(fluid.jp.clip(x, a_min=0.0), [0.0, 0.5, 2.0])
  np.testing.assert_array_equal(fluid.jp.clip(x, 0.0, 1.0), [0.0, 0.5, 1.0])
  assert fluid.jp.sum(x) == 1.5  # everything else is jax.numpy's own
  if "a_min" not in inspect.signature(jnp.clip).parameters:
    with pytest.raises(TypeError):
      jnp.clip(x, a_min=0.0)  # the global function is untouched


@pytest.mark.slow
def test_brax_swimmer_with_its_fluid_drag_trains():
  # brax 0.14's fluid drag called jnp.clip(a_min=...), which this JAX no longer takes.
  r = _train(env="swimmer", backend="generalized", episode_length=5, policy="linear",
             population_size=4, eval_episodes=1)
  assert np.isfinite([m["pop_return_mean"] for m in r.metrics]).all()
