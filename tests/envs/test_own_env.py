"""Your own environment (issue 22): an env written here, in no library, trains through
``esjax.train(env=...)`` and through ``--env tests.envs.test_own_env:make_env``; eval, resume and the
device count behave as for a registered env; bad envs fail in one line."""
import collections
import dataclasses
import json
import os
import subprocess
import sys
import types

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
  # No evaluation ran (eval_every=0): there is no final one to rerun (esjax eval --final).
  with pytest.raises(esjax.ConfigError, match="ran no evaluation .eval_every=0.; drop --final"):
    esjax.load(str(tmp_path / "whole"), env=PointMass()).evaluate_final()


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


def test_multi_discrete_actions_train(tmp_path):
  out = str(tmp_path / "run")
  result = esjax.train(_config(generations=15, eval_every=15, sigma=0.1), env=_MultiDiscrete(),
                       out_dir=out, progress=False)
  assert result.act(jnp.eye(3)[1]).shape == (2,)
  assert result.metrics[-1]["eval_return"] >= 15  # chance: 10 x 2/3
  # Loaded back, the policy picks the same choice per dimension.
  saved = esjax.load(out, env=_MultiDiscrete())
  assert saved.act(jnp.eye(3)).tolist() == result.act(jnp.eye(3)).tolist()


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
  observation_space = spaces.Box((1, 1, 2, 3))

  def reset(self, key):
    state, obs = super().reset(key)
    return state, obs.reshape(self.observation_space.shape)

  def step(self, state, action, key):
    state, obs, reward, done = super().step(state, action, key)
    return state, obs.reshape(self.observation_space.shape), reward, done


class _ObsLongerThanItIs(PointMass):
  observation_space = spaces.Box((7,))


class _StepWithoutDone(PointMass):
  def step(self, state, action, key):
    return super().step(state, action, key)[:3]


class _RewardPerDimension(PointMass):
  def step(self, state, action, key):
    state, obs, _, done = super().step(state, action, key)
    return state, obs, -jnp.abs(state[0] - state[2]), done


class _DonePerDimension(PointMass):
  def step(self, state, action, key):
    state, obs, reward, _ = super().step(state, action, key)
    return state, obs, reward, jnp.zeros(2, bool)


_PointObs = collections.namedtuple("_PointObs", "pos vel target")


class _DictObs(PointMass):
  """PointMass's observation as a dict of its parts (``as_struct``: a namedtuple of them, as
  Jumanji gives)."""
  observation_space = spaces.Dict({"pos": spaces.Box((2,)), "vel": spaces.Box((2,)),
                                   "target": spaces.Box((2,))})

  def __init__(self, declared=None, as_struct: bool = False):
    super().__init__()
    if declared is not None:
      self.observation_space = spaces.Dict(declared)
    self.as_struct = as_struct

  def _obs(self, state):
    return _PointObs(*state) if self.as_struct else dict(zip(_PointObs._fields, state))

  def reset(self, key):
    state, _ = super().reset(key)
    return state, self._obs(state)

  def step(self, state, action, key):
    state, _, reward, done = super().step(state, action, key)
    return state, self._obs(state), reward, done


_BOX2 = spaces.Box((2,))


@pytest.mark.parametrize("env, message", [
    (_NoStep(), "it has no step"),
    (object(), "expected one of:"),
    (PointMass, "env=PointMass is a class; pass an instance, e.g. PointMass()"),
    (_PythonIf(), "cannot be traced by JAX"),
    (_Rank4(), "observations of shape (1, 1, 2, 3) cannot be handled"),
    (_ObsLongerThanItIs(), "env 'custom:_ObsLongerThanItIs': reset returned an observation of "
     "shape (6,); its observation_space declares shape (7,)"),
    (_StepWithoutDone(), "step returned 3 items; expected (state, obs, reward, done)"),
    (_RewardPerDimension(), "step returned a reward of shape (2,); expected a scalar"),
    (_DonePerDimension(), "step returned a done of shape (2,); expected a scalar"),
    (_DictObs({"pos": _BOX2, "speed": _BOX2}), "an observation of type dict with no entry "
     "'speed'; its observation_space declares a Dict of 'pos', 'speed'"),
    (_DictObs({"pos": spaces.Box((3,))}, as_struct=True), "reset returned an observation entry "
     "'pos' of shape (2,); its observation_space declares shape (3,)"),
])
def test_an_object_that_is_no_usable_env_is_one_config_error(env, message, tmp_path):
  with pytest.raises(esjax.ConfigError, match=None) as e:
    esjax.train(_config(generations=1), env=env, out_dir=str(tmp_path / "r"), progress=False)
  assert message in str(e.value) and "\n" not in str(e.value)
  assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("as_struct", [False, True])
def test_a_dict_or_struct_observation_that_fits_its_space_trains(as_struct):
  result = esjax.train(_config(generations=1, eval_every=0), env=_DictObs(as_struct=as_struct),
                       progress=False)
  assert np.isfinite(result.metrics[-1]["pop_return_mean"])


_BraxState = collections.namedtuple("_BraxState", "obs reward done")


class _WarpLoaded:
  """What esjax reads of a Playground env loaded with Playground 0.2's default impl, warp:
  Brax's API (reset(key), step(state, action); the state's obs, reward, done) and a config."""
  _config = types.SimpleNamespace(impl="warp", episode_length=20)
  observation_size, action_size = 2, 1

  def reset(self, key):
    return _BraxState(jax.random.normal(key, (2,)), jnp.zeros(()), jnp.zeros(()))

  def step(self, state, action):
    return state._replace(obs=state.obs + action, reward=-jnp.sum(state.obs ** 2))


@pytest.mark.skipif(any(d.platform == "gpu" for d in jax.devices()), reason="warp runs on GPU")
def test_a_playground_object_loaded_for_warp_on_a_cpu_is_one_config_error(tmp_path):
  from esjax.envs import adapters  # pylint: disable=g-import-not-at-top
  assert isinstance(adapters.as_env(_WarpLoaded()), adapters.BraxEnv)
  with pytest.raises(esjax.ConfigError) as e:
    esjax.train(_config(generations=1), env=_WarpLoaded(), out_dir=str(tmp_path / "r"),
                progress=False)
  assert "env 'custom:_WarpLoaded' was loaded with impl='warp', which needs" in str(e.value)
  assert "config_overrides={'impl': 'jax'}" in str(e.value) and "\n" not in str(e.value)


def test_a_run_is_named_after_the_object_given_an_adapter_after_its_env():
  from esjax.envs import BraxEnv, registry  # pylint: disable=g-import-not-at-top

  class Wrapper(PointMass):  # a Brax wrapper keeps the env it wraps as ``env``
    env = PointMass()

  assert registry.custom_name(Wrapper()) == "custom:Wrapper"
  assert registry.custom_name(BraxEnv(Wrapper())) == "custom:Wrapper"


@dataclasses.dataclass(frozen=True)
class _Params:
  max_steps_in_episode: int = 20


class _GymnaxBox:
  """gymnax's ``spaces.Box``, as much of it as esjax reads."""

  def __init__(self, shape, low=-1.0, high=1.0):
    self.shape, self.low, self.high = shape, low, high

  def sample(self, key):
    return jax.random.uniform(key, self.shape, minval=self.low, maxval=self.high)


class _GymnaxCart:
  """A cart on a line to bring to 0, gymnax-style (reset_env, step_env, default_params), its
  declared (1,) action read as ``action[0]``; with ``scalar_force`` the action is used as is,
  as gymnax's Pendulum uses its torque: a (1,) action would grow the scalar state to (1,)."""
  default_params = _Params()

  def __init__(self, scalar_force: bool = False):
    self.scalar_force = scalar_force

  def observation_space(self, params):
    return _GymnaxBox((2,), -10.0, 10.0)

  def action_space(self, params):
    return _GymnaxBox((1,))

  def reset_env(self, key, params):
    state = (jax.random.uniform(key, minval=-1.0, maxval=1.0), jnp.zeros(()))
    return jnp.stack(state), state

  def step_env(self, key, state, action, params):
    pos, vel = state
    vel = vel + 0.1 * (action if self.scalar_force else action[0])
    state = (pos + 0.1 * vel, vel)
    return jnp.stack(state), state, -jnp.abs(state[0]), jnp.zeros((), bool), {}


@pytest.mark.parametrize("scalar_force", [False, True])
def test_a_gymnax_style_env_gets_its_1_d_action_as_it_steps_with_it(scalar_force):
  from esjax.envs import adapters  # pylint: disable=g-import-not-at-top
  env = adapters.as_env(_GymnaxCart(scalar_force))
  state, _ = env.reset(jax.random.PRNGKey(0))
  state, obs, reward, done = env.step(state, jnp.ones(1), jax.random.PRNGKey(1))
  assert obs.shape == (2,) and reward.shape == done.shape == ()
  result = esjax.train(_config(generations=2, eval_every=2, eval_episodes=2),
                       env=_GymnaxCart(scalar_force), progress=False)
  assert np.isfinite(result.metrics[-1]["eval_return"])


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


def test_an_env_with_discrete_observations_is_one_config_error():
  gymnax = pytest.importorskip("gymnax")
  env, _ = gymnax.make("FrozenLake-misc")  # an integer cell index as its observation
  with pytest.raises(esjax.ConfigError, match=r"^env 'custom:FrozenLake': reset returned an "
                     r"observation of shape \(\) under an observation_space Discrete; esjax "
                     r"reads a Box or a Dict of boxes$"):
    esjax.train(_config(generations=1), env=env, progress=False)


def test_each_seed_of_an_env_run_is_the_single_run_with_its_seed_from_its_own_init():
  # The policy's initial weights too: seed 6 of a run from seed 5 starts where seed 6 does.
  cfg = _config(generations=2, eval_every=0, population_size=16)
  multi = esjax.train(cfg.replace(num_seeds=2, seed=5), env=PointMass(), progress=False)
  for s in range(2):
    one = esjax.train(cfg.replace(seed=5 + s), env=PointMass(), progress=False)
    np.testing.assert_array_equal(multi.flat_params[s], one.flat_params)
  assert not np.array_equal(multi.flat_params[0], multi.flat_params[1])


class _Falls(PointMass):
  """PointMass whose episode ends once the mass leaves a small disc: policies fall at
  different steps, so seeds spend an env-step budget in different numbers of generations."""

  def step(self, state, action, key):
    state, obs, reward, _ = super().step(state, action, key)
    return state, obs, reward, jnp.linalg.norm(state[0]) > 0.15


def test_final_evaluation_of_several_seeds_is_run_0_s_at_its_own_generation(tmp_path):
  out = str(tmp_path / "run")
  cfg = _config(num_seeds=2, population_size=16, eval_every=1, eval_episodes=4,
                env_steps=4000, generations=None, sigma=0.5)
  esjax.train(cfg, env=_Falls(), out_dir=out, progress=False)
  last = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))][-1]
  gens = last["generation_per_seed"]
  assert gens[0] != gens[1], gens  # the budget stopped the seeds at different generations
  returns = esjax.load(out, env=_Falls()).evaluate_final()
  assert float(np.mean(returns)) == pytest.approx(last["eval_return_per_seed"][0], rel=1e-6,
                                                  abs=1e-6)


def test_eval_of_a_several_seed_run_says_it_uses_run_0(tmp_path, capsys, monkeypatch):
  monkeypatch.chdir(ROOT)
  out = tmp_path / "run"
  assert cli.main(["train", "--env", "tests.envs.test_own_env:make_env", "--num-seeds", "2",
                   "--seed", "4", "--population-size", "16", "--hidden-sizes", "8",
                   "--generations", "2", "--eval-every", "2", "--eval-episodes", "4",
                   "--quiet", "--out", str(out)]) == 0
  final = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()][-1]
  capsys.readouterr()
  assert cli.main(["eval", str(out), "--final"]) == 0
  captured = capsys.readouterr()
  assert captured.err == (f"esjax: note: {str(out)!r} holds 2 runs (sweep points x seeds); "
                          "this uses run 0 (the first point, seed 4)\n")
  assert f"mean return {final['eval_return_per_seed'][0]:.2f}" in captured.out
