"""Presets: every preset is a valid config listed once, and explicit flags win over a preset."""
import pytest

import esjax
from esjax import cli
from esjax.cli import app as cli_app
from esjax.config import presets


def test_every_preset_is_a_valid_config_and_listed_once(capsys):
  for name, preset in presets.PRESETS.items():
    config = presets.config(name)
    config.validate()
    assert config.problem.env == preset.fields["env"]
  paper = presets.config("humanoid_paper")
  opts = paper.strategy.resolved()
  assert (opts["sigma"], opts["learning_rate"], opts["weight_decay"], paper.policy.hidden_sizes,
          paper.policy.activation, opts["shaping"], opts["optimizer"]) == (
              0.02, 0.01, 0.005, (256, 256), "tanh", "centered_rank", "adam")
  assert paper.strategy.population_size >= 10000
  assert cli.main(["presets"]) == 0
  lines = capsys.readouterr().out.splitlines()
  assert [l.split()[0] for l in lines] == list(presets.PRESETS)


def _parsed(argv):
  args = cli_app.build_parser().parse_args(argv)
  return cli_app.config_from_args(cli_app.apply_preset(args, argv[1:]))


def test_explicit_flags_override_preset_even_when_equal_to_the_default():
  config = _parsed(["train", "--preset", "humanoid_paper", "--sigma", "0.05",
                    "--generations", "7", "--hidden-sizes", "16"])
  assert config.strategy.options["sigma"] == 0.05 == esjax.strategies.options.options(esjax.open_es)["sigma"]  # explicit default value wins
  assert config.runtime.generations == 7 and config.policy.hidden_sizes == (16,)
  assert config.strategy.options["learning_rate"] == 0.01 and config.strategy.population_size == 10000  # from the preset
  # An env-step budget without --generations decides the length, as without a preset.
  config = _parsed(["train", "--preset", "ant", "--env-steps", "1000"])
  assert config.runtime.env_steps == 1000 and config.runtime.generations is None and config.problem.env == "ant"
  config = _parsed(["train", "--preset", "swimmer", "--no-normalize-obs"])
  assert config.policy.kind == "linear" and config.problem.normalize_obs is False


def test_another_strategy_drops_the_presets_strategy_options_only(capsys):
  # hopper's learning_rate is not a sep_cma_es option, walker2d's reward_shift not open_es's:
  # the user never typed them, so they are not applied (env, policy, budget still are).
  config = _parsed(["train", "--preset", "hopper", "--strategy", "sep_cma_es"]).validate()
  assert config.strategy.name == "sep_cma_es" and config.strategy.options == {}
  assert config.problem.env == "hopper" and config.runtime.generations == 60
  err = capsys.readouterr().err
  assert err.count("\n") == 1 and "options learning_rate, sigma are not applied" in err
  config = _parsed(["train", "--preset", "walker2d", "--strategy", "open_es"]).validate()
  assert config.strategy.options == {} and config.policy.kind == "linear"
  assert config.strategy.population_size == 80
  # The preset's own strategy typed again keeps its options; typed options are still checked.
  config = _parsed(["train", "--preset", "walker2d", "--strategy", "ars"]).validate()
  assert config.strategy.options["reward_shift"] == 1.0
  with pytest.raises(esjax.ConfigError, match="learning_rate=0.1 .* is neither a setting"):
    _parsed(["train", "--preset", "hopper", "--strategy", "sep_cma_es",
             "--learning-rate", "0.1"]).validate()


def test_a_preset_value_the_user_sweeps_is_not_applied():
  config = _parsed(["train", "--preset", "hopper", "--sweep", "sigma=0.1,0.2"]).validate()
  assert "sigma" not in config.strategy.options and config.strategy.sweep == {"sigma": (0.1, 0.2)}
  assert config.strategy.options["learning_rate"] == 0.02


def test_unknown_preset_is_one_line_exit_2(tmp_path, capsys):
  assert cli.main(["train", "--preset", "nope", "--out", str(tmp_path / "x")]) == 2
  err = capsys.readouterr().err
  assert "unknown preset 'nope'" in err and "humanoid_paper" in err and err.count("\n") == 1
  assert not (tmp_path / "x").exists()
