"""What one step of vmapped episodes costs, by width and by part: the numbers behind the lanes'
widths (``esjax/core/lanes.py``) and behind the rest of the step (issue 26, item 3).

On one XLA CPU device (one core), for an env of the default run:
  * by width: the bare physics step (the env vmapped over W envs, random actions, a
    ``lax.scan``) in microseconds per step and per env step, W from 1 to 256 (finely
    between 96 and 128, the widths late survivors run at). A narrow step
    costs more per env than a wide one (XLA vectorizes across the vmapped axis), so the tail
    of a generation, where few episodes are left, is the dear part of a compacted loop;
  * by part, at ``--width`` envs: bare with random actions (what live_steps calls bare), bare
    with an action computed from the step index (no random numbers), the rollout's episode
    step (policy, normalizer, action view, observation statistics, return), the same with a
    per-lane select (what a vmapped while_loop adds; the lanes step had one until it was
    measured here), the lanes' whole step (``core/lanes.py _advance``: end check, write-out
    and refill), and the policy alone.

    python -m benchmarks.lane_widths                 # ~3 min on 2 cores
    python -m benchmarks.lane_widths --env ant --name lane_widths_ant
"""
from __future__ import annotations

import argparse
import os
import functools

os.environ.setdefault("ESJAX_CPU_DEVICES", "1")  # one device on one core: the unit lanes use

import jax  # pylint: disable=g-import-not-at-top,wrong-import-position
import jax.numpy as jnp  # pylint: disable=wrong-import-position

from benchmarks import common  # pylint: disable=wrong-import-position
from benchmarks import live_steps  # pylint: disable=wrong-import-position
import esjax  # pylint: disable=wrong-import-position
from esjax.core import lanes as lanes_lib  # pylint: disable=wrong-import-position
from esjax.problems import build as build_lib  # pylint: disable=wrong-import-position
from esjax.problems.reference import member_apply  # pylint: disable=wrong-import-position
from esjax.training import setup as setup_lib  # pylint: disable=wrong-import-position

# The widths between 96 and 128 are where the late phase's survivors run (live_steps.md: the
# mean episode is 835 of 1000, so most of a slice of 128 runs to the end); 100 and 104 sit
# between the multiples of 16.
WIDTHS = (1, 2, 4, 8, 16, 32, 64, 80, 96, 100, 104, 112, 120, 128, 256)


def bare(env, act_size: int, width: int, length: int, random_actions: bool = True):
  """``key -> rewards``: ``width`` envs stepped ``length`` times, nothing else."""
  return jax.jit(live_steps.random_episodes(env, act_size, width, length, random_actions))


def _parts(s, width: int, length: int):
  """``{part: (fn, arg)}``: the rollout's pieces, each looped ``length`` times at ``width``."""
  episode = s.problem.episode(s.state.normalizer)
  mean = s.state.es.mean
  params = mean + 0.02 * jax.random.normal(jax.random.PRNGKey(1), (2 * width,) + mean.shape)
  starts = jax.jit(jax.vmap(episode.start))(params, jax.random.split(jax.random.PRNGKey(2),
                                                                       2 * width))
  first = jax.tree.map(lambda x: x[:width], starts)
  vstep = jax.vmap(episode.step)

  def loop(body):
    # A while_loop, as lanes.run steps its lanes: a fori_loop of static length is a scan, and
    # on hopper at 128 envs the same episode step cost about 5 % more inside one. Bare physics
    # keeps its scan, its fastest loop (in a while_loop it took about 3 % longer).
    def one(ic):
      return ic[0] + 1, body(ic[1])
    return jax.jit(lambda c: jax.lax.while_loop(lambda ic: ic[0] < length, one, (0, c))[1])

  def select(c):  # the per-lane select the lanes step no longer has (a vmapped while_loop's)
    live = jax.vmap(episode.running)(c)
    return jax.tree.map(lambda n, o: jnp.where(live.reshape(live.shape + (1,) * (n.ndim - 1)),
                                               n, o), vstep(c), c)

  def policy(c):
    out = jax.vmap(lambda m: member_apply(s.policy, m.member, m.obs))(c)
    return c.replace(obs=c.obs + 1e-3 * out.sum(-1, keepdims=True))

  # pylint: disable=protected-access
  out = jax.tree.map(lambda s_: jnp.zeros(s_.shape, s_.dtype),
                     jax.eval_shape(jax.vmap(episode.finish), starts))
  q = lanes_lib._Lanes(first, jnp.arange(width, dtype=jnp.int32), jnp.asarray(width, jnp.int32),
                       out)
  lane = loop(lambda q: lanes_lib._advance(episode, starts, q, 2 * width, True))
  return {"episode step": (loop(vstep), first),
          "episode step + lane select": (loop(select), first),
          "lanes step (end check, write-out, refill)": (lane, q),
          "policy only": (loop(policy), first)}


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--env", default="hopper")
  p.add_argument("--width", type=int, default=128)
  p.add_argument("--length", type=int, default=500)
  p.add_argument("--rounds", type=int, default=5)
  p.add_argument("--name", default="lane_widths")
  a = p.parse_args(argv)
  config = esjax.TrainConfig.of(env=a.env, eval_every=0)
  env = build_lib.make_env(config.problem)
  act_size = build_lib.views(config.problem, env)[1].size
  key = jax.random.PRNGKey(0)
  entries = [("by width", "bare physics", w, bare(env, act_size, w, a.length), key)
             for w in WIDTHS]
  entries += [("by part", "bare physics (random actions)", a.width,
               bare(env, act_size, a.width, a.length), key),
              ("by part", "bare physics (no random numbers)", a.width,
               bare(env, act_size, a.width, a.length, random_actions=False), key)]
  entries += [("by part", name, a.width, fn, arg)
              for name, (fn, arg) in _parts(setup_lib.setup(config), a.width, a.length).items()]
  ref = entries[len(WIDTHS)][3:]  # bare physics at --width: what every timing is paired with
  got = common.paired({i: functools.partial(*e[3:]) for i, e in enumerate(entries)},
                      functools.partial(*ref), a.rounds)
  rows = [dict(zip(("table", "part", "width"), e[:3]), **{"/bare": got[i]["ratio"]},
               us_per_step=got[i]["seconds"] / a.length * 1e6) for i, e in enumerate(entries)]
  for r in rows:
    r["us_per_env_step"] = r["us_per_step"] / r["width"]
    r["per_env_/bare"] = r["/bare"] * a.width / r["width"] if r["table"] == "by width" else None
    common.log(r)
  notes = [f"{a.env}, default config; one XLA CPU device (ESJAX_CPU_DEVICES=1, one core), "
           f"{a.length} steps per call; each entry timed in {a.rounds} pairs, a call of bare "
           f"physics at {a.width} envs and then one of the entry, round-robin over the "
           "entries (common.paired: this machine's speed drifts by tens of percent within "
           "minutes): us_per_step is the median call, /bare the median of the paired ratios.",
           f"by width: /bare is the step over the bare step of {a.width} envs, per_env_/bare "
           "what one env step costs at that width over its cost at "
           f"{a.width} envs; by part: /bare is the part's step over bare physics with random "
           "actions at the same width (the policy-only row is a fraction of it, not a ratio "
           "to beat)."]
  common.write_results(a.name, f"One step of vmapped episodes: cost by width and by part "
                       f"({a.env})", rows, notes,
                       columns=["table", "part", "width", "us_per_step", "us_per_env_step",
                                "/bare", "per_env_/bare"])


if __name__ == "__main__":
  main()
