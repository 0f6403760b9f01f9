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
import dataclasses
import datetime
import os
import sys

from esjax.cli import commands
from esjax.config.train_config import (PolicyConfig, ProblemConfig, RuntimeConfig, StrategyConfig,
                              TrainConfig)
from esjax.strategies import REGISTRY
from esjax.strategies import options as options_lib
from esjax.errors import ConfigError, RunIOError

EXIT_USAGE = 2
EXIT_IO = RunIOError.EXIT_IO  # 74: a run's output could not be written (disk, directory)


class _Parser(argparse.ArgumentParser):
  def error(self, message):  # one line, no usage dump
    raise ConfigError(message)


def _int_list(text: str) -> tuple[int, ...]:
  try:
    values = tuple(int(v) for v in text.split(",") if v.strip())
  except ValueError:
    raise argparse.ArgumentTypeError(
        f"invalid hidden sizes {text!r}; expected comma-separated integers, e.g. 64,64")
  return values


def _add_train_flags(p: argparse.ArgumentParser) -> None:
  d = TrainConfig()
  g = p.add_argument_group("problem")
  g.add_argument("--env", default=d.problem.env,
                 help="Brax name, gymnax:NAME or playground:NAME (`esjax envs`; default: "
                 "%(default)s)")
  g.add_argument("--backend", default=d.problem.backend,
                 help="Brax: generalized, positional, spring (default), mjx; playground: jax "
                 "(default), warp (GPU); gymnax: none")
  g.add_argument("--episode-length", type=int, default=d.problem.episode_length,
                 help="default: the env's own (Brax 1000, gymnax max_steps_in_episode, "
                 "playground's config)")
  g.add_argument("--no-normalize-obs", dest="normalize_obs", action="store_false")
  g = p.add_argument_group("rollout tricks (Salimans et al. 2017; all off by default)")
  g.add_argument("--action-noise", type=float, default=d.problem.action_noise, metavar="STD",
                 help="Gaussian noise std on training actions in [-1, 1] (the paper's Humanoid: "
                 "0.01); not in evaluation; continuous actions only")
  g.add_argument("--action-bins", type=int, default=d.problem.action_bins, metavar="K",
                 help="snap each action dimension to K >= 2 evenly spaced values in [-1, 1] "
                 "(0 = continuous); continuous actions only")
  g.add_argument("--frame-skip", type=int, default=d.problem.frame_skip, metavar="K",
                 help="repeat each action K env steps, rewards summed (episode length and "
                 "step counts stay in env steps)")
  g.add_argument("--obs-stat-prob", type=float, default=d.problem.obs_stat_prob, metavar="P",
                 help="count an episode's observations in the normalizer with probability P "
                 "(the starter's calc_obstat_prob; default 1: every episode)")
  g.add_argument("--adaptive-cutoff", type=int, default=d.problem.adaptive_cutoff, metavar="N",
                 help="cut training episodes at N env steps, raised by --cutoff-ratio after a "
                 "generation where --cutoff-threshold of them reached it, up to the episode "
                 "length (0 = off; evaluation runs whole episodes)")
  g.add_argument("--cutoff-threshold", type=float, default=d.problem.cutoff_threshold,
                 metavar="F", help="fraction of episodes at the cutoff that raises it "
                 "(default: %(default)s)")
  g.add_argument("--cutoff-ratio", type=float, default=d.problem.cutoff_ratio, metavar="R",
                 help="factor the cutoff is raised by, > 1 (default: %(default)s)")
  g = p.add_argument_group("evolution strategy (`esjax strategies` lists each one's options)")
  g.add_argument("--strategy", default=d.strategy.name,
                 help=f"{', '.join(sorted(REGISTRY))} (default: %(default)s)")
  g.add_argument("--population-size", type=int, default=d.strategy.population_size,
                 help="members per generation, mirrored partners counted (default: %(default)s)")
  g.add_argument("--noise-chunk", type=int, default=d.strategy.noise_chunk,
                 help="noise directions rebuilt at once in the update (memory)")
  g.add_argument("--perturbation", default=d.strategy.perturbation,
                 help="full (N(0, I) on every parameter, default) or lowrank (EGGROLL: each "
                 "weight matrix perturbed by A B^T / sqrt(rank), never formed; open_es, ars)")
  g.add_argument("--rank", type=int, default=d.strategy.rank,
                 help="rank of the low-rank perturbations (default: %(default)s)")
  _add_strategy_option_flags(g)
  g = p.add_argument_group("policy")
  g.add_argument("--policy", default=d.policy.kind,
                 help="auto (default: cnn for image observations, else mlp), mlp, linear, cnn")
  g.add_argument("--hidden-sizes", type=_int_list, default=d.policy.hidden_sizes,
                 help="comma-separated widths (default: 32,32)")
  g.add_argument("--activation", default=d.policy.activation)
  g.add_argument("--vbn", action="store_true", default=d.policy.vbn,
                 help="virtual batch normalization in the hidden layers (mlp, cnn), with "
                 "statistics of a reference batch of random-policy observations")
  g.add_argument("--vbn-batch", type=int, default=None,
                 help="observations in the VBN reference batch (default: 128; needs --vbn)")
  g = p.add_argument_group("budget and evaluation")
  g.add_argument("--generations", type=int, default=None,
                 help=f"generations to run (default: {d.runtime.generations}, or unlimited with "
                 "--env-steps)")
  g.add_argument("--env-steps", type=int, default=None, help="stop after this many env steps")
  g.add_argument("--eval-every", type=int, default=d.runtime.eval_every, help="generations; 0 = never")
  g.add_argument("--eval-episodes", type=int, default=d.runtime.eval_episodes)
  g = p.add_argument_group("run")
  g.add_argument("--seed", type=int, default=d.runtime.seed)
  g.add_argument("--num-seeds", type=int, default=d.runtime.num_seeds,
                 help="independent runs vmapped through one compiled step")
  g.add_argument("--sweep", action="append", default=None, metavar="NAME=V1,V2,...",
                 help="train every combination of these strategy options at once, in one "
                 "compiled step (repeat for a grid; times --num-seeds); e.g. --sweep "
                 "sigma=0.02,0.05 --sweep learning_rate=0.01,0.02")
  g.add_argument("--num-devices", type=int, default=None, help="default: every device (on a CPU split by esjax into one device per core, as many as give the one-device result; docs/reproducibility.md)")
  g.add_argument("--member-chunk", type=int, default=None,
                 help="members evaluated at once per device; must divide each device's slice. "
                 "Equal chunks give bit-identical runs on any device count (default: 64 on "
                 "CPU, the whole slice on GPU/TPU; see docs/reproducibility.md)")
  g.add_argument("--generations-per-call", type=int, default=d.runtime.generations_per_call,
                 help="generations fused in one compiled call between host syncs")
  g.add_argument("--comm", default=d.runtime.comm,
                 help="returns (scalars cross devices) or gradient (data-parallel psum)")
  g = p.add_argument_group("multi-process (auto-detected on TPU pods, SLURM, Open MPI, k8s)")
  g.add_argument("--coordinator", default=None, metavar="HOST:PORT",
                 help="process 0's address; with --num-processes and --process-id, joins a "
                 "JAX multi-process job on a cluster JAX does not detect")
  g.add_argument("--num-processes", type=int, default=None)
  g.add_argument("--process-id", type=int, default=None)
  g.add_argument("--out", default=None, help="output directory (default: runs/ENV-TIMESTAMP)")
  g.add_argument("--checkpoint-every", type=int, default=d.runtime.checkpoint_every,
                 help="generations between checkpoints; 0 = only at the end (default: "
                 "%(default)s)")
  g.add_argument("--keep-checkpoints", type=int, default=d.runtime.keep_checkpoints,
                 help="newest checkpoints kept (default: %(default)s)")
  g.add_argument("--resume", metavar="DIR", default=None,
                 help="continue the run in DIR from its newest good checkpoint, with its saved "
                 "config (--generations/--env-steps may extend it)")
  g.add_argument("--quiet", action="store_true", help="no progress output")
  g.add_argument("--compile-cache", metavar="DIR", default=None,
                 help="persistent JAX compilation cache (default: $JAX_COMPILATION_CACHE_DIR or "
                 "~/.cache/esjax/jax-compile)")
  g.add_argument("--memory-limit", default=None, metavar="SIZE",
                 help="memory one device may use (e.g. 2G); default: the device's own (on a "
                 "CPU host, the available RAM over its devices)")
  g.add_argument("--no-compile-cache", dest="compile_cache", action="store_const", const=False,
                 help="compile everything afresh, read and write no cache")
  g.add_argument("--preset", default=None,
                 help="start from a named configuration (`esjax presets`); flags override it")
  g = p.add_argument_group("logging (metrics.jsonl always; TensorBoard events under DIR/tb/)")
  g.add_argument("--no-tensorboard", dest="tensorboard", action="store_false",
                 help="skip the TensorBoard event files")
  g.add_argument("--wandb", action="store_true",
                 help="also log to Weights & Biases (needs `pip install wandb`)")
  g.add_argument("--wandb-project", default="esjax")
  g.add_argument("--wandb-name", default=None, help="W&B run name (default: W&B's own)")


def _strategy_options() -> dict[str, object]:
  """Every option any registered strategy takes, with the first default seen (for its type)."""
  out: dict[str, object] = {}
  for factory in REGISTRY.values():
    for name, default in options_lib.options(factory).items():
      out.setdefault(name, default)
  return out


def _add_strategy_option_flags(g) -> None:
  """One flag per strategy option; unset flags (None) keep the chosen strategy's default."""
  for name, default in _strategy_options().items():
    flag = "--" + name.replace("_", "-")
    users = [n for n, f in sorted(REGISTRY.items()) if name in options_lib.options(f)]
    help_ = f"strategy option ({', '.join(users)})"
    if isinstance(default, bool):
      g.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None,
                     help=help_)
    else:
      kind = type(default) if isinstance(default, (int, float)) else str
      g.add_argument(flag, dest=name, type=kind, default=None, help=help_)


def _flat_names() -> set[str]:
  names = {"policy", "strategy"} | set(_strategy_options())
  for section in (ProblemConfig, PolicyConfig, StrategyConfig, RuntimeConfig):
    names |= {f.name for f in dataclasses.fields(section)}
  return names - {"kind", "name", "options"}


def parse_sweep(items: list[str] | None) -> dict[str, tuple[float, ...]]:
  """``["sigma=0.02,0.05", ...]`` -> ``{"sigma": (0.02, 0.05)}``; ConfigError on a bad item."""
  out: dict[str, tuple[float, ...]] = {}
  for item in items or ():
    name, sep, values = item.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not name:
      raise ConfigError(f"--sweep {item} is invalid; expected NAME=V1,V2,... "
                        "(e.g. --sweep sigma=0.02,0.05)")
    if name in out:
      raise ConfigError(f"--sweep {name} is given twice; list all its values in one flag")
    parsed = []
    for v in values.split(","):
      try:
        parsed.append(float(v))
      except ValueError:
        raise ConfigError(f"--sweep {item} is invalid: {v.strip()!r} is not a number") from None
    out[name] = tuple(parsed)
  return out


def config_from_args(args: argparse.Namespace) -> TrainConfig:
  fields = _flat_names()
  values = {k: v for k, v in vars(args).items() if k in fields and v is not None}
  if "sweep" in values:
    values["sweep"] = parse_sweep(values["sweep"])
  if args.generations is None and args.env_steps is not None:
    values["generations"] = 2**31 - 1  # the env-step budget decides
  return TrainConfig.of(**values)


def _check_out_dir(path: str) -> None:
  from esjax.rundir import lock as lock_lib  # pylint: disable=g-import-not-at-top
  lock_lib.check_free(path)  # a live run there: name it, rather than "not empty"
  if lock_lib.only_lock_file(path):
    return  # a run that stopped before writing anything
  if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
    raise ConfigError(f"--out {path!r} already exists and is not empty; choose a new directory")


def _given_flags(train_argv: list[str]) -> set[str]:
  """The dests the user actually typed: a probe parser whose defaults are all suppressed."""
  probe = _Parser(prog="esjax train")
  _add_train_flags(probe)
  for action in probe._actions:  # pylint: disable=protected-access
    action.default = argparse.SUPPRESS
  return set(vars(probe.parse_args(train_argv)))


def apply_preset(args: argparse.Namespace, train_argv: list[str]) -> argparse.Namespace:
  """Preset values replace defaults, never flags the user gave."""
  from esjax.config import presets  # pylint: disable=g-import-not-at-top
  fields = presets.get(args.preset).fields
  given = _given_flags(train_argv)
  values = vars(args).copy()
  for name, value in fields.items():
    if name in given:
      continue
    if name == "generations" and "env_steps" in given:
      continue  # an explicit env-step budget decides the length, as without a preset
    values[name] = value
  return argparse.Namespace(**values)


# Flags that may change on --resume: the budget, checkpointing and the device layout (results
# do not depend on the device count or on how generations are fused), never the search itself.
# A new --member-chunk is a layout change too, but bitwise equality needs the same chunk.
_RESUME_OVERRIDES = ("generations", "env_steps", "checkpoint_every", "keep_checkpoints",
                     "num_devices", "member_chunk", "generations_per_call")
_RESUME_ALSO = ("resume", "quiet", "tensorboard", "wandb", "wandb_project", "wandb_name",
                "coordinator", "num_processes", "process_id", "compile_cache", "memory_limit")


def _resume_config(args) -> TrainConfig:
  """The saved config of ``args.resume``, with only the budget/checkpoint flags applied."""
  run_dir = args.resume
  given = getattr(args, "given", set())
  for name in sorted(given - set(_RESUME_OVERRIDES) - set(_RESUME_ALSO)):
    raise ConfigError(f"--{name.replace('_', '-')} cannot be given with --resume (the run "
                      f"continues in {run_dir!r} with its saved config.json); only "
                      f"{', '.join('--' + k.replace('_', '-') for k in _RESUME_OVERRIDES)} "
                      "may change")
  if not os.path.isdir(run_dir):
    raise ConfigError(f"--resume {run_dir!r}: no such directory; expected a run directory "
                      "written by `esjax train --out DIR`")
  if not os.path.isfile(os.path.join(run_dir, "config.json")):
    raise ConfigError(f"--resume {run_dir!r} is not an esjax run (no config.json); expected a "
                      "directory written by `esjax train --out DIR`")
  from esjax.rundir.files import read_config  # pylint: disable=g-import-not-at-top
  config = read_config(run_dir)
  changes = {k: getattr(args, k) for k in _RESUME_OVERRIDES if k in given}
  if "env_steps" in changes and "generations" not in changes:
    changes["generations"] = 2**31 - 1  # the env-step budget decides
  return config.replace(**changes).validate()


def cmd_train(args) -> int:
  resume = args.resume is not None
  config = _resume_config(args) if resume else config_from_args(args).validate()
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
  if not main:
    return 0
  if result.interrupted:
    last = result.metrics[-1]["generation"] if result.metrics else 0
    print(f"stopped by {result.interrupted} at generation {last}; checkpoint saved in "
          f"{os.path.abspath(os.path.join(out, 'checkpoints'))}")
    print(f"resume with: esjax train --resume {out}")
    return 0
  last = result.metrics[-1] if result.metrics else {}
  evals = [m["eval_return"] for m in result.metrics if "eval_return" in m]
  summary = f"done: {last.get('generation', 0)} generations, {last.get('env_steps', 0):,} env steps"
  if evals:
    summary += f", final eval return {evals[-1]:.1f}"
  print(summary + f", {last.get('wall_s', 0):.0f} s")
  tb = ", tb/" if args.tensorboard else ""
  print(f"wrote {os.path.abspath(out)} (config.json, metrics.jsonl{tb}, checkpoints/, params.msgpack)")
  return 0


def build_parser() -> argparse.ArgumentParser:
  parser = _Parser(prog="esjax", description="Evolution Strategies on Brax, in one JAX step.")
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
