"""Your own environment (issue 22): an env written here, in no library, trains through
``esjax.train(env=...)`` and through ``--env tests.envs.test_own_env:make_env``; eval, resume and the
device count behave as for a registered env; bad envs fail in one line."""
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import esjax
from esjax import cli
from esjax.envs import spaces
from tests.helpers.subproc import ROOT



class PointMass:
  """A point mass on a plane must reach a target drawn at reset: obs = (position, velocity,
  target), action = a force in [-1, 1]^2, reward = minus the distance to the target; no
  terminal, 50 steps. Doing nothing scores about -38; reaching the target fast about -10."""
  observation_space = spaces.Box((6,))
  action_space = spaces.Box((2,), -1.0, 1.0)
  episode_length = 50

  def __init__(self, friction: float = 0.1):
    self.friction = friction

  def reset(self, key):
    target = jax.random.uniform(key, (2,), minval=-1.0, maxval=1.0)
    state = (jnp.zeros(2), jnp.zeros(2), target)
    return state, jnp.concatenate(state)

  def step(self, state, action, key):
    pos, vel, target = state
    vel = (1.0 - self.friction) * vel + 0.2 * action
    pos = pos + 0.2 * vel
    state = (pos, vel, target)
    return state, jnp.concatenate(state), -jnp.linalg.norm(pos - target), jnp.zeros((), bool)


def make_env(friction: float = 0.1) -> PointMass:
  return PointMass(friction)


CONFIG = dict(population_size=32, hidden_sizes=(16,), generations=30, eval_every=10,
              eval_episodes=16, sigma=0.05, learning_rate=0.03)


def _config(**kw):
  return esjax.TrainConfig.of(**{**CONFIG, **kw})


def test_an_env_written_here_learns_through_train_env():
  result = esjax.train(_config(), env=PointMass(), progress=False)
  evals = [m["eval_return"] for m in result.metrics if "eval_return" in m]
  assert result.config.problem.env == "custom:PointMass"
  # Doing nothing scores about -38 here; the trained policy goes to the target.
  assert evals[0] < evals[-1] and evals[-1] > -20, evals


def test_the_same_env_from_the_cli_and_eval_rebuilds_it(tmp_path, capsys, monkeypatch):
  monkeypatch.chdir(ROOT)
  out = tmp_path / "run"
  assert cli.main(["train", "--env", "tests.envs.test_own_env:make_env", "--env-kwargs",
                   '{"friction": 0.1}', "--population-size", "32", "--hidden-sizes", "16",
                   "--generations", "30", "--eval-every", "10", "--eval-episodes", "16",
                   "--sigma", "0.05", "--learning-rate", "0.03", "--quiet",
                   "--out", str(out)]) == 0
  saved = json.loads((out / "config.json").read_text())
  assert saved["problem"]["env"] == "tests.envs.test_own_env:make_env"
  assert saved["problem"]["env_kwargs"] == {"friction": 0.1}
  final = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()][-1]
  assert final["eval_return"] > -20
  # The same env through the API gives the same run: the CLI only names it.
  api = esjax.train(_config(), env=make_env(0.1), progress=False)
  assert api.metrics[-1]["eval_return"] == final["eval_return"]
  capsys.readouterr()
  assert cli.main(["eval", str(out), "--episodes", "16", "--seed", "3"]) == 0
  printed = capsys.readouterr().out
  returns = esjax.load(str(out)).evaluate(16, seed=3)
  assert f"mean return {returns.mean():.2f}" in printed
  assert esjax.evaluate_run(str(out), 16, 3).tolist() == returns.tolist()


def test_eval_of_a_run_equals_its_final_evaluation(tmp_path, capsys, monkeypatch):
  monkeypatch.chdir(ROOT)
  out = str(tmp_path / "cli")
  assert cli.main(["train", "--env", "tests.envs.test_own_env:make_env", "--population-size", "32",
                   "--generations", "10", "--eval-every", "10", "--eval-episodes", "16",
                   "--quiet", "--out", out]) == 0
  final = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))][-1]
  capsys.readouterr()
  assert cli.main(["eval", out, "--final"]) == 0
  assert f"16 episodes: mean return {final['eval_return']:.2f}," in capsys.readouterr().out
  assert float(np.mean(esjax.load(out).evaluate_final())) == pytest.approx(
      final["eval_return"], rel=1e-6, abs=1e-6)
  # --final runs the final evaluation's own episodes: a count or seed beside it is refused.
  assert cli.main(["eval", out, "--final", "--episodes", "3"]) == 2
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "drop --episodes and --seed" in err
  # A run trained on an object: load takes the object again, and evaluates the same way.
  obj = str(tmp_path / "obj")
  result = esjax.train(_config(generations=10), env=PointMass(), out_dir=obj, progress=False)
  assert float(np.mean(esjax.load(obj, env=PointMass()).evaluate_final())) == pytest.approx(
      result.metrics[-1]["eval_return"], rel=1e-6, abs=1e-6)
  with pytest.raises(esjax.ConfigError, match="pass the same object again"):
    esjax.evaluate_run(obj, 4)


def test_resume_with_the_same_object_continues_exactly(tmp_path):
  whole = esjax.train(_config(generations=6, eval_every=0, checkpoint_every=3), env=PointMass(),
                      out_dir=str(tmp_path / "whole"), progress=False)
  part = str(tmp_path / "part")
  esjax.train(_config(generations=3, eval_every=0, checkpoint_every=3), env=PointMass(),
              out_dir=part, progress=False)
  resumed = esjax.train(_config(generations=6, eval_every=0, checkpoint_every=3),
                        env=PointMass(), out_dir=part, resume=True, progress=False)
  assert np.array_equal(np.asarray(whole.flat_params), np.asarray(resumed.flat_params))


_DEVICES = """
import json, jax, esjax
from tests.envs.test_own_env import CONFIG, PointMass
cfg = esjax.TrainConfig.of(**{**CONFIG, "generations": 4, "eval_every": 0, "member_chunk": 8})
r = esjax.train(cfg, env=PointMass(), progress=False)
print(json.dumps({"devices": jax.device_count(), "params": r.flat_params.tolist()}))
"""


@pytest.mark.slow
def test_a_custom_env_is_bitwise_the_same_on_1_2_and_4_devices():
  from tests.helpers.subproc import run_all
  runs = run_all(_DEVICES, (1, 2, 4), timeout=500)
  assert [runs[n]["devices"] for n in (1, 2, 4)] == [1, 2, 4]
  assert runs[1]["params"] == runs[2]["params"] == runs[4]["params"]


class _MultiDiscrete:
  """Two independent choices of 3 per step; reward 1 for each choice equal to the step's
  target (obs one-hot of it)."""
  observation_space = spaces.Box((3,))
  action_space = spaces.MultiDiscrete((3, 3))
  episode_length = 10

  def reset(self, key):
    t = jax.random.randint(key, (), 0, 3)
    return t, jax.nn.one_hot(t, 3)

  def step(self, t, action, key):
    reward = jnp.sum(action == t).astype(jnp.float32)
    nxt = jax.random.randint(key, (), 0, 3)
    return nxt, jax.nn.one_hot(nxt, 3), reward, jnp.zeros((), bool)


def test_multi_discrete_actions_train():
  result = esjax.train(_config(generations=15, eval_every=15, sigma=0.1), env=_MultiDiscrete(),
                       progress=False)
  assert result.act(jnp.eye(3)[1]).shape == (2,)
  assert result.metrics[-1]["eval_return"] >= 15  # chance: 10 x 2/3


class _NoStep:
  observation_space = spaces.Box((2,))
  action_space = spaces.Box((1,))

  def reset(self, key):
    return 0, jnp.zeros(2)


class _PythonIf(PointMass):
  def step(self, state, action, key):
    if action[0] > 0:  # a Python branch on a traced value
      return super().step(state, action, key)
    return super().step(state, -action, key)


class _Rank4(PointMass):
  observation_space = spaces.Box((2, 2, 2, 2))


@pytest.mark.parametrize("env, message", [
    (_NoStep(), "it has no step"),
    (object(), "expected one of:"),
    (_PythonIf(), "cannot be traced by JAX"),
    (_Rank4(), "observations of shape (2, 2, 2, 2) cannot be handled"),
])
def test_an_object_that_is_no_usable_env_is_one_config_error(env, message, tmp_path):
  with pytest.raises(esjax.ConfigError, match=None) as e:
    esjax.train(_config(generations=1), env=env, out_dir=str(tmp_path / "r"), progress=False)
  assert message in str(e.value) and "\n" not in str(e.value)
  assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("env, message", [
    ("tests.no_such_module:make", "module 'tests.no_such_module' does not import"),
    ("tests.envs.test_own_env:missing", "has no attribute 'missing'"),
    ("tests.envs.test_own_env:CONFIG", "dict object is not an env"),
])
def test_cli_import_errors_are_one_line_exit_2(env, message, tmp_path, capsys, monkeypatch):
  monkeypatch.chdir(ROOT)
  out = tmp_path / "r"
  assert cli.main(["train", "--env", env, "--quiet", "--out", str(out)]) == 2
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and message in err, err
  assert not out.exists()


def test_a_subprocess_cli_run_needs_no_pythonpath(tmp_path):
  """As a user types it, from the repository root: the current directory is importable."""
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  out = tmp_path / "r"
  proc = subprocess.run([sys.executable, "-m", "esjax", "train", "--env",
                         "tests.envs.test_own_env:make_env", "--population-size", "8",
                         "--generations", "1", "--eval-every", "0", "--quiet",
                         "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                        timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
