"""A saved policy back in its env: ``esjax eval`` (returns) and ``esjax render`` (animations).

Evaluation reuses the training rollout (``rollout.brax_problem``), so ``esjax eval`` measures
exactly what the training-time evaluation measured, on fresh episode keys.

Rendering writes brax's HTML viewer (always; it needs no GPU or display, the page loads the
viewer script from brax's CDN when opened) and, where MuJoCo can open an offscreen OpenGL
context, a GIF. MuJoCo picks its GL backend once, at import, from ``MUJOCO_GL``; brax has
already imported MuJoCo by the time any esjax code runs, so the frames are drawn in a
subprocess (``_gif.py``) started with ``MUJOCO_GL`` set, trying EGL, then OSMesa, then GLFW.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import os
import subprocess
import sys
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

from esjax.run import files as run_io
from esjax.problems.brax_envs import make_env

_GL_BACKENDS = ("egl", "osmesa", "glfw")
_MAX_GIF_FRAMES = 300
_MIN_FRAME_S = 0.02  # GIF players clamp faster frames; 50 fps at most


def episode_keys(seed: int, episodes: int) -> jax.Array:
  """Episode i of ``esjax eval --seed S`` and ``esjax render --seed S`` (i = 0) share a key."""
  # fold_in, not split: key i must not depend on how many episodes were asked for.
  base = jax.random.PRNGKey(seed)
  return jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(episodes))


def evaluate_run(run_dir: str, episodes: int = 10, seed: int = 0) -> np.ndarray:
  """Returns of the run's deterministic policy over ``episodes`` episodes, shape (episodes,)."""
  saved = run_io.load(run_dir)
  flat, normalizer = run_io.first_seed(saved.flat_params, saved.normalizer)
  evaluate = _evaluator(saved.config.to_json(), saved.policy.num_params)
  ev = evaluate(flat, normalizer, episode_keys(seed, episodes))
  return np.asarray(ev.ret, np.float64)


@functools.lru_cache(maxsize=8)
def _evaluator(config_json: str, num_params: int):
  """One compiled rollout per (config, network): evaluating again (another seed, another
  checkpoint of the same run) costs no recompilation. Any env source (``sources.build``)."""
  del num_params  # part of the cache key only
  import json  # pylint: disable=g-import-not-at-top
  from esjax.problems import sources  # pylint: disable=g-import-not-at-top
  from esjax.run.config import TrainConfig  # pylint: disable=g-import-not-at-top
  cfg = TrainConfig.from_dict(json.loads(config_json))
  built = sources.build(cfg.problem, cfg.policy, jax.random.PRNGKey(0))
  return jax.jit(jax.vmap(built.eval_problem.evaluate, in_axes=(None, None, 0)))


def rollout_states(run_dir: str, seed: int = 0):
  """Episode 0 of ``evaluate_run(..., seed)``, every state kept:
  ``(env, [pipeline states], return)``, cut at ``done``."""
  saved = run_io.load(run_dir)
  cfg = saved.config
  if ":" in cfg.problem.env:
    from esjax.errors import ConfigError  # pylint: disable=g-import-not-at-top
    raise ConfigError(f"render draws Brax envs only; {cfg.problem.env!r} is not one "
                      "(`esjax eval` works for every source)")
  flat, normalizer = run_io.first_seed(saved.flat_params, saved.normalizer)
  act = run_io.make_act(saved.policy, flat, normalizer, cfg)
  env = make_env(cfg.problem.env, cfg.problem.backend or "spring")
  length = cfg.problem.episode_length or 1000
  skip = cfg.problem.frame_skip  # the policy acts every ``skip`` env steps, as in training

  @jax.jit
  def episode(key):
    s0 = env.reset(key)

    def body(carry, t):
      s, held = carry
      action = act(s.obs) if skip == 1 else jnp.where(t % skip == 0, act(s.obs), held)
      nxt = env.step(s, action)
      return (nxt, action), (nxt.pipeline_state, nxt.reward, nxt.done)

    # A fixed-length scan (not the training while_loop): we want every state, and the
    # steps after ``done`` are cut on the host.
    held0 = jnp.zeros((env.action_size,), jnp.float32)
    _, (states, rewards, dones) = jax.lax.scan(body, (s0, held0), jnp.arange(length))
    return s0.pipeline_state, states, rewards, dones

  first, states, rewards, dones = jax.device_get(episode(episode_keys(seed, 1)[0]))
  done_at = np.flatnonzero(np.asarray(dones) > 0)
  steps = int(done_at[0]) + 1 if done_at.size else length
  ret = float(np.sum(np.asarray(rewards)[:steps]))
  trajectory = [first] + [jax.tree.map(lambda x, i=i: x[i], states) for i in range(steps)]
  return env, trajectory, ret


@dataclasses.dataclass(frozen=True)
class Rendered:
  html: str
  gif: str | None  # None when no renderer was available
  gif_error: str | None  # why there is no GIF, one line
  steps: int
  ret: float


def render_run(run_dir: str, out_html: str, seed: int = 0, gif: bool = True,
               width: int = 320, height: int = 240) -> Rendered:
  """Writes ``out_html`` (brax viewer) and, if possible, ``out_html`` with a ``.gif`` suffix."""
  from brax.io import html  # pylint: disable=g-import-not-at-top
  env, trajectory, ret = rollout_states(run_dir, seed)
  run_io._atomic_write(out_html, html.render(env.sys, trajectory).encode())  # pylint: disable=protected-access
  gif_path, error = None, "not asked for (--no-gif)"
  if gif:
    gif_path = os.path.splitext(out_html)[0] + ".gif"
    error = write_gif(env, trajectory, gif_path, width, height)
    if error:
      gif_path = None
  return Rendered(out_html, gif_path, error, len(trajectory) - 1, ret)


def write_gif(env, trajectory, path: str, width: int = 320, height: int = 240) -> str | None:
  """Draws ``trajectory`` with MuJoCo offscreen into a GIF; returns None, or why it could not."""
  import mujoco  # pylint: disable=g-import-not-at-top
  dt = float(env.dt)
  stride = max(math.ceil(len(trajectory) / _MAX_GIF_FRAMES), math.ceil(_MIN_FRAME_S / dt), 1)
  frames = trajectory[::stride]
  model = env.sys.mj_model
  cams = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_CAMERA, i) for i in range(model.ncam)]
  camera = "track" if "track" in cams else "-1"
  worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_gif.py")
  user_gl = os.environ.get("MUJOCO_GL")
  backends = (user_gl,) if user_gl else _GL_BACKENDS
  errors = []
  with tempfile.TemporaryDirectory() as tmp:
    mjb, npz = os.path.join(tmp, "model.mjb"), os.path.join(tmp, "traj.npz")
    mujoco.mj_saveModel(model, mjb, None)
    np.savez(npz, q=np.stack([np.asarray(s.q) for s in frames]),
             qd=np.stack([np.asarray(s.qd) for s in frames]))
    for backend in backends:
      env_vars = {**os.environ, "MUJOCO_GL": backend}
      env_vars.pop("PYOPENGL_PLATFORM", None)
      cmd = [sys.executable, worker, mjb, npz, path, camera, str(width), str(height),
             str(round(dt * stride * 1000))]
      proc = subprocess.run(cmd, env=env_vars, capture_output=True, text=True, timeout=600)
      if proc.returncode == 0 and os.path.exists(path):
        return None
      last = (proc.stderr.strip().splitlines() or ["exit code %d" % proc.returncode])[-1]
      errors.append(f"MUJOCO_GL={backend}: {last[:160]}")
      if os.path.exists(path + ".tmp"):
        os.remove(path + ".tmp")  # a renderer that died mid-write leaves nothing behind
  return "no offscreen renderer available (" + "; ".join(errors) + ")"
