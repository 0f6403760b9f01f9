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

from esjax.rundir import files as run_io
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
  from esjax.config.train_config import TrainConfig  # pylint: disable=g-import-not-at-top
  cfg = TrainConfig.from_dict(json.loads(config_json))
  built = sources.build(cfg.problem, cfg.policy, jax.random.PRNGKey(0))
  return jax.jit(jax.vmap(built.eval_problem.evaluate, in_axes=(None, None, 0)))


def rollout_states(run_dir: str, seed: int = 0):
  """Episode 0 of ``evaluate_run(..., seed)``, every state kept:
  ``(env, [pipeline states], return)``, cut at ``done``. Brax envs (``render_run`` draws the
  other sources through ``_playground_episode`` and ``_minatar_episode``)."""
  saved = run_io.load(run_dir)
  cfg = saved.config
  if ":" in cfg.problem.env:
    from esjax.errors import ConfigError  # pylint: disable=g-import-not-at-top
    raise ConfigError(f"rollout_states keeps Brax pipeline states; {cfg.problem.env!r} is not "
                      "a Brax env (render_run draws Playground and MinAtar envs too)")
  act, skip, length = _policy_of(saved)
  env = make_env(cfg.problem.env, cfg.problem.backend or "spring")
  held0 = jnp.zeros((env.action_size,), jnp.float32)
  first, states, rewards, dones = _episode(env.reset, env.step, lambda s: s.obs,
                                           lambda s: s.pipeline_state, act, skip, length,
                                           held0, episode_keys(seed, 1)[0])
  steps = _steps(dones, length)
  ret = float(np.sum(np.asarray(rewards)[:steps]))
  trajectory = [first] + [jax.tree.map(lambda x, i=i: x[i], states) for i in range(steps)]
  return env, trajectory, ret


def _policy_of(saved):
  """(act, frame_skip, episode_length) of a loaded run: seed 0's deterministic policy."""
  cfg = saved.config
  flat, normalizer = run_io.first_seed(saved.flat_params, saved.normalizer)
  act = run_io.make_act(saved.policy, flat, normalizer, cfg)
  return act, cfg.problem.frame_skip, cfg.problem.episode_length or 1000


def _episode(reset, step, observe, record, act, skip, length, held0, key):
  """One fixed-length episode under ``act`` (acting every ``skip`` env steps, as in training):
  ``(record(first state), record(states) stacked, rewards, dones)``. A fixed-length scan, not
  the training while_loop: every state is wanted, and the steps after ``done`` are cut on
  the host."""

  @jax.jit
  def run(key):
    s0 = reset(key)

    def body(carry, t):
      s, held = carry
      action = act(observe(s)) if skip == 1 else jnp.where(t % skip == 0, act(observe(s)), held)
      nxt = step(s, action)
      return (nxt, action), (record(nxt), nxt.reward, nxt.done)

    _, (states, rewards, dones) = jax.lax.scan(body, (s0, held0), jnp.arange(length))
    return record(s0), states, rewards, dones

  return jax.device_get(run(key))


def _steps(dones, length: int) -> int:
  done_at = np.flatnonzero(np.asarray(dones) > 0)
  return int(done_at[0]) + 1 if done_at.size else length


def _playground_episode(saved, seed: int):
  """``(env, qpos (T+1, nq), qvel (T+1, nv), return)`` of a MuJoCo Playground episode."""
  from esjax.problems import playground as pg  # pylint: disable=g-import-not-at-top
  cfg = saved.config
  act, skip, _ = _policy_of(saved)
  _, name = cfg.problem.env.split(":", 1)
  env, default_length = pg.make_env(name, cfg.problem.backend)
  length = cfg.problem.episode_length or default_length
  held0 = jnp.zeros((env.action_size,), jnp.float32)
  first, states, rewards, dones = _episode(
      env.reset, env.step, pg.observe, lambda s: (s.data.qpos, s.data.qvel), act, skip,
      length, held0, episode_keys(seed, 1)[0])
  steps = _steps(dones, length)
  q = np.concatenate([np.asarray(first[0])[None], np.asarray(states[0])[:steps]])
  qd = np.concatenate([np.asarray(first[1])[None], np.asarray(states[1])[:steps]])
  return env, q, qd, float(np.sum(np.asarray(rewards)[:steps]))


@dataclasses.dataclass
class _GymnaxState:  # the gymnax step as a Brax-like state, for ``_episode``
  env_state: object
  obs: jax.Array
  reward: jax.Array
  done: jax.Array
  key: jax.Array


jax.tree_util.register_dataclass(_GymnaxState, data_fields=["env_state", "obs", "reward", "done",
                                                            "key"], meta_fields=[])


def _minatar_episode(saved, seed: int):
  """``(frames (T+1, 10, 10, C) bool, return)`` of a gymnax MinAtar episode, ending at its
  first terminal (``step_env``: no auto-reset), as in training."""
  from esjax.problems import gymnax as gx  # pylint: disable=g-import-not-at-top
  cfg = saved.config
  act, skip, _ = _policy_of(saved)
  _, name = cfg.problem.env.split(":", 1)
  env, params, spec = gx.make_env(name)
  length = cfg.problem.episode_length or spec.max_steps

  def reset(key):
    reset_key, step_key = jax.random.split(key)
    obs, state = env.reset_env(reset_key, params)
    return _GymnaxState(state, obs, jnp.zeros(()), jnp.zeros(()), step_key)

  def step(s, action):
    k, nxt = jax.random.split(s.key)
    obs, state, reward, terminated, _ = env.step_env(k, s.env_state, action, params)
    return _GymnaxState(state, obs, jnp.asarray(reward, jnp.float32),
                        jnp.asarray(terminated, jnp.float32), nxt)

  first, frames, rewards, dones = _episode(reset, step, lambda s: s.obs, lambda s: s.obs, act,
                                           skip, length, jnp.zeros((), jnp.int32),
                                           episode_keys(seed, 1)[0])
  steps = _steps(dones, length)
  frames = np.concatenate([np.asarray(first)[None], np.asarray(frames)[:steps]])
  return frames, float(np.sum(np.asarray(rewards)[:steps]))


def minatar_gif(frames: np.ndarray, path: str, scale: int = 24, frame_ms: int = 100) -> None:
  """MinAtar frames (T, H, W, C) as a GIF: each cell coloured by its highest set channel
  (black when empty), ``scale`` pixels per cell."""
  from matplotlib import colormaps  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top
  channels = frames.shape[-1]
  palette = np.zeros((channels + 1, 3), np.uint8)
  palette[1:] = (np.asarray(colormaps["tab10"](np.arange(channels) % 10))[:, :3] * 255)
  index = np.max(frames.astype(np.int32) * (np.arange(channels) + 1), axis=-1)  # (T, H, W)
  rgb = palette[index].repeat(scale, axis=1).repeat(scale, axis=2)
  images = [Image.fromarray(f) for f in rgb]
  tmp = path + ".tmp"
  images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                 duration=frame_ms, loop=0)
  os.replace(tmp, path)


def _gif_page(title: str, gif: str | None, note: str) -> bytes:
  """An HTML page showing the episode's GIF (for sources without Brax's 3-D viewer)."""
  import html as html_lib  # pylint: disable=g-import-not-at-top
  body = (f'<img src="{html_lib.escape(os.path.basename(gif))}" alt="episode">' if gif
          else f"<p>no GIF: {html_lib.escape(note)}</p>")
  return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html_lib.escape(title)}"
          f"</title></head><body><h3>{html_lib.escape(title)}</h3>{body}</body></html>"
          ).encode()


@dataclasses.dataclass(frozen=True)
class Rendered:
  html: str
  gif: str | None  # None when no renderer was available
  gif_error: str | None  # why there is no GIF, one line
  steps: int
  ret: float


def render_run(run_dir: str, out_html: str, seed: int = 0, gif: bool = True,
               width: int = 320, height: int = 240) -> Rendered:
  """Writes ``out_html`` and, if possible, ``out_html`` with a ``.gif`` suffix. Brax: brax's
  3-D viewer and MuJoCo frames; Playground: MuJoCo frames; gymnax MinAtar: the 10x10 frames.
  The HTML of the latter two shows the GIF."""
  saved = run_io.load(run_dir)
  source = saved.config.problem.env.split(":", 1)[0] if ":" in saved.config.problem.env else "brax"
  gif_path = os.path.splitext(out_html)[0] + ".gif" if gif else None
  error = None if gif else "not asked for (--no-gif)"
  if source == "brax":
    from brax.io import html  # pylint: disable=g-import-not-at-top
    env, trajectory, ret = rollout_states(run_dir, seed)
    run_io._atomic_write(out_html, html.render(env.sys, trajectory).encode())  # pylint: disable=protected-access
    if gif:
      error = write_gif(env, trajectory, gif_path, width, height)
    steps = len(trajectory) - 1
  elif source == "playground":
    env, q, qd, ret = _playground_episode(saved, seed)
    steps = len(q) - 1
    if gif:
      error = mujoco_gif(env.mj_model, q, qd, float(env.dt), gif_path, width, height)
  else:
    name = saved.config.problem.env.split(":", 1)[1]
    if not name.endswith("MinAtar"):
      from esjax.errors import ConfigError  # pylint: disable=g-import-not-at-top
      raise ConfigError(f"render draws Brax, Playground and MinAtar envs; {name!r} has no "
                        "frames to draw (`esjax eval` measures its returns)")
    frames, ret = _minatar_episode(saved, seed)
    steps = len(frames) - 1
    if gif:
      minatar_gif(frames, gif_path)
  if error:
    gif_path = None
  if source != "brax":
    run_io._atomic_write(out_html, _gif_page(  # pylint: disable=protected-access
        f"{saved.config.problem.env}: {steps} steps, return {ret:.2f}", gif_path, error or ""))
  return Rendered(out_html, gif_path, error, steps, ret)


def write_gif(env, trajectory, path: str, width: int = 320, height: int = 240) -> str | None:
  """Draws a Brax ``trajectory`` with MuJoCo offscreen into a GIF; returns None, or why not."""
  return mujoco_gif(env.sys.mj_model, np.stack([np.asarray(s.q) for s in trajectory]),
                    np.stack([np.asarray(s.qd) for s in trajectory]), float(env.dt), path,
                    width, height)


def mujoco_gif(model, q: np.ndarray, qd: np.ndarray, dt: float, path: str, width: int = 320,
               height: int = 240) -> str | None:
  """Draws positions ``q`` (T, nq) and velocities ``qd`` (T, nv) of ``model`` (a MuJoCo
  MjModel) with MuJoCo offscreen into a GIF; returns None, or why it could not."""
  import mujoco  # pylint: disable=g-import-not-at-top
  stride = max(math.ceil(len(q) / _MAX_GIF_FRAMES), math.ceil(_MIN_FRAME_S / dt), 1)
  q, qd = q[::stride], qd[::stride]
  cams = [mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_CAMERA, i) for i in range(model.ncam)]
  camera = "track" if "track" in cams else "-1"
  worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_gif.py")
  user_gl = os.environ.get("MUJOCO_GL")
  backends = (user_gl,) if user_gl else _GL_BACKENDS
  errors = []
  with tempfile.TemporaryDirectory() as tmp:
    mjb, npz = os.path.join(tmp, "model.mjb"), os.path.join(tmp, "traj.npz")
    mujoco.mj_saveModel(model, mjb, None)
    np.savez(npz, q=q, qd=qd)
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
