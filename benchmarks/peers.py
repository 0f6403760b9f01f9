"""esjax next to its peers on the same work: Brax's ES trainer and evosax's Open_ES.

Same env (hopper, spring), same population counted in members (Brax's ``population_size``
counts mirrored pairs, so it gets half), same episode length, same budget of *live* env
steps (steps before each episode's end: the currency Brax's trainer and esjax both count),
same policy size (MLP 32x32) and the same OpenAI-ES settings wherever the peer exposes them
(sigma 0.05, Adam lr 0.02, weight decay 0.005, centered ranks, observation normalization).

Reports live env steps/s in steady state (first generation excluded), XLA compile seconds
(backend compiles counted by ``jax.monitoring``), the final policy's return on one shared
deterministic evaluation, and the live env steps at which the population's mean training
return first reached ``--threshold``.

    python -m benchmarks.peers                                   # CPU default, ~6-8 min
    python -m benchmarks.peers --population 2048 --episode-length 1000 --budget 50000000  # GPU
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import io
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks import common
import esjax
from esjax.envs.brax import make_env

with contextlib.redirect_stdout(io.StringIO()):
  from brax import envs as brax_envs  # noqa: E402

SIGMA, LR, L2, HIDDEN = 0.05, 0.02, 0.005, (32, 32)


def shared_eval(env, act, episode_length: int, episodes: int, seed: int = 123) -> float:
  """Mean undiscounted return of a deterministic ``act(obs) -> action`` over ``episodes``
  episodes of the raw (terminating) env, identical for every method."""

  @jax.jit
  def run(key):
    def episode(k):
      s = env.reset(k)

      def body(c, _):
        s, ret, alive = c
        s = env.step(s, act(s.obs))
        ret = ret + alive * s.reward
        return (s, ret, alive * (1.0 - s.done)), None

      (_, ret, _), _ = jax.lax.scan(body, (s, 0.0, 1.0), None, length=episode_length)
      return ret

    return jax.vmap(episode)(jax.random.split(key, episodes))

  return float(np.mean(run(jax.random.PRNGKey(seed))))


def summarize(name, curve, compile_s, wall_s, final_return, threshold, settings):
  """curve: list of (live_env_steps, train_wall_s, pop_mean_return[, process_cpu_s]), one per
  logged point. CPU seconds (``time.process_time``, all threads) count the work a method did
  whatever else the shared machine was running; wall seconds do not."""
  steps = np.array([c[0] for c in curve], float)
  wall = np.array([c[1] for c in curve], float)
  ret = np.array([c[2] for c in curve], float)
  cpu = np.array([c[3] if len(c) > 3 else np.nan for c in curve], float)
  # Steady state: over the second half of the logged points, so the first generation's compile
  # (and evosax's second, after its state's weak types settle) never counts, and every method
  # is measured in the same phase of learning.
  k = min(len(curve) // 2, len(curve) - 2) if len(curve) > 1 else 0
  nan = float("nan")
  rate = (steps[-1] - steps[k]) / max(wall[-1] - wall[k], 1e-9) if len(curve) > 1 else nan
  cpu_rate = (steps[-1] - steps[k]) / max(cpu[-1] - cpu[k], 1e-9) if len(curve) > 1 else nan
  hit = np.nonzero(ret >= threshold)[0]
  return {"method": name, "live_env_steps": int(steps[-1]), "live_steps_per_s": float(rate),
          "live_steps_per_cpu_s": float(cpu_rate),
          # Whole run, early short episodes included, compile seconds taken out.
          "run_steps_per_s": float(steps[-1] / max(wall_s - compile_s, 1e-9)),
          "compile_s": compile_s, "train_wall_s": wall_s, "final_eval_return": final_return,
          "best_pop_mean_return": float(ret.max()),
          "steps_to_threshold": int(steps[hit[0]]) if len(hit) else "not reached",
          "points": len(curve), "settings": settings}


def run_esjax(a, eval_env):
  config = esjax.TrainConfig.of(env="hopper", backend=a.backend, population_size=a.population,
                             episode_length=a.episode_length, sigma=SIGMA, learning_rate=LR,
                             weight_decay=L2, hidden_sizes=HIDDEN, generations=None,
                             env_steps=a.budget, eval_every=0, seed=a.seed)
  curve = []
  with common.CompileCounter() as cc:
    t0 = time.perf_counter()
    # No persistent compilation cache: compile_s is the compile a first run pays, as for the
    # peers, whatever an earlier run of this benchmark left in esjax's default cache.
    res = esjax.train(config, progress=False, compile_cache=None, on_record=lambda r: curve.append(
        (r["env_steps"], r["wall_s"], r["pop_return_mean"], time.process_time())))
    wall = time.perf_counter() - t0
  final = shared_eval(eval_env, res.act, a.episode_length, a.eval_episodes)
  return summarize("esjax", curve, cc.seconds, wall, final, a.threshold,
                   f"pop {a.population} members, sigma {SIGMA}, adam {LR}, wd {L2}, "
                   "centered rank, MLP 32x32 tanh, obs norm")


def run_brax(a, eval_env):
  from brax.training.agents.es import networks as es_networks
  from brax.training.agents.es import train as brax_es

  curve = []

  def progress(step, metrics):
    if "training/walltime" in metrics:
      curve.append((step, metrics["training/walltime"], float(metrics["training/eval_scores_mean"]),
                    time.process_time()))

  env = brax_envs.get_environment("hopper", backend=a.backend)
  net = functools.partial(es_networks.make_es_networks, hidden_layer_sizes=HIDDEN,
                          activation=jnp.tanh)
  with common.CompileCounter() as cc:
    t0 = time.perf_counter()
    make_policy, params, _ = brax_es.train(
        env, num_timesteps=a.budget, episode_length=a.episode_length,
        population_size=a.population // 2, learning_rate=LR, perturbation_std=SIGMA,
        l2coeff=L2, fitness_shaping=brax_es.FitnessShaping.CENTERED_RANK,
        normalize_observations=True, num_evals=a.brax_points, num_eval_envs=8,
        deterministic_eval=True, network_factory=net, seed=a.seed, progress_fn=progress)
    wall = time.perf_counter() - t0
  # Brax's trainer leaves its params sharded over the host's devices (esjax splits a CPU into
  # one per core); the shared evaluation runs on one device, so the params come to the host.
  policy = make_policy(jax.device_get(params), deterministic=True)
  final = shared_eval(eval_env, lambda o: policy(o, jax.random.PRNGKey(0))[0],
                      a.episode_length, a.eval_episodes)
  return summarize("brax.training.agents.es", curve, cc.seconds, wall, final, a.threshold,
                   f"population_size {a.population // 2} pairs (= {a.population} members), "
                   f"perturbation_std {SIGMA}, adam {LR}, l2coeff {L2}, CENTERED_RANK, MLP 32x32 "
                   "tanh, normalize_observations, tanh-normal sampled actions; "
                   f"logged every budget/{a.brax_points - 1} (its eval points)")


def run_evosax(a, eval_env):
  from evosax.algorithms import Open_ES
  from evosax.problems import BraxProblem
  from evosax.problems.networks import MLP, tanh_output_fn

  action_size = int(eval_env.action_size)
  net = MLP(layer_sizes=HIDDEN + (action_size,), output_fn=tanh_output_fn)
  problem = BraxProblem("hopper", net, episode_length=a.episode_length,
                        env_kwargs={"backend": a.backend})
  key = jax.random.PRNGKey(a.seed)
  solution = problem.sample(key)
  # evosax has no weight-decay knob in Open_ES; AdamW's decoupled decay plays that role.
  es = Open_ES(a.population, solution, optimizer=optax.adamw(LR, weight_decay=L2),
               std_schedule=optax.constant_schedule(SIGMA))
  params = es.default_params

  @jax.jit
  def generation(es_state, p_state, key):
    k_ask, k_eval, k_tell = jax.random.split(key, 3)
    pop, es_state = es.ask(k_ask, es_state, params)
    fitness, p_state, info = problem.eval(k_eval, pop, p_state)
    # Live steps: up to and including the first done of each (pop, rollout) episode.
    done = info["env_states"].done  # (pop, rollouts, T)
    alive_before = jnp.cumprod(1.0 - done, axis=-1)
    live = done.shape[0] * done.shape[1] + alive_before[..., :-1].sum()
    es_state, _ = es.tell(k_tell, pop, -fitness, es_state, params)  # evosax minimizes
    return es_state, p_state, live.astype(jnp.int32), fitness.mean()

  curve, steps = [], 0
  with common.CompileCounter() as cc:
    t0 = time.perf_counter()
    es_state = es.init(key, solution, params)
    p_state = problem.init(key)
    while steps < a.budget:
      key, k = jax.random.split(key)
      es_state, p_state, live, mean = generation(es_state, p_state, k)
      steps += int(live)
      curve.append((steps, time.perf_counter() - t0, float(mean), time.process_time()))
    wall = time.perf_counter() - t0
  mean_params = es.get_mean(es_state)
  final = shared_eval(eval_env, lambda o: net.apply(mean_params,
                                                    problem.normalize_obs(o, p_state)),
                      a.episode_length, a.eval_episodes)
  return summarize("evosax Open_ES", curve, cc.seconds, wall, final, a.threshold,
                   f"evosax {_version('evosax')}, BraxProblem (fixed-length scan), pop "
                   f"{a.population} antithetic, std {SIGMA}, adamw {LR} wd {L2}, centered rank, "
                   "MLP 32x32 tanh, obs norm")


def _version(pkg):
  from importlib import metadata
  try:
    return metadata.version(pkg)
  except metadata.PackageNotFoundError:
    return "?"


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--backend", default="spring")
  p.add_argument("--population", type=int, default=256, help="members (pairs x 2)")
  p.add_argument("--episode-length", type=int, default=200)
  p.add_argument("--budget", type=int, default=1_000_000, help="live env steps per method")
  p.add_argument("--threshold", type=float, default=150.0,
                 help="population mean training return for steps_to_threshold")
  p.add_argument("--eval-episodes", type=int, default=16)
  p.add_argument("--brax-points", type=int, default=11, help="Brax num_evals (log points)")
  p.add_argument("--methods", default="esjax,brax,evosax")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--out", default=None)
  p.add_argument("--name", default="peers")
  a = p.parse_args(argv)
  eval_env = make_env("hopper", a.backend)
  runners = {"esjax": run_esjax, "brax": run_brax, "evosax": run_evosax}
  rows = []
  for m in a.methods.split(","):
    common.log(f"== {m}")
    rows.append(runners[m](a, eval_env))
    common.log(rows[-1])
  base = rows[0]["live_steps_per_cpu_s"]
  peers = [r["live_steps_per_cpu_s"] for r in rows[1:]]
  for r in rows:
    r["esjax_speedup"] = base / r["live_steps_per_cpu_s"]
    r["esjax_speedup_wall"] = rows[0]["live_steps_per_s"] / r["live_steps_per_s"]
  cols = ["method", "live_env_steps", "live_steps_per_cpu_s", "esjax_speedup", "live_steps_per_s",
          "esjax_speedup_wall", "run_steps_per_s",
          "compile_s",
          "train_wall_s", "final_eval_return", "best_pop_mean_return", "steps_to_threshold"]
  notes = [f"hopper/{a.backend}, population {a.population} members, episode length "
           f"{a.episode_length}, budget {a.budget:,} live env steps, seed {a.seed}."]
  notes += [f"{r['method']}: {r['settings']}." for r in rows]
  notes += [
      "live_steps_per_cpu_s = live env steps / process CPU seconds (all threads) over the "
      "second half of each method's logged points (steady state: no compile); esjax_speedup "
      "is its ratio. CPU seconds measure the work done, so the ratio holds although other "
      "jobs load the shared machine differently while each method runs; live_steps_per_s "
      "and esjax_speedup_wall are the same over wall seconds (load-sensitive). "
      "Brax's ES and evosax's BraxProblem always simulate the full episode length (steps after "
      "a fall are masked, not skipped); esjax stops a generation's while_loop when every member "
      "is done, so it simulates fewer wasted steps -- that is part of what is measured.",
      "run_steps_per_s = all live env steps / (train_wall_s - compile_s): the whole run, "
      "including the early generations where most episodes end early (there esjax's early exit "
      "saves most, and Brax's wall time also holds its periodic evaluations). The methods run "
      "one after the other on a shared machine, so load may differ between them.",
      "compile_s = XLA backend compile seconds during the run (jax.monitoring), eval "
      "compiles of the trainer included (Brax compiles its evaluator too).",
      f"final_eval_return = the final policy, deterministic, on the same {a.eval_episodes} "
      "episodes of the raw terminating env for every method.",
      f"steps_to_threshold = live env steps when the population's mean training return first "
      f">= {a.threshold} (Brax's training returns use sampled actions, and it is only logged at "
      f"{a.brax_points - 1} points, so its figure is coarse).",
  ]
  if peers:
    notes.append(f"esjax / best peer live steps per CPU-second = {base / max(peers):.2f}x")
  common.write_results(a.name, "esjax vs Brax ES vs evosax on hopper", rows, notes, columns=cols,
                       out_dir=a.out)


if __name__ == "__main__":
  main()
