"""Env objects from libraries (issue 22): a Brax env built with other constructor arguments, a
Playground env loaded with config overrides, Craftax (gymnax-style) and Jumanji (their own API),
each trained end to end through ``env=`` or ``--env package.module:attr``; with default
arguments an object's run is bit for bit the registered name's run."""
import json

import numpy as np
import pytest

import esjax
from esjax import cli

pytestmark = pytest.mark.slow  # each compiles a real env

SMALL = dict(population_size=8, hidden_sizes=(8, 8), generations=2, eval_every=2,
             eval_episodes=2, episode_length=30)


def _same_run(a, b):
  assert np.array_equal(np.asarray(a.flat_params), np.asarray(b.flat_params))
  assert [m["pop_return_mean"] for m in a.metrics] == [m["pop_return_mean"] for m in b.metrics]
  assert a.metrics[-1]["eval_return"] == b.metrics[-1]["eval_return"]


def test_a_brax_env_object_is_the_registered_env_and_takes_constructor_arguments():
  from brax import envs
  cfg = esjax.TrainConfig.of(env="hopper", **SMALL)
  named = esjax.train(cfg, progress=False)
  _same_run(named, esjax.train(cfg, env=envs.get_environment("hopper", backend="spring"),
                               progress=False))
  changed = esjax.train(cfg, env=envs.get_environment("hopper", backend="spring",
                                                      healthy_reward=0.0), progress=False)
  # Without the survival bonus every step pays 1 less: the same policy earns less.
  assert changed.metrics[0]["pop_return_mean"] < named.metrics[0]["pop_return_mean"]
  kwargs = esjax.train(cfg.replace(env_kwargs={"healthy_reward": 0.0}), progress=False)
  _same_run(changed, kwargs)  # --env-kwargs on a registered Brax name: the same env


def test_a_playground_env_with_config_overrides_is_the_registered_env():
  pytest.importorskip("mujoco_playground")
  from mujoco_playground import registry
  cfg = esjax.TrainConfig.of(env="playground:CartpoleBalance", **SMALL)
  named = esjax.train(cfg, progress=False)
  env = registry.load("CartpoleBalance", config_overrides={"impl": "jax"})
  _same_run(named, esjax.train(cfg, env=env, progress=False))
  light = registry.load("CartpoleBalance", config_overrides={"impl": "jax", "ctrl_dt": 0.02})
  assert esjax.train(cfg, env=light, progress=False).metrics[-1]["eval_return"] is not None


def test_a_playground_env_loaded_with_its_default_impl_is_one_line_on_a_cpu(tmp_path):
  pytest.importorskip("mujoco_playground")
  import jax  # pylint: disable=g-import-not-at-top
  if any(d.platform == "gpu" for d in jax.devices()):
    pytest.skip("warp runs on a GPU")
  from mujoco_playground import registry
  with pytest.raises(esjax.ConfigError) as e:  # Playground 0.2 loads for warp by default
    esjax.train(esjax.TrainConfig.of(env="playground:CartpoleBalance", **SMALL),
                env=registry.load("CartpoleBalance"), out_dir=str(tmp_path / "r"),
                progress=False)
  assert "was loaded with impl='warp', which needs a GPU" in str(e.value)
  assert "\n" not in str(e.value) and not (tmp_path / "r").exists()


def _cli_run(tmp_path, capsys, env, kwargs, *extra):
  out = tmp_path / "run"
  argv = ["train", "--env", env, "--env-kwargs", json.dumps(kwargs), "--population-size", "8",
          "--generations", "2", "--eval-every", "2", "--eval-episodes", "2",
          "--episode-length", "40", "--quiet", "--out", str(out), *extra]
  assert cli.main(argv) == 0
  final = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()][-1]
  capsys.readouterr()
  assert cli.main(["eval", str(out), "--episodes", "3"]) == 0
  assert "mean return" in capsys.readouterr().out
  return str(out), final


def test_craftax_classic_symbolic_trains_evaluates_and_says_it_has_no_renderer(tmp_path,
                                                                               capsys):
  pytest.importorskip("craftax")
  out, final = _cli_run(tmp_path, capsys, "craftax.craftax_env:make_craftax_env_from_name",
                        {"name": "Craftax-Classic-Symbolic-v1", "auto_reset": False})
  assert np.isfinite(final["eval_return"])
  saved = esjax.load(out)
  assert saved.policy.num_params > 1345 * 8  # the 1345 symbolic features, 17 actions
  assert cli.main(["render", out]) == 2
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and "has no renderer" in err


def test_jumanji_snake_trains_evaluates_and_renders(tmp_path, capsys):
  pytest.importorskip("jumanji")
  out, final = _cli_run(tmp_path, capsys, "jumanji:make", {"id": "Snake-v1"})
  assert np.isfinite(final["eval_return"])
  returns = esjax.evaluate_run(out, 2, seed=4)
  assert cli.main(["render", out, "--out", str(tmp_path / "ep.html"), "--seed", "4"]) == 0
  printed = capsys.readouterr()
  assert f"return {returns[0]:.2f}" in printed.out
  assert (tmp_path / "ep.gif").exists() or "no GIF" in printed.err
