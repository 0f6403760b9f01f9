"""Everything built from a config before the first generation: the problem, the initial params,
the strategy with its noise, the mesh, the replicated training state and the compiled calls."""
from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from esjax import keys, xla_env
from esjax.config import sweep as sweep_lib
from esjax.config.train_config import TrainConfig, check_devices
from esjax.core import step as step_lib
from esjax.core import comm as comm_lib
from esjax.core import lanes as lanes_lib
from esjax.core.mesh import layout, make_mesh, replicate
from esjax.errors import ConfigError
from esjax.perturbations.base import Perturbation
from esjax.perturbations.gaussian import GAUSSIAN
from esjax.perturbations.lowrank import LowRank, LowRankLayout
from esjax.policies import Policy
from esjax.envs import registry
from esjax.problems import build as build_lib, reference
from esjax.problems.base import Problem, is_pytree, on_pytree, ravel_tree
from esjax.problems.tricks import AdaptiveCutoff
from esjax.strategies.base import Strategy, num_directions


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
  # (state, n) -> (state, metrics buffer (n, ...), generations each run ran (num_runs,))
  run_generations: Callable
  evaluate: Callable  # state -> (mean, std), with the true (unshifted) reward
  unravel: Callable | None = None  # flat -> the pytree a custom problem's params were given as
  comm: comm_lib.Choice | None = None  # the update's comm mode as run, and why (core/comm.py)
  obs: Any = None  # interface.ObsView: the env's observation as the policy reads it (env runs)
  act: Any = None  # interface.ActionView: the policy's output as the env's action (env runs)


@dataclasses.dataclass(frozen=True)
class _Problems:
  """The problem side of a setup, before the state and the step are built."""
  problem: Problem
  eval_problem: Problem
  params: Any  # the initial flat params (None: a custom problem's, from initial_params)
  policy: Policy | None = None
  action_size: int = 0
  tree: Any = None  # the params as a pytree (its 2-D leaves are what low-rank noise perturbs)
  unravel: Callable | None = None
  obs: Any = None  # interface.ObsView of an env run
  act: Any = None  # interface.ActionView of an env run
  # Each seed's initial params (an env run of several seeds, its policy's own init): seed s
  # draws them as the single run with seed + s does. () : every run starts from ``params``.
  seed_params: tuple = ()


def setup(config: TrainConfig, problem: Problem | None = None,
          initial_params: jax.Array | None = None, policy_module=None, env=None) -> Setup:
  """Validates ``config`` and builds the env, policy, strategy, mesh and compiled step.

  ``problem`` replaces the Brax rollout with any fitness function (see ``problems.black_box``);
  then ``initial_params`` (a flat vector or a pytree) is required and ``env``/policy fields
  are unused. ``policy_module`` is a user's flax module to train on the env instead of the
  config's policy kind (``policies.make_policy`` says what it must return); the config then
  records ``policy="custom"``. ``env`` is a user's env object (``esjax.envs``) to train on
  instead of the config's ``env``; the config then records ``env="custom:ClassName"``. With
  ``perturbation="lowrank"`` the 2-D leaves of the params pytree (the policy's, or
  ``initial_params``) are the matrices perturbed at low rank.
  """
  if policy_module is not None:
    config = config.replace(policy="custom")
  if env is not None and problem is not None:
    raise ConfigError("env= and problem= were both given; an env is trained through the "
                      "rollout, a problem is its own fitness: give one")
  if env is not None:  # named so that a reload knows to ask for the object again
    config = config.replace(env=registry.custom_name(env))
  strategy = config.validate().strategy.build()  # checked before it is built
  rt = config.runtime
  mesh = make_mesh(rt.num_devices or step_lib.default_device_count(
      strategy.population_size, strategy.mirrored, rt.member_chunk), rt.hosts)
  check_devices(strategy.population_size, strategy.mirrored, mesh.size, rt.member_chunk)
  if problem is None:
    config, built = _env_problems(config, strategy, policy_module, env)
  else:
    built = _custom_problems(config, strategy, problem, initial_params)
  built = _with_initial_params(built, initial_params)
  perturbation = _perturbation(config, built.tree)
  if built.problem.check is not None:
    built.problem.check(built.params)
  cutoff = _cutoff(config)
  state = _initial_state(config, built.problem, built.seed_params or (built.params,), cutoff)
  _warn_if_fma()
  comm = _comm(config, strategy, mesh, state.es.mean, perturbation)
  run_generations, evaluate = _compiled(config, built, strategy, mesh, cutoff, perturbation,
                                        comm.mode)
  return Setup(config, built.problem, built.policy, built.action_size, mesh, strategy,
               replicate(state, mesh), run_generations, evaluate, built.unravel, comm,
               built.obs, built.act)


def _comm(config: TrainConfig, strategy: Strategy, mesh: Mesh, params,
          perturbation: Perturbation) -> comm_lib.Choice:
  """``--comm`` resolved for this mesh (``auto``: by core/comm.py's cost model)."""
  return comm_lib.choose(config.runtime.comm, layout(mesh),
                         num_directions(strategy),
                         int(np.shape(params)[-1]), len(strategy.powers),
                         jax.default_backend(),
                         config.runtime.link_gbps, splits=perturbation.splits_update)


def _env_problems(config: TrainConfig, strategy: Strategy, module,
                  env=None) -> tuple[TrainConfig, _Problems]:
  """The env the config names (``envs/registry.py``) or the user's env object, through the
  one rollout (``problems/build.py``); the config as run: the env's own backend and episode
  length written out, so a resumed run keeps them even if a default changes."""
  pc = config.problem
  built = build_lib.build(pc, config.policy, jax.random.PRNGKey(config.runtime.seed),
                          reward_shift=_reward_shift(config), module=module, env=env)
  config = config.replace(backend=registry.resolved_backend(pc.env, pc.backend),
                          episode_length=built.episode_length)
  if config.policy.vbn:
    config = config.replace(vbn_batch=config.policy.vbn_batch or reference.DEFAULT_SIZE)
  rt = config.runtime
  # Seed 0's are built.params, drawn from PRNGKey(seed) by build.
  seed_params = (built.params,) + tuple(
      build_lib.initial_params(built, config.policy, jax.random.PRNGKey(rt.seed + s), module)
      for s in range(1, rt.num_seeds)) if rt.num_seeds > 1 else ()
  return config, _Problems(built.problem, built.eval_problem, built.params, built.policy,
                           built.action_size, tree=built.policy.unravel(built.params),
                           obs=built.obs, act=built.act, seed_params=seed_params)


def _custom_problems(config: TrainConfig, strategy: Strategy, problem: Problem,
                     initial_params) -> _Problems:
  """A user's problem, refused with the env-only settings that would silently do nothing."""
  pc = config.problem
  if config.policy.vbn:
    raise ConfigError("vbn is a setting of the env policies (mlp, cnn); a custom problem "
                      "brings its own network: drop vbn")
  if initial_params is None:
    raise ConfigError("a custom problem needs initial_params (a flat parameter vector or a "
                      "params pytree)")
  if config.runtime.lanes and problem.episode is None:
    raise ConfigError(f"lanes={config.runtime.lanes} batches a rollout's episodes; a black-box "
                      "problem has none to batch: drop lanes (or set it to 0)")
  if _reward_shift(config):
    raise ConfigError(f"reward_shift={_reward_shift(config)} applies to the Brax rollout's "
                      "per-step rewards; a custom problem defines its own returns (build it "
                      "with brax_problem(..., reward_shift=...)) or set reward_shift=0")
  if pc.adaptive_cutoff:
    raise ConfigError(f"adaptive_cutoff={pc.adaptive_cutoff} limits the Brax/gymnax rollouts' "
                      "episode length; a custom problem has none: set adaptive_cutoff=0")
  return _Problems(problem, problem, params=None)


def _with_initial_params(built: _Problems, initial_params) -> _Problems:
  """``built`` starting from ``initial_params`` when given: a pytree (a flax params dict) is
  perturbed as its flat vector while the problem sees the tree."""
  if initial_params is None:
    return built
  if not is_pytree(initial_params):
    params = jnp.asarray(initial_params, jnp.float32)
    return dataclasses.replace(built, params=params, tree=params, seed_params=())
  tree = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), initial_params)
  params, unravel = ravel_tree(tree)
  problem, eval_problem = built.problem, built.eval_problem
  if problem.takes_tree:  # a black-box fitness of the tree; other problems take it flat
    problem, eval_problem = on_pytree(problem, unravel), on_pytree(eval_problem, unravel)
  return dataclasses.replace(built, problem=problem, eval_problem=eval_problem, params=params,
                             tree=tree, unravel=unravel, seed_params=())


def _reward_shift(config: TrainConfig) -> float:
  """ARS's survival-bonus shift: an option of the config, applied to training rollouts."""
  return float(config.strategy.resolved().get("reward_shift", 0.0))


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


def _cutoff(config: TrainConfig) -> AdaptiveCutoff | None:
  """Training episodes only: evaluation runs the whole episode_length."""
  pc = config.problem
  cutoff = AdaptiveCutoff.of(pc, pc.episode_length)
  if cutoff is not None and cutoff.start > cutoff.maximum:
    raise ConfigError(f"adaptive_cutoff={cutoff.start} is invalid: it starts above "
                      f"{pc.env!r}'s episode length {cutoff.maximum}; expected at most that")
  return cutoff


def _initial_state(config: TrainConfig, problem: Problem, seed_params: tuple,
                   cutoff: AdaptiveCutoff | None) -> step_lib.TrainState:
  """The host state of every run, stacked on a leading run axis when there are several.

  Seed s of a K-seed run is exactly the single run with seed + s (``seed_params``: each
  seed's initial params, or one for all); a sweep point's runs start from the state its own
  strategy would (config/sweep.py), and all share one step."""
  rt = config.runtime
  run_strategies = sweep_lib.run_strategies(config.strategy, rt.num_seeds)
  states = [step_lib.init_state(st, seed_params[r % len(seed_params)],
                                problem.obs_size, rt.seed + r % rt.num_seeds, cutoff)
            for r, st in enumerate(run_strategies)]
  if problem.reference_batch is not None:
    # VBN: each run's reference batch from its own run key, drawn the same way on every
    # process and device count.
    states = [st.replace(normalizer=st.normalizer.replace(
        vbn_batch=problem.reference_batch(keys.vbn_key(st.key)))) for st in states]
  return states[0] if config.num_runs == 1 else jax.tree.map(lambda *x: jnp.stack(x), *states)


def _warn_if_fma() -> None:
  if jax.default_backend() == "cpu" and not xla_env.no_fma_in_effect():
    warnings.warn("esjax: FMA is on (JAX started before esjax was imported, or ESJAX_CPU_FMA=1"
                  " or another --xla_cpu_max_isa), so results may differ in the last bits "
                  f"between device counts; set XLA_FLAGS={xla_env.NO_FMA_FLAG} for bitwise "
                  "invariance (docs/reproducibility.md)", stacklevel=3)


def _compiled(config: TrainConfig, built: _Problems, strategy: Strategy, mesh: Mesh,
              cutoff: AdaptiveCutoff | None,
              perturbation: Perturbation, comm: str) -> tuple[Callable, Callable]:
  """(run_generations, evaluate): the sharded step fused ``generations_per_call`` times, and
  the evaluation of every run."""
  rt, pc = config.runtime, config.problem
  local = strategy.population_size // mesh.size
  chunk = rt.member_chunk or step_lib.default_member_chunk(local, jax.default_backend())
  lanes = lanes_lib.default_lanes(local, jax.default_backend()) if rt.lanes is None else rt.lanes
  generation = step_lib.make_generation(built.problem, strategy, mesh.size, pc.normalize_obs,
                                        comm, chunk, cutoff, perturbation=perturbation,
                                        noise_chunk=config.strategy.noise_chunk,
                                        hosts=layout(mesh)[0], lanes=lanes,
                                        lane_narrowings=rt.lane_narrowings)
  sharded = step_lib.shard_generation(generation, mesh, config.num_runs)
  run_generations = step_lib.make_multi_step(sharded, rt.generations_per_call, rt.env_steps)
  return run_generations, step_lib.make_evaluate(built.eval_problem, rt.eval_episodes,
                                                 config.num_runs)
