"""`esjax train`: tiny settings write the run files; every bad flag exits 2 with one line."""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import esjax
from esjax.cli import main

from tests.helpers.subproc import ROOT
TINY = ["--population-size", "8", "--episode-length", "30", "--generations", "3",
        "--eval-every", "2", "--eval-episodes", "2", "--hidden-sizes", "8,8", "--quiet"]


def run_cli(*args, timeout=300):
  env = dict(os.environ, PYTHONPATH=ROOT)
  return subprocess.run([sys.executable, "-m", "esjax", *args], capture_output=True, text=True,
                        timeout=timeout, env=env)


@pytest.mark.slow
def test_train_writes_config_metrics_params(tmp_path):
  out = tmp_path / "run"
  proc = run_cli("train", *TINY, "--out", str(out))
  assert proc.returncode == 0, proc.stderr
  assert str(out) in proc.stdout
  config = json.loads((out / "config.json").read_text())
  assert config["esjax_version"] == esjax.__version__
  assert config["problem"]["env"] == "hopper" and config["strategy"]["population_size"] == 8
  assert config["policy"]["hidden_sizes"] == [8, 8]
  lines = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
  assert [l["generation"] for l in lines] == [1, 2, 3]
  for l in lines:
    for key in ("env_steps", "wall_s", "pop_return_mean", "pop_return_max"):
      assert key in l
  assert "eval_return" in lines[1] and "eval_return" in lines[2]
  assert "eval_return" not in lines[0]
  assert lines[0]["wall_s"] <= lines[-1]["wall_s"]
  saved = esjax.load(str(out))
  assert saved.flat_params.ndim == 1
  act = saved.act(np.zeros(11, np.float32))
  assert act.shape == (3,)


BAD = [
    (["--env", "nosuchenv"], "nosuchenv"),
    (["--backend", "warp9"], "warp9"),
    (["--population-size", "7"], "7"),
    (["--population-size", "abc"], "abc"),
    (["--sigma", "0"], "sigma"),
    (["--sigma", "-0.1"], "sigma"),
    (["--learning-rate", "0"], "learning_rate"),
    (["--learning-rate", "x"], "x"),
    (["--episode-length", "0"], "episode_length"),
    (["--episode-length", "1.5"], "1.5"),
    (["--env-steps", "1.5e3x"], "1.5e3x"),
    (["--env-steps", "1e-3"], "1e-3"),
    (["--generations", "-3"], "generations"),
    (["--hidden-sizes", "a,b"], "a,b"),
    (["--shaping", "softmax"], "softmax"),
]


@pytest.mark.parametrize("flags,named", BAD)
def test_bad_flag_exits_2_with_one_line_and_no_output_dir(flags, named, tmp_path, capsys):
  out = tmp_path / "run"
  assert main(["train", *flags, "--out", str(out)]) == 2
  err = capsys.readouterr().err.strip()
  assert len(err.splitlines()) == 1 and err.startswith("esjax: error:")
  assert named in err
  assert not out.exists()


def test_population_not_divisible_by_devices(tmp_path, capsys):
  # 2 forced devices are not available in-process; the validator is the same code path.
  from esjax.config.train_config import TrainConfig
  from esjax.errors import ConfigError
  with pytest.raises(ConfigError, match="not divisible by the 4 devices"):
    TrainConfig.of(population_size=6).validate(device_count=4)
  with pytest.raises(ConfigError, match="splits a mirrored pair"):
    TrainConfig.of(population_size=12).validate(device_count=4)


def test_bad_flag_in_a_real_process_exits_2_without_traceback(tmp_path):
  proc = run_cli("train", "--sigma", "0", "--out", str(tmp_path / "r"), timeout=120)
  assert proc.returncode == 2
  assert "Traceback" not in proc.stderr
  assert proc.stderr.strip().splitlines() == ["esjax: error: sigma=0.0 is invalid; expected a "
                                              "finite number > 0"]
  assert not (tmp_path / "r").exists()


def test_existing_out_dir_is_refused(tmp_path, capsys):
  (tmp_path / "old").mkdir()
  (tmp_path / "old" / "config.json").write_text("{}")
  assert main(["train", "--out", str(tmp_path / "old")]) == 2
  assert "already exists" in capsys.readouterr().err


def test_every_setting_has_one_declaration_that_the_parser_and_resume_rules_use():
  import dataclasses
  from esjax.cli import app
  from esjax.config import settings
  from esjax.config.train_config import FIELDS, RESUMABLE, TrainConfig
  sections = [getattr(TrainConfig(), s.name) for s in dataclasses.fields(TrainConfig)]
  declared = [f for s in sections for f in dataclasses.fields(s) if f.name != "options"]
  assert len(declared) == len(FIELDS)
  for f in declared:  # each with its help and a group of `esjax train --help`
    assert f.metadata["help"] and f.metadata["group"] in settings.GROUPS, f.name
  train = next(a for a in app.build_parser()._actions  # pylint: disable=protected-access
               if isinstance(a, argparse._SubParsersAction)).choices["train"]
  by_dest = {a.dest: a for a in train._actions}  # pylint: disable=protected-access
  for name, d in FIELDS.items():
    action = by_dest[name]  # one flag per field, its help the declaration's
    assert action.help.replace("%%", "%").startswith(d.meta["help"]), name
    assert action.default is None  # unset: the config's own default applies
    flag = ("--no-" if d.default is True else "--") + name.replace("_", "-")
    assert action.option_strings == [flag]
  assert "(default: 8)" in by_dest["eval_episodes"].help
  assert app.config_from_args(train.parse_args([])) == TrainConfig()
  # The fields that may change on --resume come from the declarations.
  assert set(RESUMABLE) == {n for n, d in FIELDS.items() if d.meta["resumable"]} == {
      "generations", "env_steps", "checkpoint_every", "keep_checkpoints", "num_devices",
      "member_chunk", "lanes", "lane_narrowings", "hosts", "link_gbps",
      "generations_per_call"}
  assert set(RESUMABLE) <= app._RESUMABLE  # pylint: disable=protected-access


def test_integer_flags_take_budgets_written_1e6_or_with_underscores():
  from esjax.cli import app
  args = app.build_parser().parse_args(["train", "--env-steps", "1e6", "--generations",
                                        "1_000", "--population-size", "2.56e2"])
  rt = app.config_from_args(args).runtime
  assert (rt.env_steps, rt.generations) == (1_000_000, 1000)
  assert app.config_from_args(args).strategy.population_size == 256


@pytest.mark.parametrize("typed,want", [([], 0), (["--lanes", "auto"], None),
                                         (["--lanes", "64"], 64)])
def test_lanes_auto_reaches_the_config_as_none(typed, want):
  # None is also what an untyped flag holds: the typed ones are told apart as main does.
  from esjax.cli import app
  argv = ["train", *typed]
  args = app.build_parser().parse_args(argv)
  args.given = app._given_flags(argv[1:])  # pylint: disable=protected-access
  assert app.config_from_args(args).runtime.lanes == want


def test_no_generation_limit_is_none_and_needs_an_env_step_budget():
  from esjax.cli import app
  from esjax.config.train_config import TrainConfig
  from esjax.errors import ConfigError
  args = app.build_parser().parse_args(["train", "--env-steps", "1000"])
  config = app.config_from_args(args).validate()
  assert config.runtime.generations is None and config.runtime.env_steps == 1000
  assert TrainConfig.of(env_steps=1000).runtime.generations == 60  # in Python: as given
  with pytest.raises(ConfigError, match="generations=None .* without env_steps"):
    TrainConfig.of(generations=None).validate()
  # A config.json of esjax 0.2 spelled "no limit" 2**31 - 1: it loads as it was.
  old = json.loads(TrainConfig.of(env_steps=1000).to_json())
  old["runtime"]["generations"] = 2147483647
  assert TrainConfig.from_dict(old).validate().runtime.generations == 2147483647


def test_version_prints_the_package_version(capsys):
  with pytest.raises(SystemExit) as e:
    main(["--version"])
  assert e.value.code == 0 and capsys.readouterr().out.strip() == f"esjax {esjax.__version__}"


def test_a_misspelt_setting_from_python_is_named_with_its_closest_match():
  # TrainConfig.of takes any unknown flat name for a strategy option; validate says which.
  with pytest.raises(esjax.ConfigError) as e:
    esjax.TrainConfig.of(sigmaa=0.1).validate()
  assert str(e.value).startswith("sigmaa=0.1 (--sigmaa) is neither a setting nor an option of "
                                 "strategy 'open_es'; did you mean sigma? its options: ")
  with pytest.raises(esjax.ConfigError, match="did you mean population_size"):
    esjax.TrainConfig.of(popsize=8).validate()
