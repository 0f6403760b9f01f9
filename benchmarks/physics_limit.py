"""esjax against the physics limit: one generation vs bare vmapped Brax physics.

For each env and population, times
  * bare:    reset + ``lax.scan`` of ``env.step`` with zero actions, vmapped over the population,
             ``episode_length`` steps (no policy, no ES) -- the limit;
  * rollout: esjax's episode rollout alone (policy + normalizer + while_loop), vmapped;
  * esjax:   one full compiled generation (ask, rollout, all-gather, tell, optimizer, normalizer);
  * ask+tell: the ES part alone (perturb the population, rebuild the noise sum, update);
and reports ``bare / esjax`` (1.0 = ES is free). Episodes are made non-terminating
(``terminate_when_unhealthy=False``) so every member simulates exactly ``episode_length`` steps
in both: equal env steps actually simulated. Also reports the first generation's wall time
(compile included) and the number of XLA compilations over the following generations
(docs/architecture.md property 5: must be 0).

    python -m benchmarks.physics_limit                       # CPU default, ~4 min
    python -m benchmarks.physics_limit --populations 256,1024,4096 --episode-length 1000  # GPU
"""
from __future__ import annotations

import argparse
import contextlib
import io
import time

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from benchmarks import common
from benchmarks.live_steps import on_mesh, per_device_key
import esjax
from esjax.core.mesh import AXIS, to_host
from esjax.training import train as train_lib
from esjax.policies import make_policy
from esjax.problems.brax import brax_problem

with contextlib.redirect_stdout(io.StringIO()):
  from brax import envs as brax_envs  # noqa: E402


def make_fixed_length_env(name: str, backend: str):
  # Without termination every member runs the full episode, in esjax's while_loop as in the
  # bare scan, so both simulate the same number of steps.
  return brax_envs.get_environment(name, backend=backend, terminate_when_unhealthy=False)


def bare_physics(env, population: int, episode_length: int, obs_actions: bool = False):
  """The limit: vmapped reset + scan of step with zero actions; returns summed reward.

  With ``obs_actions`` the action is a fixed, nearly free function of the observation: with
  constant actions nothing reads the observation, and XLA could delete its computation,
  which no policy can avoid. (Measured on hopper and ant spring: no difference.)
  """
  a = env.action_size

  def episode(key):
    state = env.reset(key)
    zero = jnp.zeros((a,))

    def body(s, _):
      act = 0.01 * jnp.tanh(s.obs[:a]) if obs_actions else zero
      s = env.step(s, act)
      return s, s.reward

    _, rewards = jax.lax.scan(body, state, None, length=episode_length)
    return rewards.sum()

  @jax.jit
  def run(key):
    return jax.vmap(episode)(jax.random.split(key, population))

  return run


def bench_one(env_name: str, backend: str, population: int, episode_length: int, hidden, repeats,
              gens_after):
  env = make_fixed_length_env(env_name, backend)
  key = jax.random.PRNGKey(0)
  row = {"env": env_name, "pop": population, "T": episode_length}
  steps = population * episode_length

  config = esjax.TrainConfig.of(env=env_name, backend=backend, population_size=population,
                             episode_length=episode_length, hidden_sizes=hidden, eval_every=0)
  policy, params = make_policy(config.policy.kind, int(env.observation_size), int(env.action_size),
                               config.policy.hidden_sizes, config.policy.activation, key)
  problem = brax_problem(env, policy, episode_length, config.problem.normalize_obs,
                         config.problem.obs_clip)
  s = train_lib.setup(config, problem=problem, initial_params=params)
  local = population // s.mesh.size

  # The limit on the devices the generation runs on (live_steps.on_mesh).
  bare = per_device_key(bare_physics(env, local, episode_length), s.mesh)
  _, row["bare_compile_s"] = common.timed(bare, key)
  bare_obs = per_device_key(bare_physics(env, local, episode_length, obs_actions=True), s.mesh)
  common.timed(bare_obs, key)

  # The rollout alone (policy + normalizer + while_loop), same members, no ES.
  cands = params[None] + 0.05 * jax.random.normal(key, (population, params.shape[0]))
  keys = jax.random.split(key, population)
  roll = on_mesh(jax.vmap(problem.evaluate, in_axes=(0, None, 0)), s.mesh,
                 (P(AXIS), P(), P(AXIS)))
  norm = to_host(s.state.normalizer)
  common.timed(roll, cands, norm, keys)

  # ask + tell alone: the ES overhead the rollout does not hide.
  strategy = config.strategy.build()
  es0 = strategy.init(params)

  @jax.jit
  def ask_tell(es, k):
    c = esjax.strategies.ask(strategy, es, k, jnp.arange(population))
    returns = c.sum(1)  # any cheap, candidate-dependent fitness
    return esjax.strategies.tell(strategy, es, k, returns)[0]

  common.timed(ask_tell, es0, key)

  one_generation, holder = _first_generation(s, row)

  # Round-robin under the same load; CPU seconds are the load-robust measure.
  with common.CompileCounter() as later:
    t = common.interleaved({"bare": lambda: bare(key), "bare_obs": lambda: bare_obs(key),
                            "rollout": lambda: roll(cands, norm, keys),
                            "ask_tell": lambda: ask_tell(es0, key),
                            "esjax": one_generation}, max(repeats, gens_after))
  simulated = int(to_host(holder["buf"]).gen_env_steps[0])
  assert simulated == steps, (simulated, steps)  # fixed-length: equal work in both
  row.update(_ratios(t, steps))
  row["recompiles_after_first"] = later.count
  common.log(row)
  return row


def _first_generation(s, row: dict):
  """The full generation's first call (compile), timed into ``row``; returns a function that
  runs one more generation (the state is donated) and the holder of its state and buffer."""
  with common.CompileCounter() as first:
    t0 = time.perf_counter()
    state, buf, _ = s.run_generations(s.state, 1)
    common.block(buf)
    row["first_gen_s"] = time.perf_counter() - t0
  row["first_gen_compiles"] = first.count
  holder = {"state": state, "buf": buf}

  def one_generation():
    holder["state"], holder["buf"], _ = s.run_generations(holder["state"], 1)
    return holder["buf"]

  return one_generation, holder


def _ratios(t: dict, steps: int) -> dict:
  """The row's timings and ratios from the interleaved rounds ``t``: CPU seconds are the
  load-robust measure, wall seconds what a user waits."""
  cpu = {k: v["cpu"] for k, v in t.items()}
  wall = {k: v["wall"] for k, v in t.items()}
  return {
      "bare_cpu_s": cpu["bare"], "bare_obs_cpu_s": cpu["bare_obs"],
      "rollout_cpu_s": cpu["rollout"], "ask_tell_cpu_s": cpu["ask_tell"],
      "esjax_gen_cpu_s": cpu["esjax"],
      "ratio_bare/esjax": cpu["bare"] / cpu["esjax"],
      "ratio_bare_obs/esjax": cpu["bare_obs"] / cpu["esjax"],
      "ratio_bare/rollout": cpu["bare"] / cpu["rollout"],
      "wall_ratio_bare/esjax": wall["bare"] / wall["esjax"],
      "bare_wall_s": wall["bare"], "esjax_gen_wall_s": wall["esjax"],
      "esjax_steps_per_s": steps / wall["esjax"],
  }


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--envs", default="hopper,ant")
  p.add_argument("--backend", default="spring")
  p.add_argument("--populations", default="256")
  p.add_argument("--episode-length", type=int, default=100)
  p.add_argument("--hidden-sizes", default="32,32")
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--generations", type=int, default=5, help="timed generations after the first")
  p.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
  p.add_argument("--name", default="physics_limit")
  a = p.parse_args(argv)
  hidden = tuple(int(h) for h in a.hidden_sizes.split(","))
  rows = [bench_one(e, a.backend, int(n), a.episode_length, hidden, a.repeats, a.generations)
          for e in a.envs.split(",") for n in a.populations.split(",")]
  cols = ["env", "pop", "T", "bare_cpu_s", "bare_obs_cpu_s", "rollout_cpu_s", "ask_tell_cpu_s",
          "esjax_gen_cpu_s", "ratio_bare/esjax", "ratio_bare_obs/esjax", "ratio_bare/rollout",
          "wall_ratio_bare/esjax", "esjax_steps_per_s",
          "first_gen_s", "first_gen_compiles", "recompiles_after_first"]
  notes = [
      f"Backend {a.backend}; MLP {a.hidden_sizes} tanh. Every variant is timed round-robin "
      f"({max(a.repeats, a.generations)} rounds, medians, compile excluded) so all run under the "
      "same load; *_cpu_s are process CPU seconds (all threads), the load-robust measure on a "
      "shared machine, and the ratios use them; wall_ratio uses wall seconds.",
      "Fixed-length episodes: envs built with terminate_when_unhealthy=False, so esjax's "
      "while_loop runs all T steps for every member, exactly the bare scan's pop x T steps "
      "(asserted from esjax's own step count): the ratio compares equal simulated work.",
      "bare = vmapped reset + lax.scan of env.step with zero actions (no policy, no ES); "
      "rollout = esjax's episode alone (policy, obs normalization, stats); both sharded over "
      "the devices the generation runs on (esjax's default: one per core on a CPU host). "
      "ask_tell = perturb + rank + noise-sum rebuild + Adam, no env, on one device; esjax_gen "
      "= one whole compiled generation.",
      "bare_obs = the same scan with action = 0.01*tanh(obs[:action_size]): the observation "
      "must then be computed, as for any policy (a check that zero actions do not flatter "
      "the limit by letting XLA skip it).",
      "ratio_bare/esjax = bare / esjax generation (target >= 0.9 at pop >= 256); "
      "ratio_bare_obs/esjax the same against the observation-reading limit.",
      "first_gen_s includes tracing + XLA compile; recompiles_after_first counts backend "
      "compilations (jax.monitoring) over the timed generations: 0 means no recompilation.",
  ]
  common.write_results(a.name, "esjax vs the physics limit", rows, notes, columns=cols,
                       out_dir=a.out)


if __name__ == "__main__":
  main()
