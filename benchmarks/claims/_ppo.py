"""Brax's own PPO trainer (``brax.training.agents.ppo.train``) as a baseline for the claims
experiments: Brax's published settings per env, a jax 0.10 shim, and a learning curve.

Shared by the claims that set ES against a policy-gradient method (claim 1, ES vs PPO data
efficiency; claim 3, frame skip -- ``action_repeat`` below). Benchmark code only: the shim is
never part of esjax.

Import ``esjax`` before this module (it sets the XLA flags before JAX starts: one CPU device
per core, so PPO's pmap runs over the same devices as esjax).
"""
from __future__ import annotations

import contextlib
import io
import math
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common


def install_shim() -> None:
  """brax 0.14.2's PPO calls ``jax.device_put_replicated``, which jax 0.10 removed
  (AttributeError when training starts). Puts back an equivalent: every leaf stacked once per
  device along a new leading axis, that axis sharded over ``devices`` (what pmap expects).

  The mesh axis takes the name pmap gives its own outputs, so the training state has the same
  sharding before and after the first epoch and the pmapped epoch compiles once (under another
  axis name it compiled twice: ~45 CPU-seconds more on hopper)."""
  if hasattr(jax, "device_put_replicated"):
    return
  from jax.sharding import Mesh, NamedSharding, PartitionSpec  # pylint: disable=g-import-not-at-top

  def device_put_replicated(x, devices):
    axis = "_internal_pmap_axis_name"
    sharding = NamedSharding(Mesh(np.array(devices), (axis,)), PartitionSpec(axis))
    return jax.tree.map(lambda a: jax.device_put(jnp.stack([a] * len(devices)), sharding), x)

  jax.device_put_replicated = device_put_replicated


install_shim()

with contextlib.redirect_stdout(io.StringIO()):
  from brax import envs as brax_envs  # noqa: E402
  from brax.training.agents.ppo import train as brax_ppo  # noqa: E402

NOTEBOOK = "google/brax notebooks/training.ipynb, the `train_fn` cell"
# Brax's published PPO settings. The notebook has PPO settings for halfcheetah; for hopper and
# walker2d it publishes SAC only, so those two take the notebook's PPO recipe for its other
# locomotion tasks (ant, inverted pendulums: reward scaling 10, unroll 5, 4 updates per batch,
# discount 0.97, entropy 1e-2), with ant's batch geometry. num_timesteps/num_evals/seed are set
# per run; networks are PPO's defaults (policy 4x32, value 5x256, swish).
SETTINGS: dict[str, dict[str, Any]] = {
    "halfcheetah": dict(
        reward_scaling=1, normalize_observations=True, action_repeat=1, unroll_length=20,
        num_minibatches=32, num_updates_per_batch=8, discounting=0.95, learning_rate=3e-4,
        entropy_cost=1e-3, num_envs=2048, batch_size=512),
    "ant_recipe": dict(
        reward_scaling=10, normalize_observations=True, action_repeat=1, unroll_length=5,
        num_minibatches=32, num_updates_per_batch=4, discounting=0.97, learning_rate=3e-4,
        entropy_cost=1e-2, num_envs=4096, batch_size=2048),
}
SOURCE = {
    "halfcheetah": f"{NOTEBOOK}: 'halfcheetah' (PPO), exactly",
    "hopper": f"{NOTEBOOK}: 'ant' PPO recipe (the notebook trains hopper with SAC only)",
    "walker2d": f"{NOTEBOOK}: 'ant' PPO recipe (the notebook trains walker2d with SAC only)",
}


def settings(env: str) -> dict[str, Any]:
  return dict(SETTINGS[env if env in SETTINGS else "ant_recipe"])


def steps_per_update(s: dict[str, Any]) -> int:
  """Env steps PPO collects per training step (one batch, ``num_updates_per_batch`` passes)."""
  return s["batch_size"] * s["num_minibatches"] * s["unroll_length"] * s["action_repeat"]


def run(env_name: str, num_timesteps: int, seed: int, backend: str = "spring",
        episode_length: int = 1000, overrides: dict[str, Any] | None = None,
        evals_per_update: bool = True, num_evals: int | None = None,
        num_eval_envs: int = 16, deterministic_eval: bool = True) -> dict[str, Any]:
  """Trains Brax PPO on ``env_name`` (``backend`` physics) for at least ``num_timesteps`` env
  steps; returns its curve and final policy.

  ``curve``: one point per Brax evaluation, ``(env_steps, eval_return, wall_s, cpu_s,
  compile_s)``: wall and process CPU seconds (``time.process_time``, all threads) since the call
  began (compiles and evaluations included), and the XLA compile seconds among them. With ``evals_per_update`` Brax evaluates after every training
  step (``num_evals`` = updates + 1), so the curve resolves one update. ``act(obs)`` is the
  final deterministic policy (the tanh of the Gaussian's mean)."""
  s = {**settings(env_name), **(overrides or {})}
  per_update = steps_per_update(s)
  if num_evals is None:
    num_evals = math.ceil(num_timesteps / per_update) + 1 if evals_per_update else 11
  env = brax_envs.get_environment(env_name, backend=backend)
  curve: list[tuple[int, float, float, float, float]] = []
  t0, c0 = time.perf_counter(), time.process_time()
  with common.CompileCounter() as cc:

    def progress(step, metrics):
      if "eval/episode_reward" in metrics:
        curve.append((int(step), float(metrics["eval/episode_reward"]),
                      time.perf_counter() - t0, time.process_time() - c0, cc.seconds))

    make_policy, params, _ = brax_ppo.train(
        env, num_timesteps=num_timesteps, episode_length=episode_length, num_evals=num_evals,
        num_eval_envs=num_eval_envs, deterministic_eval=deterministic_eval, seed=seed,
        progress_fn=progress, **s)
  wall, cpu = time.perf_counter() - t0, time.process_time() - c0
  policy = make_policy(params, deterministic=True)
  key = jax.random.PRNGKey(0)
  return {"curve": curve, "wall_s": wall, "cpu_s": cpu, "compile_s": cc.seconds,
          "compiles": cc.count, "settings": s,
          "steps_per_update": per_update, "source": SOURCE.get(env_name, "user settings"),
          "act": lambda obs: policy(obs, key)[0]}
