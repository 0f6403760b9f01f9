"""``esjax`` command line: parse, build a TrainConfig, call the library.

User mistakes end with one line ``esjax: error: ...`` and exit code 2, before any output
directory exists; nothing prints a traceback for them. So does a second run on a directory
another live run is writing (the line names its pid and host). A run whose output cannot be
written (disk full, directory removed or made read-only) ends with one line naming the path
and the error, and exit code 74 (EX_IOERR); its earlier checkpoints stay resumable. Warnings
go to stderr, results to stdout.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
from typing import Any, NamedTuple

from esjax.cli import commands
from esjax.config import settings
from esjax.config.train_config import FIELDS, RESUMABLE, TrainConfig
from esjax.strategies import REGISTRY
from esjax.strategies import options as options_lib
from esjax.errors import ConfigError, RunIOError

EXIT_USAGE = 2
EXIT_IO = RunIOError.EXIT_IO  # 74: a run's output could not be written (disk, directory)


class _Parser(argparse.ArgumentParser):
  def error(self, message):  # one line, no usage dump
    raise ConfigError(message)


def _dashed(names) -> str:
  return ", ".join("--" + n.replace("_", "-") for n in names)


class Flag(NamedTuple):
  """A flag of ``esjax train`` that is not a config field (where the run goes, how it is
  watched); ``resumable``: it may be given with ``--resume``."""
  group: str
  names: tuple[str, ...]
  kwargs: dict[str, Any]
  resumable: bool = False

  @property
  def dest(self) -> str:
    return self.kwargs.get("dest") or self.names[0].lstrip("-").replace("-", "_")


def _flag(group: str, *names: str, resumable: bool = False, **kwargs) -> Flag:
  return Flag(group, names, kwargs, resumable)


# The command line's own flags that --resume takes (those marked resumable below).
_RESUMABLE_CLI = "--quiet and the logging, compile-cache, memory and process flags"
_FLAGS = (
    _flag(settings.OUTPUT, "--out", help="output directory (default: runs/ENV-TIMESTAMP)"),
    _flag(settings.OUTPUT, "--resume", metavar="DIR", resumable=True,
          help="continue the run in DIR from its newest good checkpoint, with its saved config "
          f"(only {_dashed(RESUMABLE)} may change, besides {_RESUMABLE_CLI})"),
    _flag(settings.OUTPUT, "--preset",
          help="start from a named configuration (`esjax presets`); flags override it"),
    _flag(settings.OUTPUT, "--quiet", action="store_true", resumable=True,
          help="no progress output"),
    _flag(settings.RUN, "--compile-cache", metavar="DIR", resumable=True,
          help="persistent JAX compilation cache (default: $JAX_COMPILATION_CACHE_DIR, else "
          "$XDG_CACHE_HOME/esjax/jax-compile, ~/.cache/esjax/jax-compile without it)"),
    _flag(settings.RUN, "--no-compile-cache", dest="compile_cache", action="store_const",
          const=False, resumable=True, help="compile everything afresh, read and write no cache"),
    _flag(settings.RUN, "--memory-limit", metavar="SIZE", resumable=True,
          help="memory one device may use (e.g. 2G); default: the device's own (on a CPU host, "
          "the available RAM over its devices)"),
    _flag(settings.PROCESSES, "--coordinator", metavar="HOST:PORT", resumable=True,
          help="process 0's address; with --num-processes and --process-id, joins a JAX "
          "multi-process job on a cluster JAX does not detect"),
    _flag(settings.PROCESSES, "--num-processes", type=int, resumable=True,
          help="processes in the job (with --coordinator)"),
    _flag(settings.PROCESSES, "--process-id", type=int, resumable=True,
          help="this process's index, 0 to --num-processes - 1 (with --coordinator)"),
    _flag(settings.LOGGING, "--no-tensorboard", dest="tensorboard", action="store_false",
          resumable=True, help="skip the TensorBoard event files"),
    _flag(settings.LOGGING, "--wandb", action="store_true", resumable=True,
          help="also log to Weights & Biases (needs `pip install wandb`)"),
    _flag(settings.LOGGING, "--wandb-project", default="esjax", resumable=True,
          help="W&B project (default: %(default)s)"),
    _flag(settings.LOGGING, "--wandb-name", resumable=True,
          help="W&B run name (default: W&B's own)"),
)
# Every flag that may be given with --resume.
_RESUMABLE = set(RESUMABLE) | {f.dest for f in _FLAGS if f.resumable}


def _add_train_flags(p: argparse.ArgumentParser) -> None:
  """Every flag of ``esjax train``, from the declarations: the config fields (unset flags are
  None, so the config's own default applies), the strategies' options, and ``_FLAGS``."""
  groups = {title: p.add_argument_group(title) for title in settings.GROUPS}
  for d in FIELDS.values():
    if d.meta["flag"]:
      _add_field_flag(groups[d.meta["group"]], d)
  _add_strategy_option_flags(groups[settings.STRATEGY])
  for f in _FLAGS:
    groups[f.group].add_argument(*f.names, **f.kwargs)


def _add_field_flag(g, d: settings.Declared) -> None:
  help_ = d.meta["help"].replace("%", "%%")
  if isinstance(d.default, bool):
    flag = ("--no-" if d.default else "--") + d.name.replace("_", "-")
    g.add_argument(flag, dest=d.name, action="store_false" if d.default else "store_true",
                   default=None, help=help_)
    return
  if d.default not in (None, {}) and "default" not in help_:
    shown = ",".join(map(str, d.default)) if isinstance(d.default, tuple) else d.default
    help_ += f" (default: {shown})"
  kind = d.meta["parse"] or (settings.whole_number if d.default is None or type(d.default) is int
                             else type(d.default))
  extra = dict(action="append") if d.meta["repeat"] else dict(type=kind)
  g.add_argument("--" + d.name.replace("_", "-"), dest=d.name, default=None,
                 metavar=d.meta["metavar"], help=help_, **extra)


def _strategy_options() -> dict[str, dict[str, object]]:
  """``{option: {strategy: its default}}`` over every registered strategy."""
  out: dict[str, dict[str, object]] = {}
  for strategy, factory in sorted(REGISTRY.items()):
    for name, default in options_lib.options(factory).items():
      out.setdefault(name, {})[strategy] = default
  return out


def _add_strategy_option_flags(g) -> None:
  """One flag per strategy option; unset flags (None) keep the chosen strategy's default."""
  for name, defaults in _strategy_options().items():
    flag = "--" + name.replace("_", "-")
    help_ = "strategy option; default: " + ", ".join(f"{s} {v}" for s, v in defaults.items())
    first = next(iter(defaults.values()))  # its type
    if isinstance(first, bool):
      g.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None,
                     help=help_)
    else:
      kind = type(first) if isinstance(first, (int, float)) else str
      g.add_argument(flag, dest=name, type=kind, default=None, help=help_)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
  """The flags given over the config's defaults: those not None, and those typed as None
  (``--lanes auto``)."""
  values, typed = {}, getattr(args, "given", set())
  for name in [*FIELDS, *_strategy_options()]:
    value = getattr(args, name, None)
    if value is not None or name in typed:
      parse = FIELDS[name].meta["parse"] if name in FIELDS else None
      values[name] = parse(value) if parse and FIELDS[name].meta["repeat"] else value
  if "generations" not in values and "env_steps" in values:
    values["generations"] = None  # no limit: the env-step budget decides
  return TrainConfig.of(**values)


def _check_out_dir(path: str) -> None:
  from esjax.rundir import lock as lock_lib  # pylint: disable=g-import-not-at-top
  lock_lib.check_free(path)  # a live run there: name it, rather than "not empty"
  lock_lib.check_creatable(path)  # a file, or a path that cannot be made: say so, not "not empty"
  if lock_lib.only_lock_file(path):
    return  # a run that stopped before writing anything
  if os.path.isdir(path) and os.listdir(path):
    raise ConfigError(f"--out {path!r} already exists and is not empty; choose a new directory")


def _given_flags(train_argv: list[str]) -> set[str]:
  """The dests the user actually typed: a probe parser whose defaults are all suppressed."""
  probe = _Parser(prog="esjax train")
  _add_train_flags(probe)
  for action in probe._actions:  # pylint: disable=protected-access
    action.default = argparse.SUPPRESS
  return set(vars(probe.parse_args(train_argv)))


def _preset_skips(args: argparse.Namespace, fields: dict[str, Any], given: set[str]) -> set[str]:
  """The preset's names that would clash with what the user typed, so are not applied: the
  options the user sweeps (set and swept is refused), and all the preset's strategy options
  when --strategy names another strategy (they were tuned for the preset's own strategy and
  may not exist in the other: hopper's learning_rate in sep_cma_es, walker2d's reward_shift)."""
  from esjax.config import sweep as sweep_lib  # pylint: disable=g-import-not-at-top
  skip = set(sweep_lib.parse(args.sweep)) if "sweep" in given else set()
  own = fields.get("strategy", FIELDS["strategy"].default)
  if "strategy" in given and args.strategy != own:
    options = _strategy_options()
    dropped = sorted(n for n in fields if n in options and n not in FIELDS and n not in given)
    if dropped:
      print(f"esjax: note: --strategy {args.strategy} replaces preset {args.preset}'s "
            f"{own}; its options {', '.join(dropped)} are not applied", file=sys.stderr)
    skip.update(dropped)
  return skip


def apply_preset(args: argparse.Namespace, train_argv: list[str]) -> argparse.Namespace:
  """Preset values replace defaults, never flags the user gave."""
  from esjax.config import presets  # pylint: disable=g-import-not-at-top
  fields = presets.get(args.preset).fields
  given = _given_flags(train_argv)
  skip = _preset_skips(args, fields, given)
  values = vars(args).copy()
  for name, value in fields.items():
    if name in given or name in skip:
      continue
    if name == "generations" and "env_steps" in given:
      continue  # an explicit env-step budget decides the length, as without a preset
    values[name] = value
  return argparse.Namespace(**values)


def _resume_config(args) -> TrainConfig:
  """The saved config of ``args.resume``, with only the budget/checkpoint flags applied."""
  run_dir = args.resume
  given = getattr(args, "given", set())
  for name in sorted(given - _RESUMABLE):
    raise ConfigError(f"--{name.replace('_', '-')} cannot be given with --resume (the run "
                      f"continues in {run_dir!r} with its saved config.json); only "
                      f"{_dashed(RESUMABLE)} may change, besides {_RESUMABLE_CLI}")
  if not os.path.isdir(run_dir):
    raise ConfigError(f"--resume {run_dir!r}: no such directory; expected a run directory "
                      "written by `esjax train --out DIR`")
  if not os.path.isfile(os.path.join(run_dir, "config.json")):
    raise ConfigError(f"--resume {run_dir!r} is not an esjax run (no config.json); expected a "
                      "directory written by `esjax train --out DIR`")
  from esjax.rundir.files import read_config  # pylint: disable=g-import-not-at-top
  config = read_config(run_dir)
  changes = {k: getattr(args, k) for k in RESUMABLE if k in given}
  if "env_steps" in changes and "generations" not in changes:
    changes["generations"] = None  # no limit: the env-step budget decides
  return config.replace(**changes).validate()


def cmd_train(args) -> int:
  resume = args.resume is not None
  # A resumed run is process 0's directory: another host's --resume path need not exist (only
  # process 0 writes, rundir.py), so that process takes the config from process 0 once joined.
  elsewhere = resume and args.process_id not in (None, 0)
  config = None if elsewhere else _resume_config(args) if resume else (
      config_from_args(args).validate())
  if args.memory_limit is not None:
    from esjax.runtime.preflight import parse_size  # pylint: disable=g-import-not-at-top
    parse_size(args.memory_limit)  # a bad size is one line before anything is built
  # Import order matters: esjax.distributed imports jax but must join the job before anything
  # creates a backend; heavy imports (brax) only after the flags parse.
  from esjax.core import multihost as distributed
  dist = distributed.DistributedConfig(args.coordinator, args.num_processes,
                                       args.process_id).validate()
  out = args.resume or args.out or os.path.join(
      "runs", f"{config.problem.env}-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}")
  from esjax import sinks as sinks_lib  # pylint: disable=g-import-not-at-top
  sinks = [sinks_lib.TensorBoard()] if args.tensorboard else []
  if args.wandb:
    from esjax.sinks import loggers as logging_sinks  # pylint: disable=g-import-not-at-top
    logging_sinks.check_wandb()
    sinks.append(sinks_lib.WandbOptions(args.wandb_project, args.wandb_name))
  distributed.initialize(dist)
  main = distributed.is_main_process()
  if main and not args.quiet:
    sinks.append(sinks_lib.ProgressBar())
  with distributed.exit_on_job_failure(EXIT_USAGE):
    if resume:
      config = _config_of_main(config, main)
    if main and not resume:  # only process 0 writes, so only its view of the directory counts
      _check_out_dir(out)
    elif main:
      from esjax.rundir import lock as lock_lib  # pylint: disable=g-import-not-at-top
      lock_lib.check_free(out)  # before building anything
    from esjax.training.train import train
    cache = True if args.compile_cache is None else args.compile_cache
    try:
      result = train(config, out_dir=out, sinks=sinks, resume=resume, compile_cache=cache,
                     memory_limit=args.memory_limit)
    except RunIOError as e:
      if not main:
        raise
      hint = (f"; the checkpoints before it are intact: fix the cause, then `esjax train "
              f"--resume {out}`" if os.path.isdir(out) else "")
      print(f"esjax: error: {e}{hint}", file=sys.stderr, flush=True)
      return EXIT_IO
  if main:
    _say_done(args, out, result)
  return 0


def _say_done(args, out: str, result) -> None:
  """Process 0's closing lines: where the run stopped or what it wrote."""
  if result.interrupted:
    last = result.metrics[-1]["generation"] if result.metrics else 0
    print(f"stopped by {result.interrupted} at generation {last}; checkpoint saved in "
          f"{os.path.abspath(os.path.join(out, 'checkpoints'))}")
    print(f"resume with: esjax train --resume {out}")
    return
  last = result.metrics[-1] if result.metrics else {}
  evals = [m["eval_return"] for m in result.metrics if "eval_return" in m]
  summary = f"done: {last.get('generation', 0)} generations, {last.get('env_steps', 0):,} env steps"
  if evals:
    summary += f", final eval return {evals[-1]:.1f}"
  print(summary + f", {last.get('wall_s', 0):.0f} s")
  tb = ", tb/" if args.tensorboard else ""
  print(f"wrote {os.path.abspath(out)} (config.json, metrics.jsonl{tb}, checkpoints/, params.msgpack)")


def _config_of_main(config: TrainConfig | None, main: bool) -> TrainConfig:
  """Process 0's config on every process (a single process: ``config`` itself)."""
  import json  # pylint: disable=g-import-not-at-top
  from esjax.core import multihost  # pylint: disable=g-import-not-at-top
  data = multihost.from_main("config", json.loads(config.to_json()) if main else None)
  return config if main else TrainConfig.from_dict(data).validate()


def build_parser() -> argparse.ArgumentParser:
  parser = _Parser(prog="esjax", description="Evolution Strategies on Brax, in one JAX step.")
  import esjax  # pylint: disable=g-import-not-at-top
  parser.add_argument("--version", action="version", version=f"esjax {esjax.__version__}")
  sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
  p = sub.add_parser("train", help="train a policy")
  _add_train_flags(p)
  p.set_defaults(func=cmd_train)
  commands.add_subcommands(sub)
  return parser


def main(argv=None) -> int:
  argv = sys.argv[1:] if argv is None else list(argv)
  try:
    args = build_parser().parse_args(argv)
    if args.command == "train":
      args.given = _given_flags(argv[argv.index("train") + 1:])
    if args.command == "train" and args.preset is not None:
      args = apply_preset(args, argv[argv.index("train") + 1:])
    return args.func(args)
  except ConfigError as e:
    print(f"esjax: error: {e}", file=sys.stderr)
    return EXIT_USAGE
  except KeyboardInterrupt:  # a second Ctrl-C: the user chose not to wait for a checkpoint
    print("esjax: aborted", file=sys.stderr)
    return 130


if __name__ == "__main__":
  sys.exit(main())
