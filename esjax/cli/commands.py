"""The commands around training: ``esjax plot``, ``eval``, ``render`` and ``presets``.

Kept apart from ``cli.py`` (which owns ``train``) so each command is a few lines that parse,
check the user's paths, and call a library function. User mistakes raise ``ConfigError``
(one line, exit 2) before anything is written.
"""
from __future__ import annotations

import os
import sys

from esjax.errors import ConfigError


def add_subcommands(sub) -> None:
  p = sub.add_parser("plot", help="learning curves of one or more runs as a PNG")
  p.add_argument("dirs", nargs="+", metavar="DIR", help="run directories (esjax train --out)")
  p.add_argument("--out", default=None,
                 help="image file (.png, .pdf or .svg; default: DIR/curves.png for one run, "
                 "./curves.png for several)")
  p.set_defaults(func=cmd_plot)

  p = sub.add_parser("eval", help="returns of a trained policy over fresh episodes")
  p.add_argument("dir", metavar="DIR")
  p.add_argument("--episodes", type=int, help="fresh episodes to run (default 10)")
  p.add_argument("--seed", type=int, help="their keys' seed (default 0)")
  p.add_argument("--final", action="store_true",
                 help="the episodes of the run's final evaluation instead (its keys and count): "
                 "the mean is the last eval_return in metrics.jsonl (of several seeds or sweep "
                 "points: run 0's, the first of eval_return_per_seed)")
  p.set_defaults(func=cmd_eval)

  p = sub.add_parser("render", help="an HTML animation (and a GIF if possible) of one episode")
  p.add_argument("dir", metavar="DIR")
  p.add_argument("--out", default=None, help="HTML file (default: DIR/episode.html); the GIF "
                 "goes next to it with the .gif suffix")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--no-gif", dest="gif", action="store_false", help="write only the HTML")
  p.set_defaults(func=cmd_render)

  p = sub.add_parser("presets", help="list the named configurations for `train --preset`")
  p.set_defaults(func=cmd_presets)

  p = sub.add_parser("strategies", help="list the evolution strategies with their options")
  p.set_defaults(func=cmd_strategies)

  p = sub.add_parser("envs", help="list the environments of every installed source")
  p.set_defaults(func=cmd_envs)


def _check_run_dir(path: str) -> None:
  if not os.path.isdir(path):
    what = "is a file" if os.path.exists(path) else "does not exist"
    raise ConfigError(f"run directory {path!r} {what}; expected a directory written by "
                      "`esjax train --out`")


def _check_out_file(path: str, suffixes: tuple[str, ...], flag: str = "--out") -> None:
  if not path.lower().endswith(suffixes):
    raise ConfigError(f"{flag} {path!r} has an unsupported suffix; expected one of: "
                      f"{', '.join(suffixes)}")
  parent = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(parent):
    raise ConfigError(f"{flag} {path!r}: directory {parent!r} does not exist")


def _positive(name: str, value: int) -> None:
  if value <= 0:
    raise ConfigError(f"{name}={value} is invalid; expected a positive integer")


def cmd_plot(args) -> int:
  for d in args.dirs:
    _check_run_dir(d)
  out = args.out or (os.path.join(args.dirs[0], "curves.png") if len(args.dirs) == 1
                     else "curves.png")
  _check_out_file(out, (".png", ".pdf", ".svg"))
  from esjax.viz import plot  # pylint: disable=g-import-not-at-top
  plot.plot_runs(args.dirs, out)
  print(f"wrote {os.path.abspath(out)}")
  return 0


def cmd_eval(args) -> int:
  _check_run_dir(args.dir)
  if args.final and (args.episodes is not None or args.seed is not None):
    raise ConfigError("--final reruns the run's last evaluation, its own episodes and keys; "
                      "drop --episodes and --seed, or drop --final for fresh episodes")
  episodes = 10 if args.episodes is None else args.episodes
  _positive("episodes", episodes)
  _note_first_run(args.dir)
  from esjax.viz import playback  # pylint: disable=g-import-not-at-top
  if args.final:
    from esjax.rundir import files  # pylint: disable=g-import-not-at-top
    returns = files.load(args.dir).evaluate_final()
  else:
    returns = playback.evaluate_run(args.dir, episodes, args.seed or 0)
  print(f"{len(returns)} episodes: mean return {returns.mean():.2f}, std {returns.std():.2f} "
        f"(min {returns.min():.2f}, max {returns.max():.2f})")
  return 0


def _note_first_run(run_dir: str) -> None:
  """Says on stderr which run of a several-run directory (seeds, sweep points) is used: the
  first, as ``esjax.load`` takes it, not the best setting the run printed."""
  from esjax.rundir import files  # pylint: disable=g-import-not-at-top
  config = files.read_config(run_dir)
  if config.num_runs > 1:
    print(f"esjax: note: {run_dir!r} holds {config.num_runs} runs (sweep points x seeds); this "
          f"uses run 0 (the first point, seed {config.runtime.seed})", file=sys.stderr)


def cmd_render(args) -> int:
  _check_run_dir(args.dir)
  out = args.out or os.path.join(args.dir, "episode.html")
  _check_out_file(out, (".html",))
  _note_first_run(args.dir)
  from esjax.viz import playback  # pylint: disable=g-import-not-at-top
  result = playback.render_run(args.dir, out, args.seed, gif=args.gif)
  print(f"episode: {result.steps} steps, return {result.ret:.2f}")
  print(f"wrote {os.path.abspath(result.html)}")
  if result.gif:
    print(f"wrote {os.path.abspath(result.gif)}")
  elif args.gif:
    print(f"esjax: warning: no GIF: {result.gif_error}", file=sys.stderr)  # warnings: stderr
  return 0


def cmd_presets(args) -> int:
  del args
  from esjax.config import presets  # pylint: disable=g-import-not-at-top
  print("\n".join(presets.listing()))
  return 0



def cmd_strategies(args) -> int:
  del args
  from esjax.strategies import REGISTRY  # pylint: disable=g-import-not-at-top
  from esjax.strategies import options as options_lib  # pylint: disable=g-import-not-at-top
  from esjax.training.optimize import BLACK_BOX_OPTIONS  # pylint: disable=g-import-not-at-top
  for name, factory in sorted(REGISTRY.items()):
    print(f"{name}: {options_lib.paper(factory)}")
    opts = options_lib.options(factory)
    print("  " + (", ".join(f"--{k.replace('_', '-')} {v}" for k, v in opts.items()) or "no options"))
    black_box = BLACK_BOX_OPTIONS.get(name, {})
    print("  esjax.minimize: " + (", ".join(f"{k}={v}" for k, v in black_box.items())
                                  or "the same"))
    # With its default options (a population any factory accepts): what --sweep may vary.
    sweepable = factory(8).sweepable
    print(f"  --sweep: {', '.join(sweepable) or 'nothing'}")
  return 0


def cmd_envs(args) -> int:
  del args
  from esjax.envs import registry  # pylint: disable=g-import-not-at-top
  print("\n".join(registry.listing()))
  return 0
