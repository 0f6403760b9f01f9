"""Lane ladders timed against each other: live env steps/s over bare physics, interleaved.

``lane_schedule.py`` replays ladders on recorded episodes with a table of costs; it leaves out
everything but the physics, and ladders whose replays differ by a few hundredths came out
otherwise when timed. Here each ladder is built into the compiled generation and timed the way
``live_steps.py`` times its variants: the same generations from the same state (hopper's
default run, pop 256, generations 2-7 and, with ``--late``, 61-66), the ladders in turn, a bare
physics call timed right before each generation, the median of the rounds' paired ratios.

A ladder is given by its widths, widest first (``core/lanes.py``'s ``widths`` makes the
default one from ``--lane-narrowings``). esjax takes no explicit ladder, so the benchmark
builds each variant with ``lanes.widths`` answering that ladder while the variant's step is
traced (every call of its generation is made with that answer in place). A ladder changes
which lanes run a member's steps, never the member's result, so every row's params should
equal the default ladder's (``same_bits_as_default``).

    python -m benchmarks.lane_ladders --late        # ~15 min on 2 cores
    python -m benchmarks.lane_ladders --ladders 128,112,96,64,32,16,8,4,2
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses

import jax

from benchmarks import common
from benchmarks import live_steps
import esjax
from esjax.core import lanes as lanes_lib
from esjax.training import setup as setup_lib

LANES = 128  # the whole slice at pop 256 on 2 devices: what lanes=None means on CPU
# The default ladder, then the ones the replay and session 17's sums pointed at: sixteenths
# at the top (late), more widths in the middle (early), both.
LADDERS = ("default",
           "128,120,112,104,96,48,24,12,6,3,2",
           "128,112,96,64,48,32,24,12,6,3,2",
           "128,120,112,104,96,64,48,32,24,12,6,3,2")


def parse_ladder(text: str) -> tuple[int, ...]:
  """``"128,112,..."`` -> widths, checked: strictly narrowing from LANES, none below 2."""
  bad = ValueError(f"ladder {text!r}: expected comma-separated, strictly narrowing widths "
                   f"from {LANES} down, none below 2")
  try:
    widths = tuple(int(w) for w in text.split(","))
  except ValueError:
    raise bad from None
  if widths[0] != LANES or min(widths) < 2 or list(widths) != sorted(set(widths), reverse=True):
    raise bad
  return widths


@contextlib.contextmanager
def ladder_widths(widths: tuple[int, ...] | None):
  """While open, ``lanes.widths`` answers ``widths`` (None: the default ladder)."""
  original = lanes_lib.widths
  if widths is not None:
    lanes_lib.widths = lambda lanes, local, narrowings=0: widths
  try:
    yield
  finally:
    lanes_lib.widths = original


def _under(widths, run):
  """``run`` with ``lanes.widths`` answering ``widths`` on every call: a retrace (there should
  be none after the first generation) builds the same ladder."""

  def wrapped(*args, **kwargs):
    with ladder_widths(widths):
      return run(*args, **kwargs)

  return wrapped


def _variants(ladders, population: int):
  """``{name: setup}``, each setup's generation built with its ladder."""
  base = esjax.TrainConfig.of(env="hopper", eval_every=0, population_size=population,
                              lanes=LANES)
  out = {}
  for text in ladders:
    widths = None if text == "default" else parse_ladder(text)
    s = setup_lib.setup(base)
    out[text] = dataclasses.replace(s, run_generations=_under(widths, s.run_generations))
  return out


def bench(ladders, population: int, late_at: int | None) -> list[dict]:
  """live_steps' phases for each ladder, each row named by its ladder and its ratio set
  against the default ladder's in the same phase."""
  rows = live_steps.bench_setups("hopper", _variants(ladders, population), "default", late_at,
                                 compare=("default",))
  ref = {r["phase"]: r["/bare"] for r in rows if r["variant"] == "default"}
  for r in rows:
    name = r.pop("variant")
    widths = lanes_lib.widths(LANES, LANES) if name == "default" else parse_ladder(name)
    r.update(ladder=name, widths=", ".join(map(str, widths)),
             vs_default=r["/bare"] / ref[r["phase"]])
  return rows


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--ladders", default=";".join(LADDERS),
                 help="';'-separated ladders, each comma-separated widths or 'default'")
  p.add_argument("--late", action="store_true")
  p.add_argument("--rounds", type=int, default=4)
  p.add_argument("--population", type=int, default=256)
  p.add_argument("--name", default="lane_ladders")
  a = p.parse_args(argv)
  ladders = ["default"] + [t for t in a.ladders.split(";") if t != "default"]
  for t in ladders[1:]:
    try:
      parse_ladder(t)
    except ValueError as e:
      p.error(str(e))
  live_steps.ROUNDS = a.rounds
  rows = bench(ladders, a.population, 60 if a.late else None)
  notes = [f"hopper, default config but lanes={LANES} (pop {a.population} on "
           f"{jax.device_count()} CPU devices: the whole slice), each ladder built into the "
           f"compiled generation; {a.rounds} rounds of every ladder in turn from the same "
           "state, a bare physics call (live_steps.py) timed right before each generation; "
           "/bare: the median over the rounds of the paired ratios (rounds_/bare: every round); "
           "vs_default: /bare over the default ladder's; same_bits_as_default: the params at "
           "the phase's end equal the default ladder's.",
           "default: the ladder esjax builds, lanes.widths(128, 128) (--lane-narrowings "
           f"{lanes_lib.NARROWINGS}). Each other width is one more compiled copy of the env step."]
  common.write_results(a.name, "Lane ladders timed against each other (hopper)", rows, notes,
                       columns=["phase", "ladder", "widths", "mean_episode", "wall_s",
                                "rounds_wall_s", "/bare", "rounds_/bare", "vs_default",
                                "same_bits_as_default"])


if __name__ == "__main__":
  main()
