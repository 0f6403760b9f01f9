"""The paper's rollout tricks (esjax/problems/tricks.py): what each does to an episode.

Most tests drive the real rollout (``env_problem``, also through the Brax adapter) over tiny
scripted envs whose reward *is* the action the env received and whose observation is the step
counter, so a return reads back exactly which actions reached the env, and when.
"""
import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import esjax
from esjax.cli import app as cli_app
from esjax.cli import main
from esjax.envs import spaces
from esjax.problems import build
from esjax.problems.brax import brax_problem
from esjax.problems.interface import action_view, obs_view
from esjax.problems.rollout import env_problem
from esjax.problems.normalizer import init as norm_init
from esjax.problems.tricks import OFF, AdaptiveCutoff, RolloutOptions, snap
from esjax.config.train_config import PolicyConfig, ProblemConfig


class _Linear:
  """A policy whose action is ``params[0] + params[1] * obs[0]`` (obs[0]: the step count)."""

  @staticmethod
  def apply(params, x):
    return jnp.reshape(params[0] + params[1] * x[0], (1,))


class _Counter:
  """A protocol env: obs = [t], reward = the action it got, terminated at step ``done_at``."""
  observation_space = spaces.Box((1,))
  action_space = spaces.Box((1,), -1.0, 1.0)

  def __init__(self, done_at):
    self.done_at = done_at

  def reset(self, key):
    return jnp.zeros((), jnp.int32), jnp.zeros((1,))

  def step(self, t, action, key):
    t = t + 1
    return t, t * jnp.ones((1,)), jnp.asarray(action, jnp.float32).reshape(()), t >= self.done_at


def _counter_problem(done_at, length, **options):
  env = _Counter(done_at)
  return env_problem(env, _Linear(), obs_view(env.observation_space),
                     action_view(env.action_space), length, normalize_obs=False,
                     options=RolloutOptions(**options))


def _gymnax(done_at=1000, length=100, **options):
  problem = _counter_problem(done_at, length, **options)
  return jax.jit(jax.vmap(problem.evaluate, in_axes=(0, None, 0)))


def _run(evaluate, params, keys):
  params = jnp.broadcast_to(jnp.asarray(params, jnp.float32), (len(keys), 2))
  return jax.tree.map(np.asarray, evaluate(params, norm_init(1), keys))


def _keys(n, seed=0):
  return jax.random.split(jax.random.PRNGKey(seed), n)


def test_defaults_are_off_and_options_come_from_the_config():
  assert RolloutOptions.of(ProblemConfig()) == OFF
  assert not OFF.shapes_actions and OFF.frame_skip == 1 and OFF.obs_stat_prob == 1.0
  pc = ProblemConfig(action_noise=0.01, action_bins=5, frame_skip=4, obs_stat_prob=0.01)
  assert RolloutOptions.of(pc) == RolloutOptions(0.01, 5, 4, 0.01)
  assert RolloutOptions.of(pc).for_eval() == RolloutOptions(0.0, 5, 4, 1.0)


def test_frame_skip_repeats_each_action_and_counts_env_steps():
  # Action 0.01 * t, chosen at t = 0, 3, 6, 9 and held 3 env steps; terminal at t = 10, inside
  # the fourth repeat, which ends the episode there.
  ev = _run(_gymnax(done_at=10, frame_skip=3), [0.0, 0.01], _keys(1))
  assert ev.steps[0] == 10
  np.testing.assert_allclose(ev.ret[0], 0.01 * (0 * 3 + 3 * 3 + 6 * 3 + 9 * 1), rtol=1e-6)
  # Observations acted on: the first and the one after each live repeat (not the terminal).
  assert ev.obs_stats.count[0] == 4
  np.testing.assert_allclose(ev.obs_stats.sum[0], [0 + 3 + 6 + 9])
  # The step limit (episode_length, in env steps) also cuts a repeat short.
  ev = _run(_gymnax(length=7, frame_skip=3), [0.5, 0.0], _keys(1))
  assert ev.steps[0] == 7 and ev.ret[0] == pytest.approx(3.5)
  # frame_skip 1 is the plain loop: a new action every step.
  ev = _run(_gymnax(done_at=10), [0.0, 0.01], _keys(1))
  assert ev.steps[0] == 10 and ev.ret[0] == pytest.approx(0.01 * sum(range(10)))


def test_action_bins_put_every_action_on_the_grid():
  outs = jnp.linspace(-1.0, 1.0, 40)  # no output exactly between two bins
  ev = _run(_gymnax(done_at=1, action_bins=5), jnp.stack([outs, 0 * outs], 1), _keys(40))
  grid = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
  assert set(np.round(ev.ret, 6)) <= set(grid)
  np.testing.assert_allclose(ev.ret, grid[np.abs(np.asarray(outs)[:, None] - grid).argmin(1)],
                             atol=1e-6)
  # With noise too, what reaches the env is still on the grid.
  ev = _run(_gymnax(done_at=1, action_bins=3, action_noise=0.3), jnp.zeros((41, 2)), _keys(41))
  assert set(np.round(ev.ret, 6)) <= {-1.0, 0.0, 1.0} and len(set(ev.ret)) > 1
  np.testing.assert_array_equal(snap(jnp.array([-1.5, 1.0, 0.49, 0.51]), 3), [-1, 1, 0, 1])


def test_action_noise_is_zero_mean_keyed_by_the_rollout_key_and_clipped():
  n, t = 512, 20
  noisy = _gymnax(done_at=t, action_noise=0.1)
  ev = _run(noisy, [0.0, 0.0], _keys(n))  # return = the sum of t noise draws
  again = _run(noisy, [0.0, 0.0], _keys(n))
  np.testing.assert_array_equal(ev.ret, again.ret)  # the same keys, the same noise
  other = _run(noisy, [0.0, 0.0], _keys(n, seed=1))
  assert not np.any(ev.ret == other.ret)
  assert len(set(ev.ret)) == n  # every member its own noise
  assert np.all(ev.steps == t)
  std = 0.1 * np.sqrt(t)
  assert abs(ev.ret.mean()) < 4 * std / np.sqrt(n)
  assert ev.ret.std() == pytest.approx(std, rel=0.15)
  # Noise off: exactly the policy's action.
  assert np.all(_run(_gymnax(done_at=t), [0.0, 0.0], _keys(4)).ret == 0.0)
  # Clipped to [-1, 1] before scaling to the env's bounds.
  ev = _run(_gymnax(done_at=1, action_noise=1.0), [1.0, 0.0], _keys(n))
  assert ev.ret.max() == 1.0 and ev.ret.min() >= -1.0 and ev.ret.mean() < 1.0


def test_obs_stat_prob_counts_whole_episodes_with_probability_p():
  n, t = 4000, 5
  ev = _run(_gymnax(done_at=t, obs_stat_prob=0.3), [0.0, 0.0], _keys(n))
  full = t  # the first observation and the t - 1 live ones after it
  assert set(ev.obs_stats.count) == {0.0, float(full)}
  kept = ev.obs_stats.count > 0
  assert kept.mean() == pytest.approx(0.3, abs=0.03)
  np.testing.assert_array_equal(ev.obs_stats.sum[~kept], 0.0)
  np.testing.assert_allclose(ev.obs_stats.sum[kept, 0], sum(range(t)))
  np.testing.assert_array_equal(_run(_gymnax(done_at=t, obs_stat_prob=0.3), [0.0, 0.0],
                                     _keys(n)).obs_stats.count, ev.obs_stats.count)
  every = _run(_gymnax(done_at=t), [0.0, 0.0], _keys(8))
  assert np.all(every.obs_stats.count == full)
  assert np.all(ev.ret == 0) and np.all(ev.steps == t)  # nothing else changes


@flax.struct.dataclass
class _BraxState:
  t: jnp.ndarray
  obs: jnp.ndarray
  reward: jnp.ndarray
  done: jnp.ndarray


class _BraxCounter:
  """The counter env with Brax's reset(key) / step(state, action)."""
  observation_size = 1
  action_size = 1

  def reset(self, key):
    return _BraxState(jnp.zeros((), jnp.int32), jnp.zeros((1,)), jnp.zeros(()), jnp.zeros(()))

  def step(self, s, action):
    t = s.t + 1
    return _BraxState(t, t * jnp.ones((1,)), action.reshape(()), (t >= 10).astype(jnp.float32))


def test_the_brax_loop_applies_the_same_tricks():
  problem = brax_problem(_BraxCounter(), _Linear(), 100, normalize_obs=False,
                         options=RolloutOptions(action_bins=3, frame_skip=4))
  evaluate = jax.jit(jax.vmap(problem.evaluate, in_axes=(0, None, 0)))
  ev = _run(evaluate, [-0.3, 0.1], _keys(1))
  # Decisions at t = 0, 4, 8: -0.3 -> 0, 0.1 -> 0 (bin), 0.5 -> 1 (bin); terminal at t = 10.
  assert ev.steps[0] == 10 and ev.ret[0] == pytest.approx(0 * 4 + 0 * 4 + 1 * 2)
  assert ev.obs_stats.count[0] == 3
  shifted = brax_problem(_BraxCounter(), _Linear(), 100, normalize_obs=False, reward_shift=1.0,
                         options=RolloutOptions(frame_skip=4))
  ev = _run(jax.jit(jax.vmap(shifted.evaluate, in_axes=(0, None, 0))), [0.0, 0.0], _keys(1))
  assert ev.ret[0] == pytest.approx(-10.0)  # the shift is per live env step


def test_evaluation_runs_without_action_noise():
  pc = ProblemConfig(env="gymnax:Pendulum-v1", episode_length=20, action_noise=0.5,
                     action_bins=7)
  pol = PolicyConfig(hidden_sizes=(4,))
  key = jax.random.PRNGKey(0)
  built = build.build(pc, pol, key)
  plain = build.build(ProblemConfig(env="gymnax:Pendulum-v1", episode_length=20,
                                      action_bins=7), pol, key)
  assert built.eval_problem is not built.problem
  run = lambda problem: np.asarray(jax.jit(jax.vmap(problem.evaluate, in_axes=(None, None, 0)))(
      built.params, norm_init(3), _keys(8)).ret)
  np.testing.assert_array_equal(run(built.eval_problem), run(plain.problem))
  assert not np.array_equal(run(built.problem), run(plain.problem))
  assert build.build(ProblemConfig(env="gymnax:Pendulum-v1"), pol, key).eval_problem is not None


def test_a_short_training_run_with_every_trick():
  config = esjax.TrainConfig.of(env="gymnax:Pendulum-v1", population_size=8, episode_length=30,
                                hidden_sizes=(4,), generations=2, eval_every=1, eval_episodes=2,
                                action_noise=0.01, action_bins=5, frame_skip=2,
                                obs_stat_prob=0.5)
  result = esjax.train(config, progress=False)
  assert [m["generation"] for m in result.metrics] == [1, 2]
  assert all(np.isfinite(m["eval_return"]) for m in result.metrics)
  assert result.metrics[0]["episode_length_mean"] == 30  # env steps, not decisions
  # Observations counted: the first plus 15 decisions, for about half the episodes.
  count = float(np.asarray(result.state.normalizer.count))
  assert count % 16 == 0 and 0 < count < 2 * 8 * 16


def test_adaptive_cutoff_schedule():
  cut = AdaptiveCutoff(start=10, threshold=0.5, ratio=1.5, maximum=40)
  at = lambda limit, steps: int(cut.update(jnp.int32(limit), jnp.array(steps, jnp.int32)))
  assert at(10, [10, 10, 3, 9]) == 15  # half reached it: raised (the starter's >=)
  assert at(10, [10, 4, 3, 9]) == 10  # a quarter: kept
  assert at(30, [30, 30]) == 40  # never past episode_length
  assert int(AdaptiveCutoff(3, 0.5, 1.1, 40).update(jnp.int32(3), jnp.array([3]))) == 4
  assert AdaptiveCutoff.of(ProblemConfig(), 1000) is None


def test_a_step_limit_cuts_the_rollout():
  problem = _counter_problem(1000, 20, frame_skip=3)
  evaluate = jax.jit(jax.vmap(lambda p, k, n: problem.evaluate(p, norm_init(1), k, limit=n)))
  ev = evaluate(jnp.ones((3, 2)) * jnp.array([0.5, 0.0]), _keys(3), jnp.array([5, 20, 99]))
  np.testing.assert_array_equal(ev.steps, [5, 20, 20])  # never past episode_length
  np.testing.assert_allclose(ev.ret, [2.5, 10.0, 10.0])


def _cutoff_config(**kw):
  return esjax.TrainConfig.of(**{**dict(
      env="gymnax:Pendulum-v1", population_size=8, episode_length=50, hidden_sizes=(4,),
      eval_every=0, adaptive_cutoff=10, cutoff_ratio=2.0, cutoff_threshold=0.9), **kw})


@pytest.mark.slow  # 20-50 s: the quick tier keeps under 15 minutes
def test_adaptive_cutoff_grows_in_the_step_and_resumes_from_its_checkpoint(tmp_path):
  # Pendulum never terminates: every episode reaches the limit, so it doubles each generation.
  straight = esjax.train(_cutoff_config(generations=4), progress=False)
  assert [m["episode_cutoff"] for m in straight.metrics] == [10, 20, 40, 50]
  assert [m["episode_length_mean"] for m in straight.metrics] == [10, 20, 40, 50]
  assert int(straight.state.cutoff) == 50
  out = str(tmp_path / "run")
  esjax.train(_cutoff_config(generations=2), out_dir=out, progress=False)
  resumed = esjax.train(_cutoff_config(generations=4), out_dir=out, progress=False, resume=True)
  assert [m["episode_cutoff"] for m in resumed.metrics] == [10, 20, 40, 50]
  np.testing.assert_array_equal(resumed.flat_params, straight.flat_params)
  # Off: no state leaf, no metric.
  plain = esjax.train(_cutoff_config(generations=1, adaptive_cutoff=0), progress=False)
  assert plain.state.cutoff is None and "episode_cutoff" not in plain.metrics[0]


def test_adaptive_cutoff_is_refused_for_a_custom_problem():
  problem = esjax.black_box(lambda p, k: -jnp.sum(p**2))
  config = esjax.TrainConfig.of(population_size=4, normalize_obs=False, adaptive_cutoff=10)
  with pytest.raises(esjax.ConfigError, match="adaptive_cutoff=10"):
    esjax.setup(config, problem, jnp.zeros(4))


def test_env_only_settings_and_missing_params_are_refused_for_a_black_box():
  problem = esjax.black_box(lambda p, k: -jnp.sum(p**2))
  config = esjax.TrainConfig.of(population_size=4, normalize_obs=False, lanes=8)
  with pytest.raises(esjax.ConfigError, match="lanes=8 batches a rollout's episodes"):
    esjax.setup(config, problem, jnp.zeros(4))
  with pytest.raises(esjax.ConfigError, match="a custom problem needs initial_params"):
    esjax.setup(config.replace(lanes=0), problem)


BAD = [
    (dict(action_noise=-0.1), "action_noise=-0.1"),
    (dict(action_noise=float("nan")), "action_noise=nan"),
    (dict(action_bins=1), "action_bins=1"),
    (dict(action_bins=-2), "action_bins=-2"),
    (dict(action_bins=2.5), "action_bins=2.5"),
    (dict(frame_skip=0), "frame_skip=0"),
    (dict(obs_stat_prob=0.0), "obs_stat_prob=0.0"),
    (dict(obs_stat_prob=1.5), "obs_stat_prob=1.5"),
    (dict(env="gymnax:CartPole-v1", action_noise=0.01), "discrete"),
    (dict(env="gymnax:CartPole-v1", action_bins=3), "discrete"),
    (dict(adaptive_cutoff=-1), "adaptive_cutoff=-1"),
    (dict(adaptive_cutoff=20, episode_length=10), "adaptive_cutoff=20"),
    (dict(cutoff_threshold=0.0), "cutoff_threshold=0.0"),
    (dict(cutoff_threshold=1.2), "cutoff_threshold=1.2"),
    (dict(cutoff_ratio=1.0), "cutoff_ratio=1.0"),
    (dict(cutoff_ratio=float("inf")), "cutoff_ratio=inf"),
]


@pytest.mark.parametrize("flat,named", BAD)
def test_bad_values_are_one_line_config_errors(flat, named):
  with pytest.raises(esjax.ConfigError, match=named.replace(".", r"\.")) as e:
    esjax.TrainConfig.of(**flat).validate()
  assert "\n" not in str(e.value)


@pytest.mark.parametrize("flags,named", [
    (["--action-noise", "-1"], "action_noise"),
    (["--action-bins", "1"], "action_bins"),
    (["--frame-skip", "0"], "frame_skip"),
    (["--frame-skip", "two"], "two"),
    (["--obs-stat-prob", "2"], "obs_stat_prob"),
    (["--env", "gymnax:CartPole-v1", "--action-noise", "0.01"], "discrete"),
    (["--adaptive-cutoff", "-5"], "adaptive_cutoff"),
    (["--cutoff-ratio", "0.5"], "cutoff_ratio"),
    (["--env", "gymnax:Pendulum-v1", "--adaptive-cutoff", "500"], "episode length 200"),
])
def test_bad_flags_exit_2_with_one_line_and_no_output_dir(flags, named, tmp_path, capsys):
  out = tmp_path / "run"
  assert main(["train", *flags, "--out", str(out)]) == 2
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and err.startswith("esjax: error:") and named in err
  assert not out.exists()


def test_flags_reach_the_config():
  args = cli_app.build_parser().parse_args(
      ["train", "--action-noise", "0.01", "--action-bins", "5", "--frame-skip", "4",
       "--obs-stat-prob", "0.01", "--adaptive-cutoff", "100", "--cutoff-threshold", "0.3",
       "--cutoff-ratio", "1.2"])
  pc = cli_app.config_from_args(args).problem
  assert (pc.action_noise, pc.action_bins, pc.frame_skip, pc.obs_stat_prob) == (0.01, 5, 4, 0.01)
  assert (pc.adaptive_cutoff, pc.cutoff_threshold, pc.cutoff_ratio) == (100, 0.3, 1.2)
  assert cli_app.config_from_args(cli_app.build_parser().parse_args(["train"])).problem == \
      ProblemConfig()
