"""Hyper-parameter sweeps through one compiled step (issue 12, part 3): every grid point equals
its single run, the whole grid compiles once, and bad sweeps are one line."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import esjax
from esjax.config import sweep as sweep_lib
from esjax.cli import main
from tests.config.test_cli import run_cli

SWEEP = {"sigma": (0.05, 0.2), "learning_rate": (0.01, 0.05)}


def _problem():
  return esjax.black_box(lambda p, k: -jnp.sum((p - 1.0) ** 2) + 0.01 * jax.random.normal(k))


def _config(**kw):
  kw = {"population_size": 16, "generations": 6, "eval_every": 3, "eval_episodes": 2,
        "normalize_obs": False, "generations_per_call": 3, **kw}
  return esjax.TrainConfig.of(**kw)


def test_the_grid_is_every_combination_first_name_slowest():
  assert sweep_lib.points(SWEEP) == [
      {"sigma": 0.05, "learning_rate": 0.01}, {"sigma": 0.05, "learning_rate": 0.05},
      {"sigma": 0.2, "learning_rate": 0.01}, {"sigma": 0.2, "learning_rate": 0.05}]
  assert sweep_lib.points({}) == [{}]
  assert _config(sweep=SWEEP, num_seeds=2).num_runs == 8


@pytest.mark.parametrize("strategy,sweep", [
    ("open_es", SWEEP),
    ("snes", {"sigma": (0.05, 0.2), "sigma_learning_rate": (0.05, 0.2)}),
    ("ars", {"learning_rate": (0.01, 0.05)}),
])
def test_each_sweep_point_equals_its_single_run(strategy, sweep):
  problem, x0 = _problem(), jnp.zeros(6)
  config = _config(strategy=strategy, sweep=sweep, num_seeds=2, seed=3)
  multi = esjax.train(config, problem=problem, initial_params=x0, progress=False)
  grid = sweep_lib.points(sweep)
  assert multi.flat_params.shape == (len(grid) * 2, 6)
  finals = []
  for i, point in enumerate(grid):
    for s in range(2):
      one = esjax.train(_config(strategy=strategy, seed=3 + s, **point), problem=problem,
                        initial_params=x0, progress=False)
      np.testing.assert_array_equal(multi.flat_params[2 * i + s], one.flat_params)
      finals.append(one.flat_params)
  # The settings really differ: no two points end at the same params.
  assert len({np.asarray(f).tobytes() for f in finals[::2]}) == len(grid)


def test_the_whole_grid_compiles_once():
  config = _config(sweep=SWEEP, num_seeds=2)
  s = esjax.setup(config, _problem(), initial_params=jnp.zeros(6))
  state = s.state
  for n in (3, 1, 2):
    state, _, _ = s.run_generations(state, n)
  assert s.run_generations._cache_size() == 1
  # The traced hyper-parameters really are per run: sigma and the injected learning rate.
  np.testing.assert_array_equal(np.asarray(state.es.sigma), np.repeat(np.float32([0.05, 0.05, 0.2, 0.2]), 2))
  np.testing.assert_allclose(np.asarray(state.es.opt_state.hyperparams["learning_rate"]),
                             np.repeat(np.float32([0.01, 0.05, 0.01, 0.05]), 2))


def test_the_run_names_the_best_setting(capsys):
  # Larger sigma and learning rate reach the optimum at 1 faster from 0 on this quadratic.
  config = _config(sweep={"sigma": (0.01, 0.3), "learning_rate": (0.001, 0.1)}, generations=9)
  result = esjax.train(config, problem=_problem(), initial_params=jnp.zeros(6))
  assert result.best_setting == {"sigma": 0.3, "learning_rate": 0.1}
  assert "best setting: sigma=0.3, learning_rate=0.1 (eval_return" in capsys.readouterr().out
  rec = result.metrics[-1]
  assert len(rec["eval_return_per_seed"]) == 4


@pytest.mark.parametrize("flags,message", [
    (["--sweep", "noise_chunk=1,2"], "--sweep noise_chunk=... is not sweepable for strategy "
     "'open_es'; sweepable: sigma, learning_rate"),
    (["--sweep", "sigma"], "--sweep sigma is invalid; expected NAME=V1,V2,..."),
    (["--sweep", "sigma=0.1,abc"], "--sweep sigma=0.1,abc is invalid: 'abc' is not a number"),
    (["--sweep", "sigma=0.1,-0.2"], "sigma=-0.2 is invalid; expected a finite number > 0"),
    # The first grid point is checked too (its values once went untested and trained).
    (["--sweep", "sigma=-0.1,0.1"], "sigma=-0.1 is invalid; expected a finite number > 0"),
    (["--sweep", "sigma=nan,0.1"], "sigma=nan is invalid; expected a finite number > 0"),
    (["--sweep", "sigma=inf"], "sigma=inf is invalid; expected a finite number > 0"),
    (["--sweep", "learning_rate=0,0.1"], "learning_rate=0.0 is invalid; expected a finite"),
    (["--sweep", "sigma=0.1,0.2", "--sigma", "0.3"], "sigma is both swept (--sweep sigma=...) "
     "and set (sigma=0.3, --sigma); the sweep's values would replace it: drop one"),
    (["--sweep", "sigma=0.1,0.1"], "--sweep sigma=0.1,0.1 repeats a value"),
    (["--sweep", "sigma=0.1", "--sweep", "sigma=0.2"], "--sweep sigma is given twice"),
    (["--strategy", "pgpe", "--population-size", "8", "--sweep", "learning_rate=0.1,0.2"],
     "--sweep learning_rate=... is not sweepable for strategy 'pgpe'"),
])
def test_bad_sweeps_are_one_line_exit_2(tmp_path, capsys, flags, message):
  out = tmp_path / "run"
  assert main(["train", "--out", str(out), "--generations", "1"] + flags) == 2
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and message in err, err
  assert not out.exists()


def test_a_swept_option_also_set_is_refused_in_the_python_api_too():
  with pytest.raises(esjax.ConfigError, match=r"^sigma is both swept .* drop one$"):
    _config(sigma=0.3, sweep={"sigma": (0.1, 0.2)}).validate()
  _config(learning_rate=0.3, sweep={"sigma": (0.1, 0.2)}).validate()  # another option: fine


def test_cli_sweep_writes_every_point_and_plots_one_curve_each(tmp_path):
  out = tmp_path / "run"
  p = run_cli("train", "--env", "gymnax:CartPole-v1", "--population-size", "8",
               "--generations", "2", "--eval-every", "2", "--eval-episodes", "2",
               "--episode-length", "50", "--sweep", "sigma=0.05,0.1", "--out", str(out),
               "--quiet")
  assert p.returncode == 0, p.stderr
  config = json.loads((out / "config.json").read_text())
  assert config["strategy"]["sweep"] == {"sigma": [0.05, 0.1]}
  recs = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
  assert all(len(r["pop_return_mean_per_seed"]) == 2 for r in recs)
  assert len(recs[-1]["eval_return_per_seed"]) == 2
  p = run_cli("plot", str(out))
  assert p.returncode == 0, p.stderr
  from esjax.viz import plot
  assert plot.curve_labels(str(out)) == ["run: sigma=0.05", "run: sigma=0.1"]
  assert (out / "curves.png").stat().st_size > 0
