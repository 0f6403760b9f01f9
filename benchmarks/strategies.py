"""Every strategy on Brax envs at one env-step budget, and ask+tell cost against evosax.

    python -m benchmarks.strategies [--part rl|ask_tell|sphere|all] [--envs hopper,halfcheetah]
                                    [--env-steps 3000000] [--seeds 3] [--params 1e4,1e5,1e6]

Part ``rl``: each registered strategy trains each env with the same MLP policy (32x32 tanh),
population (64 by default) and env-step budget per seed; the seeds run vmapped through one compiled step
(``--num-seeds``), so the wall time is that of all seeds together. The final evaluation
return (8 episodes of the unperturbed policy) is reported as mean +- std over seeds.
Settings per strategy are in ``RL_SETTINGS``: each strategy's own defaults except where a
paper gives a setting for these envs (ARS: the survival-bonus shift of 1 on hopper).

Part ``ask_tell``: one generation's ask + tell (population 256, a trivial fitness so nothing
else costs) of esjax's keys-only strategies against evosax's implementation of the same
strategy, side by side in one run at each parameter count; esjax materializes the
candidates exactly as evosax does, so the difference is the update.

Part ``sphere``: ``esjax.minimize`` on a 20-d sphere started at f = 81, every strategy with
its black-box defaults (``optimize.BLACK_BOX_OPTIONS``) and with its factory's (Brax-tuned)
values of those options, 100 generations of 64, seed 0: f at the final mean.

Writes ``benchmarks/results/strategies_rl.md``, ``strategies_ask_tell.md`` and
``strategies_sphere.md`` (+ csv/json).
"""
from __future__ import annotations

import argparse
import inspect
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common
import esjax
from esjax import keys, strategies
from esjax.core import step as step_lib

POPULATION = 256
# Options per strategy for the RL table; anything not named keeps the strategy's default.
RL_SETTINGS = {
    "open_es": {},
    "ars": {"sigma": 0.025, "learning_rate": 0.02, "top_directions": 16},
    "pgpe": {"sigma": 0.05},
    "snes": {"sigma": 0.05},
    "sep_cma_es": {"sigma": 0.05},
}
# The survival bonus per step that ARS removes during training (Mania et al. 2018).
ARS_SHIFT = {"hopper": 1.0, "walker2d": 1.0, "ant": 1.0, "humanoid": 5.0}
# evosax's class for each esjax strategy (same algorithm).
EVOSAX = {"open_es": "Open_ES", "ars": "ARS", "pgpe": "PGPE", "snes": "SNES",
          "sep_cma_es": "Sep_CMA_ES"}


def rl_rows(envs, env_steps, seeds, quick, population, member_chunk=None,
            on_row=lambda rows: None):
  rows = []
  for env in envs:
    for name in sorted(strategies.REGISTRY):
      options = dict(RL_SETTINGS.get(name, {}))
      if name == "ars":
        options["reward_shift"] = ARS_SHIFT.get(env, 0.0)
      config = esjax.TrainConfig.of(
          env=env, strategy=name, population_size=population, env_steps=env_steps,
          generations=None, eval_every=10**6, eval_episodes=8,  # evaluated once, at the end
          num_seeds=seeds, episode_length=1000, member_chunk=member_chunk, **options)
      common.log(f"{env} {name} {options}")
      t0 = time.perf_counter()
      result = esjax.train(config, progress=False)
      wall = time.perf_counter() - t0
      last = result.metrics[-1]
      evals = np.atleast_1d(np.asarray(last.get("eval_return_per_seed", last["eval_return"])))
      steps = last.get("env_steps_per_seed", last["env_steps"])
      built = config.strategy.build()
      devices = step_lib.default_device_count(population, built.mirrored, member_chunk)
      rows.append({"env": env, "strategy": name, "options": _fmt_options(options),
                   "devices": devices or jax.device_count(),
                   "eval_mean": float(evals.mean()), "eval_std": float(evals.std()),
                   "eval_per_seed": " / ".join(f"{v:.0f}" for v in evals),
                   "generations": last["generation"],
                   "env_steps_per_seed": int(np.max(np.atleast_1d(steps))),
                   "wall_s_all_seeds": wall})
      on_row(rows)  # the table so far after every run: a long run always leaves results
  return rows


def _fmt_options(options):
  return ", ".join(f"{k}={v}" for k, v in options.items()) or "defaults"


def ask_tell_rows(param_counts, repeats):
  import evosax.algorithms as ev  # pylint: disable=g-import-not-at-top
  rows = []
  members = jnp.arange(POPULATION)
  for num_params in param_counts:
    for name in sorted(strategies.REGISTRY):
      if name not in EVOSAX:
        continue
      strategy = strategies.REGISTRY[name](POPULATION)
      state = strategy.init(jnp.zeros(num_params))

      @jax.jit
      def esjax_step(state, key, strategy=strategy):
        gen_key = keys.generation_key(key, 0)
        cands = strategies.ask(strategy, state, gen_key, members)  # (pop, P), as evosax's
        return strategies.tell(strategy, state, gen_key, cands.sum(1))[0]

      es = getattr(ev, EVOSAX[name])(POPULATION, jnp.zeros(num_params))
      params = es.default_params
      key = jax.random.PRNGKey(0)
      es_state = es.init(key, jnp.zeros(num_params), params)

      @jax.jit
      def evosax_step(es_state, key, es=es, params=params):
        k_ask, k_tell = jax.random.split(key)
        pop, es_state = es.ask(k_ask, es_state, params)
        return es.tell(k_tell, pop, -pop.sum(1), es_state, params)[0]  # evosax minimizes

      common.block(esjax_step(state, key))  # compile both first
      common.block(evosax_step(es_state, key))
      t = common.interleaved({"esjax": lambda: esjax_step(state, key),
                              "evosax": lambda: evosax_step(es_state, key)}, repeats)
      rows.append({"params": num_params, "strategy": name,
                   "esjax_cpu_s": t["esjax"]["cpu"], "evosax_cpu_s": t["evosax"]["cpu"],
                   "evosax/esjax (cpu)": t["evosax"]["cpu"] / t["esjax"]["cpu"],
                   "esjax_wall_s": t["esjax"]["wall"], "evosax_wall_s": t["evosax"]["wall"]})
      common.log(rows[-1])
  return rows


# A 20-d sphere started at distance 9 from its optimum (f = 81), as tests/training/test_optimize.py.
SPHERE_X0 = np.full(20, 9.0 / np.sqrt(20), np.float32)


def sphere_rows():
  """f at the final mean of ``minimize`` on the sphere, with the black-box defaults and with
  the factory's own values of the options those defaults replace."""
  from esjax.training import optimize  # pylint: disable=g-import-not-at-top
  sphere = lambda x, key: jnp.sum(x ** 2)
  rows = []
  for name in sorted(strategies.REGISTRY):
    replaced = optimize.BLACK_BOX_OPTIONS.get(name, {})
    factory = inspect.signature(strategies.REGISTRY[name]).parameters
    brax = {k: factory[k].default for k in replaced}
    row = {"strategy": name, "f(x0)": float(sphere(SPHERE_X0, None)),
           "black_box_options": ", ".join(f"{k}={v}" for k, v in replaced.items()) or "-",
           "f_black_box_defaults": float(sphere(esjax.minimize(sphere, SPHERE_X0, name).mean,
                                                None))}
    row["f_factory_values"] = (float(sphere(esjax.minimize(sphere, SPHERE_X0, name, **brax).mean,
                                            None)) if brax else row["f_black_box_defaults"])
    rows.append(row)
    common.log(row)
  return rows


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--part", default="all", choices=("rl", "ask_tell", "sphere", "all"))
  p.add_argument("--envs", default="hopper,halfcheetah")
  p.add_argument("--env-steps", type=int, default=1_000_000, help="budget per seed")
  p.add_argument("--population", type=int, default=64, help="members per generation (rl)")
  p.add_argument("--seeds", type=int, default=3)
  p.add_argument("--member-chunk", type=int, default=32,
                 help="members per chunk: 32 lets pop 64 run on one device per core of a "
                      "2-core CPU with the one-device result")
  p.add_argument("--params", default="1e4,1e5,1e6")
  p.add_argument("--repeats", type=int, default=3)
  p.add_argument("--quick", action="store_true", help="tiny budgets: checks that it runs")
  p.add_argument("--out", default=None, help="results directory (default benchmarks/results)")
  a = p.parse_args()
  if a.quick:
    a.env_steps, a.seeds, a.params, a.repeats, a.population = 20_000, 2, "1e3", 1, 16
    a.member_chunk = 8
  if a.part in ("rl", "all"):
    rl_rows(a.envs.split(","), a.env_steps, a.seeds, a.quick, a.population, a.member_chunk,
            on_row=lambda rows: _write_rl(a, rows))
  if a.part in ("ask_tell", "all"):
    counts = [int(float(x)) for x in a.params.split(",")]
    rows = ask_tell_rows(counts, a.repeats)
    common.write_results(
        "strategies_ask_tell", f"ask + tell of one generation, population {POPULATION}: "
        "esjax vs evosax", rows,
        ["Both materialize the population (pop x P candidates) and take a trivial fitness, so "
         "the times are the strategies' own; CPU seconds of this process, median of "
         "interleaved repeats.",
         "esjax rebuilds the noise from keys in tell (64 directions at a time); evosax keeps "
         "the population it sampled and reuses it."],
        out_dir=a.out)
  if a.part in ("sphere", "all"):
    common.write_results(
        "strategies_sphere", "minimize on a 20-d sphere: black-box defaults against the "
        "factories' values", sphere_rows(),
        ["esjax.minimize(sphere, x0, strategy): 100 generations of 64, seed 0, x0 at distance 9 "
         "(f = 81); f at the final mean.",
         "f_factory_values: the options black_box_options names set back to the strategy "
         "factory's defaults (tuned for Brax policies); a strategy with none has the same run."],
        out_dir=a.out)


def _write_rl(a, rows):
  common.write_results(
      "strategies_rl", f"Strategies on Brax envs, {a.env_steps:,} env steps per seed, "
      f"{a.seeds} seeds", rows,
      [f"Population {a.population} in chunks of {a.member_chunk}, on "
       "the devices column's CPU devices, 32x32 tanh MLP, observation normalization, spring backend, "
       "1000-step episodes; final evaluation over 8 episodes of the unperturbed policy.",
       "The seeds run vmapped through one compiled step: wall_s_all_seeds is their time "
       "together, compile included.",
       "ARS trains with the survival bonus removed on hopper (shift 1; evaluation uses the "
       "true reward) and with the MLP policy, not the paper's linear one."],
      out_dir=a.out)


if __name__ == "__main__":
  main()
