"""The outer driver: compiled generations, evaluation, logging, outputs.

Python wakes only between compiled calls (each runs ``generations_per_call`` generations),
to log, evaluate and write files; everything inside a generation stays on the devices.
"""
from __future__ import annotations

import dataclasses
import os
import sys
import time
import warnings
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from esjax import keys, xla_env
from esjax.rundir import checkpoint as ckpt_lib
from esjax.runtime import preflight
from esjax.strategies.base import Strategy
from esjax.perturbations.base import Perturbation
from esjax.perturbations.gaussian import GAUSSIAN
from esjax.perturbations.lowrank import LowRank, LowRankLayout
from esjax.runtime import compile_cache as cache_lib
from esjax.rundir import lock as lock_lib
from esjax.rundir import files as run_io
from esjax.sinks import loggers as logging_sinks
from esjax.config import sweep as sweep_lib
from esjax.core import step as step_lib
from esjax.core import multihost
from esjax.config.train_config import TrainConfig
from esjax.errors import ConfigError
from esjax.runtime.preemption import StopRequest
from esjax.policies import Policy, make_policy
from esjax.sinks.progress import Progress
from esjax.problems.base import Problem, is_pytree, on_pytree, ravel_tree
from esjax.problems import reference, sources
from esjax.problems.tricks import AdaptiveCutoff
from esjax.core.mesh import make_mesh, replicate, to_host


@dataclasses.dataclass(frozen=True)
class Setup:
  """Everything built from a config before the first generation."""
  config: TrainConfig
  problem: Problem  # what training evaluates (rewards shifted by the config's reward_shift)
  policy: Policy | None
  action_size: int
  mesh: Mesh
  strategy: Strategy
  state: step_lib.TrainState  # replicated over the mesh (a leading run axis if num_runs > 1)
  run: Callable  # (state, n) -> (state, metrics buffer, generations run per seed)
  evaluate: Callable  # state -> (mean, std), with the true (unshifted) reward
  obs_shape: tuple[int, ...] = ()  # the env's observation shape ((10, 10, C) for MinAtar)
  discrete: bool = False  # discrete actions (an argmax policy head)
  unravel: Callable | None = None  # flat -> the pytree a custom problem's params were given as


@dataclasses.dataclass(frozen=True)
class TrainResult:
  config: TrainConfig
  params: Any  # flax params pytree (leading run axis if num_runs > 1: sweep points x seeds)
  flat_params: np.ndarray
  normalizer: Any
  metrics: list[dict[str, Any]]  # with an out_dir, read from its metrics.jsonl on first use
  policy: Callable[[jax.Array], jax.Array] | None  # obs -> action (seed 0 if several)
  state: step_lib.TrainState
  run_dir: str | None
  interrupted: str | None = None  # the signal (SIGTERM/SIGINT) that stopped the run early
  # With a sweep: the grid point with the best final evaluation (mean over its seeds).
  best_setting: dict[str, float] | None = None


def setup(config: TrainConfig, problem: Problem | None = None,
          initial_params: jax.Array | None = None, policy_module=None) -> Setup:
  """Validates ``config`` and builds the env, policy, strategy, mesh and compiled step.

  ``problem`` replaces the Brax rollout with any fitness function (see ``problems.black_box``);
  then ``initial_params`` (a flat vector or a pytree) is required and ``env``/policy fields
  are unused. ``policy_module`` is a user's flax module to train on the env instead of the
  config's policy kind (``policies.make_policy`` says what it must return); the config then
  records ``policy="custom"``. With ``perturbation="lowrank"`` the 2-D leaves of the params
  pytree (the policy's, or ``initial_params``) are the matrices perturbed at low rank.
  """
  if policy_module is not None:
    config = config.replace(policy="custom")
  rt, pc = config.runtime, config.problem
  strategy = config.validate().strategy.build()  # checked before it is built
  # ARS's survival-bonus shift: an option of the config, applied here to training rollouts.
  reward_shift = float(config.strategy.resolved().get("reward_shift", 0.0))
  num_devices = rt.num_devices or step_lib.default_device_count(
      strategy.population_size, strategy.mirrored, rt.member_chunk)
  mesh = make_mesh(num_devices)
  config.validate(device_count=mesh.size)
  key = jax.random.PRNGKey(rt.seed)
  policy, action_size, obs_shape, discrete = None, 0, (), False
  if problem is None:
    # Brax, gymnax or playground by the env name's prefix (problems/sources.py).
    built = sources.build(pc, config.policy, key, reward_shift=reward_shift,
                          module=policy_module)
    problem, eval_problem, policy = built.problem, built.eval_problem, built.policy
    params, action_size, obs_shape = built.params, built.action_size, built.obs_shape
    discrete = built.discrete
    # The config as run: the env's own backend and episode length written out, so a resumed
    # run keeps them even if a default changes.
    config = config.replace(backend=sources.resolved_backend(pc.env, pc.backend),
                            episode_length=built.episode_length)
    if config.policy.vbn:
      config = config.replace(vbn_batch=config.policy.vbn_batch or reference.DEFAULT_SIZE)
  elif config.policy.vbn:
    raise ConfigError("vbn is a setting of the env policies (mlp, cnn); a custom problem "
                      "brings its own network: drop vbn")
  elif initial_params is None:
    raise ValueError("a custom problem needs initial_params (a flat parameter vector)")
  elif reward_shift:
    raise ConfigError(f"reward_shift={reward_shift} applies to the Brax rollout's "
                      "per-step rewards; a custom problem defines its own returns (build it "
                      "with brax_problem(..., reward_shift=...)) or set reward_shift=0")
  elif pc.adaptive_cutoff:
    raise ConfigError(f"adaptive_cutoff={pc.adaptive_cutoff} limits the Brax/gymnax rollouts' "
                      "episode length; a custom problem has none: set adaptive_cutoff=0")
  else:
    eval_problem = problem
  unravel = None
  tree = policy.unravel(params) if policy is not None else None
  if initial_params is not None and is_pytree(initial_params):
    # A pytree (a flax params dict): ES perturbs its flat vector, the problem sees the tree.
    tree = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), initial_params)
    params, unravel = ravel_tree(tree)
    if problem.takes_tree:  # a black-box fitness of the tree; other problems take it flat
      problem, eval_problem = on_pytree(problem, unravel), on_pytree(eval_problem, unravel)
  elif initial_params is not None:
    params = jnp.asarray(initial_params, jnp.float32)
    tree = params
  perturbation = _perturbation(config, tree)
  if problem.check is not None:
    problem.check(params)
  cutoff = None
  if pc.adaptive_cutoff:  # training episodes only: evaluation runs the whole episode_length
    cutoff = AdaptiveCutoff.of(pc, config.problem.episode_length)
    if cutoff.start > cutoff.maximum:
      raise ConfigError(f"adaptive_cutoff={cutoff.start} is invalid: it starts above "
                        f"{pc.env!r}'s episode length {cutoff.maximum}; expected at most that")
  # Seed s of a K-seed run is exactly the single run with seed + s; a sweep point's runs start
  # from the state its own strategy would (config/sweep.py), and all share this strategy's step.
  runs = config.num_runs
  run_strategies = sweep_lib.run_strategies(config.strategy, rt.num_seeds)
  states = [step_lib.init_state(st, params, problem.obs_size, rt.seed + r % rt.num_seeds,
                                cutoff) for r, st in enumerate(run_strategies)]
  if problem.reference_batch is not None:
    # VBN: each run's reference batch from its own run key (seed s of K is the single run
    # with seed + s), drawn the same way on every process and device count.
    states = [st.replace(normalizer=st.normalizer.replace(
        vbn_batch=problem.reference_batch(keys.vbn_key(st.key)))) for st in states]
  state = states[0] if runs == 1 else jax.tree.map(lambda *x: jnp.stack(x), *states)
  if jax.default_backend() == "cpu" and not xla_env.no_fma_in_effect():
    warnings.warn("esjax: FMA is on (JAX started before esjax was imported, or ESJAX_CPU_FMA=1"
                  " or another --xla_cpu_max_isa), so results may differ in the last bits "
                  f"between device counts; set XLA_FLAGS={xla_env.NO_FMA_FLAG} for bitwise "
                  "invariance (docs/reproducibility.md)", stacklevel=2)
  local = strategy.population_size // mesh.size
  chunk = rt.member_chunk or step_lib.default_member_chunk(local, jax.default_backend())
  generation = step_lib.make_generation(problem, strategy, mesh.size, pc.normalize_obs, rt.comm,
                                        chunk, cutoff, perturbation=perturbation,
                                        noise_chunk=config.strategy.noise_chunk)
  sharded = step_lib.shard_generation(generation, mesh, runs)
  run = step_lib.make_multi_step(sharded, rt.generations_per_call, rt.env_steps)
  evaluate = step_lib.make_evaluate(eval_problem, rt.eval_episodes, runs)
  return Setup(config, problem, policy, action_size, mesh, strategy, replicate(state, mesh),
               run, evaluate, tuple(obs_shape), discrete, unravel)


def _perturbation(config: TrainConfig, tree) -> Perturbation:
  """The configured member noise; ``tree`` is the initial params pytree."""
  st = config.strategy
  if st.perturbation == "full":
    return GAUSSIAN
  layout = LowRankLayout.of(tree)
  if not layout.kernels:
    raise ConfigError("perturbation='lowrank' needs at least one 2-D weight matrix in the "
                      "params; these have none (a custom problem: pass initial_params as a "
                      "pytree whose matrices are 2-D leaves), or use --perturbation full")
  return LowRank(layout, st.rank)


def _record(config: TrainConfig, row: dict[str, np.ndarray], live: np.ndarray,
            generation: int, seed_generation: np.ndarray, env_steps: np.ndarray,
            wall_s: float, steps_per_s: float) -> dict[str, Any]:
  """One metrics line. With several runs (seeds, sweep points: ``_per_seed`` lists are per
  run, point-major), ``live`` (num_runs,) marks the runs that ran this
  generation: the others have stopped at their env-step budget, their per-seed values are
  ``None`` and means are over the live seeds; ``generation_per_seed`` and
  ``env_steps_per_seed`` say where each seed is (or stopped), and ``env_steps`` is their mean."""
  if config.num_runs == 1:
    rec: dict[str, Any] = {"generation": generation, "env_steps": int(env_steps[0]),
                           "wall_s": round(wall_s, 3), "steps_per_s": steps_per_s}
    rec.update({name: np.asarray(value).item() for name, value in row.items()})
    return rec
  rec = {"generation": generation, "env_steps": int(round(float(env_steps.mean()))),
         "wall_s": round(wall_s, 3), "steps_per_s": steps_per_s,
         "generation_per_seed": seed_generation.tolist(),
         "env_steps_per_seed": env_steps.tolist()}
  for name, value in row.items():
    value = np.asarray(value)
    rec[name] = float(value[live].mean())
    rec[name + "_per_seed"] = [v if on else None for v, on in zip(value.tolist(), live)]
  return rec


def train(config: TrainConfig, out_dir: str | None = None, problem: Problem | None = None,
          initial_params: jax.Array | None = None, progress: bool = True,
          on_record: Callable[[dict[str, Any]], None] | None = None,
          wandb: logging_sinks.WandbOptions | None = None,
          tensorboard: bool = True, resume: bool = False,
          compile_cache: cache_lib.Setting = True,
          memory_limit: int | str | None = None, policy_module=None) -> TrainResult:
  """Trains ``config`` and returns the final params, normalizer, metrics and policy.

  With ``out_dir``, process 0 writes ``config.json``, ``metrics.jsonl`` and
  ``params.msgpack`` there, and checkpoints go to ``out_dir/checkpoints`` every
  ``checkpoint_every`` generations, at the end, and on SIGTERM/SIGINT (which then end the run
  early: ``interrupted`` names the signal). ``resume=True`` continues ``out_dir`` from its
  newest good checkpoint. The directory is created only after the config is validated.
  Records also go to TensorBoard under ``out_dir/tb/`` (unless ``tensorboard=False``) and,
  with ``wandb``, to Weights & Biases (see ``logging_sinks``).

  ``compile_cache`` is JAX's persistent compilation cache (``compile_cache.py``): True (the
  default) uses ``$JAX_COMPILATION_CACHE_DIR`` or ``~/.cache/esjax/jax-compile``, a path uses
  that directory, None/False turns it off; it is a process-wide JAX setting, so it stays as
  set after the call. A cache that cannot be used costs one warning line, never the run.
  While the run writes ``out_dir``, process 0 holds ``out_dir/esjax.lock``: another run on the
  same directory raises ConfigError naming this one's pid and host. A write that fails (disk
  full, directory removed or read-only) raises ``esjax.errors.RunIOError`` naming the path;
  the checkpoints before it are intact and ``resume=True`` continues from them.

  Before the first generation the step is compiled and checked (``preflight.py``): with
  ``progress`` a short block says the devices, members per device, parameters, bytes that
  cross devices per generation and the memory a device needs against what it has; a step that
  cannot fit raises ConfigError naming the largest population that would. ``memory_limit``
  (bytes, or "512M", "2G") replaces what a device is taken to have.
  """
  cache_lib.configure(compile_cache)
  if wandb is not None:
    logging_sinks.check_wandb()  # before anything is built or written
  if resume and out_dir is None:
    raise ValueError("resume=True needs the out_dir of the run to continue")
  if resume:
    ckpt_lib.require_checkpoints(out_dir)  # before building envs: a quick error
  s = setup(config, problem, initial_params, policy_module)
  config = s.config  # backend and episode length resolved for the env
  outputs, ckpt = [], None  # process 0's record writers; the checkpointer
  is_main = jax.process_index() == 0
  # Compiled ahead of time (the loop reuses it): its traffic and memory, checked before any
  # directory is written.
  limit = preflight.parse_size(memory_limit) if memory_limit else None
  plan = preflight.plan(s, limit)
  preflight.check_fits(plan, multiple=s.mesh.size * (2 if s.strategy.mirrored else 1),
                       replan=lambda pop: preflight.plan(
                           setup(config.replace(population_size=pop), problem, initial_params,
                                 policy_module),
                           limit))
  if progress and is_main:
    print("\n".join(plan.lines()), flush=True)
  run_step = plan.compiled or s.run  # compiled once, above
  # The evaluation too, before the barrier below: a process that compiled it at its first
  # evaluation could leave its peers waiting past gloo's 30 s in the next collective.
  evaluate = (s.evaluate.lower(s.state).compile() if config.runtime.eval_every
              and jax.process_count() > 1 else s.evaluate)
  # Records stay in memory only where no metrics.jsonl holds them (no out_dir, or a process
  # other than 0): a long run's memory must not grow with its length.
  state, records, num_records = s.state, [], 0
  last_rec = None  # the newest record, preferring one with an evaluation
  generation, wall0 = 0, 0.0  # generation: the run's (the furthest seed's) generation
  run_lock = None
  if out_dir is not None:
    run_lock = lock_lib.acquire(out_dir) if is_main else None  # released in `finally` below
    fp = ckpt_lib.fingerprint(config, "brax" if s.policy is not None else "custom",
                              s.problem.obs_size, s.action_size)
    if resume:
      r = ckpt_lib.restore_latest(out_dir, to_host(s.state), fp)
      _check_reference_batch(s.state, r.state)
      state, records, num_records = replicate(r.state, s.mesh), r.records, len(r.records)
      generation, wall0 = r.generation, r.wall_s
    elif ckpt_lib.has_checkpoints(out_dir):
      raise ConfigError(f"{out_dir!r} already holds checkpoints; resume it or choose a new "
                        "output directory")
    if is_main:
      os.makedirs(out_dir, exist_ok=True)
      # Every option resolved: a resumed run keeps its values even if a default changes.
      run_io.write_config(out_dir, config.replace(**config.strategy.resolved()))
      run_io.rewrite_metrics(out_dir, records)  # on resume: one line per generation kept
      records = None  # from here on they live in metrics.jsonl only
      outputs = [run_io.MetricsWriter(out_dir, append=True),
                 logging_sinks.Sinks(out_dir, config, wandb, tensorboard)]
    ckpt = ckpt_lib.Checkpointer(out_dir, config.runtime.keep_checkpoints, fp)
  # Per seed (num_seeds,): each seed's generation and env steps, from the state itself (so a
  # resumed run continues from its checkpoint's counts).
  host0 = to_host(state)
  seed_generation = np.atleast_1d(np.asarray(host0.generation, np.int64))
  env_steps = np.atleast_1d(step_lib.steps_value(host0.env_steps))
  bar = Progress(config.runtime.generations, enabled=progress and is_main,
                 total_env_steps=config.runtime.env_steps)
  # Every process has compiled the step and set up its files: start the first collective
  # together (multihost.barrier says why).
  multihost.barrier("first generation")
  if ckpt is not None and jax.process_count() > 1:
    _agree(False)  # compiles the stop agreement's gather now, while the processes are in step
  t0 = time.time() - wall0
  stop = StopRequest(enabled=ckpt is not None, message=(
      "esjax: {signal}: stopping after the current generation to save a checkpoint "
      "(Ctrl-C again aborts without one)" if is_main else None))
  with stop:
    try:
      while not _finished(config, generation, env_steps):
        n = min(config.runtime.generations_per_call, config.runtime.generations - generation)
        if config.runtime.eval_every:
          n = min(n, config.runtime.eval_every - generation % config.runtime.eval_every)
        if ckpt and config.runtime.checkpoint_every:
          n = min(n, config.runtime.checkpoint_every - generation % config.runtime.checkpoint_every)
        t_call = time.time()
        state, buf, ran = run_step(state, n)
        buf, ran = to_host(buf), np.atleast_1d(to_host(ran))
        t_end = time.time()
        rows = int(ran.max())  # < n when the env-step budget stopped the call early
        for k in range(rows):
          live = k < ran  # (num_seeds,): the seeds that ran this generation
          row = {name: v[k] for name, v in step_lib.metric_rows(buf).items()}
          steps = np.where(live, np.atleast_1d(row["gen_env_steps"]), 0).astype(np.int64)
          env_steps = env_steps + steps
          seed_generation = seed_generation + live
          generation += 1
          # Generations fused in one call share its wall time evenly.
          wall = t_call - t0 + (t_end - t_call) * (k + 1) / rows
          rate = int(steps.sum()) * rows / max(t_end - t_call, 1e-9)
          rec = _record(config, row, live, generation, seed_generation, env_steps, wall, rate)
          last = k == rows - 1
          done = _finished(config, generation, env_steps)
          if last and config.runtime.eval_every and (generation % config.runtime.eval_every == 0 or done):
            mean, std = to_host(evaluate(state))
            _add(rec, config, "eval_return", mean)
            _add(rec, config, "eval_return_std", std)
          num_records += 1
          last_rec = rec if "eval_return" in rec or last_rec is None or (
              "eval_return" not in last_rec) else last_rec  # the sweep's verdict reads it
          if records is not None:
            records.append(rec)
          for out in outputs:
            out.write(rec)
          if on_record:
            on_record(rec)
          bar.update(rec)
          if done:
            break
        done = _finished(config, generation, env_steps)
        stopping = ckpt is not None and _agree(stop.requested is not None)
        if ckpt and (done or stopping or (config.runtime.checkpoint_every
                                          and generation % config.runtime.checkpoint_every == 0)):
          ckpt.save(to_host(state), generation, int(env_steps.sum()), time.time() - t0, num_records)
        if stopping:
          stop.requested = stop.requested or "SIGTERM"  # another process got the signal
          break
    finally:
      bar.close()
      for out in outputs:
        out.close()
      if ckpt:
        ckpt.close()
      if run_lock and sys.exc_info()[0] is not None:  # failing: free the directory now
        run_lock.release()
  # A signal that arrived during the last generation still leaves a finished run.
  interrupted = None if _finished(config, generation, env_steps) else stop.requested
  host = to_host(state)
  flat = host.es.mean
  policy_fn, params = None, None
  if s.policy is not None:
    policy_fn = run_io.make_act(s.policy, *run_io.first_seed(flat, host.normalizer), config)
    params = s.policy.unravel(flat) if config.num_runs == 1 else jax.vmap(s.policy.unravel)(flat)
    if out_dir is not None and is_main and not interrupted:
      run_io.save_params(out_dir, flat, host.normalizer, s.problem.obs_size, s.action_size,
                         s.obs_shape, s.discrete)
  elif s.unravel is not None:  # a custom problem given pytree params: the same tree back
    params = s.unravel(flat) if config.num_runs == 1 else jax.vmap(s.unravel)(flat)
  if run_lock:
    run_lock.release()
  # Leave together: a process that finishes first (its final evaluation compiled sooner) would
  # otherwise wait in JAX's shutdown barrier, whose timeout is seconds, for a slower peer.
  multihost.barrier("train done")
  metrics = run_io.MetricsLog(out_dir, num_records) if records is None else records
  best = sweep_lib.best(config, last_rec) if last_rec is not None else None
  if best is not None and progress and is_main:
    point, metric, value = best
    print(f"best setting: {sweep_lib.label(point)} ({metric} {value:.1f}, mean over "
          f"{config.runtime.num_seeds} seed{'s' if config.runtime.num_seeds > 1 else ''})",
          flush=True)
  return TrainResult(config, params, flat, host.normalizer, metrics, policy_fn, host, out_dir,
                     interrupted, best[0] if best else None)


def _check_reference_batch(fresh, restored) -> None:
  """Resume continues with the checkpoint's VBN reference batch (the one the run trained
  with); one drawn afresh from the same key should be the same bits, and a warning says when
  it is not (an env whose dynamics changed since), so a silent difference cannot go unseen."""
  if fresh.normalizer.vbn_batch is None:
    return
  if not np.array_equal(np.asarray(to_host(fresh.normalizer.vbn_batch)),
                        np.asarray(restored.normalizer.vbn_batch)):
    print("esjax: warning: the VBN reference batch drawn now differs from the checkpoint's "
          "(has the env changed?); continuing with the checkpoint's", file=sys.stderr,
          flush=True)


def _finished(config: TrainConfig, generation: int, env_steps: np.ndarray) -> bool:
  """The generation cap, or every seed at its own env-step budget (``env_steps`` per seed)."""
  return generation >= config.runtime.generations or (
      config.runtime.env_steps is not None
      and bool(np.all(env_steps >= config.runtime.env_steps)))


def _agree(flag: bool) -> bool:
  """True on every process if it is on any: processes must stop after the same call, or the
  ones still running would wait forever in the next call's collectives."""
  if jax.process_count() == 1:
    return flag
  from jax.experimental import multihost_utils
  return bool(np.any(multihost_utils.process_allgather(np.int32(flag))))


def _add(rec, config, name, value):
  value = np.asarray(value)
  if config.num_runs > 1:
    rec[name] = float(value.mean())
    rec[name + "_per_seed"] = value.tolist()
  else:
    rec[name] = float(value)
