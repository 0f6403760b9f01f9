"""A saved policy back in its env: ``esjax eval`` (returns) and ``esjax render`` (animations).

Evaluation and rendering run the training rollout (``problems/rollout.py``, noiseless), so
``esjax eval`` measures exactly what the training-time evaluation measured, on fresh episode
keys, and ``esjax render`` draws episode 0 of ``esjax eval`` itself.

Rendering writes brax's HTML viewer (always; it needs no GPU or display, the page loads the
viewer script from brax's CDN when opened) and, where MuJoCo can open an offscreen OpenGL
context, a GIF. MuJoCo picks its GL backend once, at import, from ``MUJOCO_GL``; brax has
already imported MuJoCo by the time any esjax code runs, so the frames are drawn in a
subprocess (``_gif.py``) started with ``MUJOCO_GL`` set, trying EGL, then OSMesa, then GLFW.
"""
from __future__ import annotations

import dataclasses
import math
import os
import subprocess
import sys
import tempfile

import jax
import numpy as np

from esjax import keys
from esjax.envs.adapters import JumanjiEnv
from esjax.rundir import files as run_io

_GL_BACKENDS = ("egl", "osmesa", "glfw")
_MAX_GIF_FRAMES = 300
_MIN_FRAME_S = 0.02  # GIF players clamp faster frames; 50 fps at most


def evaluate_run(run_dir: str, episodes: int = 10, seed: int = 0, env=None,
                 module=None) -> np.ndarray:
  """Returns of the run's deterministic policy over ``episodes`` episodes, shape (episodes,).
  ``env``: the env object a run trained on through ``esjax.train(env=...)``; ``module``: the
  flax module of a run trained with ``policy_module=``."""
  return run_io.load(run_dir, module=module, env=env).evaluate(episodes, seed)


def _recorder(env):
  """What ``render`` keeps of each state, by what the env can draw: Brax pipeline states
  (its 3-D viewer and MuJoCo frames), MuJoCo positions and velocities (Playground), image
  observations (frames); None: the env has nothing to draw."""
  raw = getattr(env, "env", None)
  if isinstance(env, JumanjiEnv) and hasattr(raw, "animate"):
    return "jumanji", lambda s, obs: s
  if raw is not None and hasattr(raw, "sys") and hasattr(raw.sys, "mj_model"):
    return "brax", lambda s, obs: s.pipeline_state
  if raw is not None and hasattr(raw, "mj_model"):
    return "mujoco", lambda s, obs: (s.data.qpos, s.data.qvel)
  return None, None


def record_episode(run_dir: str, seed: int = 0, env=None, module=None):
  """Episode 0 of ``evaluate_run(..., seed)`` through the same rollout, every decision's
  state recorded: ``(kind, built, trace, steps, return)``; ``kind`` is ``"brax"``,
  ``"mujoco"``, ``"jumanji"`` or ``"frames"`` (image observations)."""
  saved = run_io.load(run_dir, module=module, env=env)
  flat, normalizer = run_io.first_seed(saved.flat_params, saved.normalizer)
  from esjax.problems import build  # pylint: disable=g-import-not-at-top
  probe = build.make_env(saved.config.problem, env)
  kind, record = _recorder(probe)
  if kind is None and build.views(saved.config.problem, probe)[0].image:
    kind, record = "frames", lambda s, obs: obs
  if kind is None:
    from esjax.errors import ConfigError  # pylint: disable=g-import-not-at-top
    raise ConfigError(f"env {saved.config.problem.env!r} has no renderer: render draws Brax, "
                      "Playground and MinAtar envs, Jumanji envs and any env with image "
                      "observations (`esjax eval` measures its returns)")
  problem, built = build.eval_problem(saved.config.problem, saved.config.policy, probe, record,
                                      module)
  ev = jax.device_get(jax.jit(problem.evaluate)(flat, normalizer, keys.episode_keys(seed, 1)[0]))
  skip = saved.config.problem.frame_skip
  decisions = -(-int(ev.steps) // skip)
  trace = jax.tree.map(lambda x: np.asarray(x)[:decisions + 1], ev.trace)
  return kind, built, trace, int(ev.steps), float(ev.ret)


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


def jumanji_gif(env, trace, path: str, frame_ms: int = 100) -> str | None:
  """A Jumanji episode (its states stacked in ``trace``) drawn by the env's own ``animate``
  (matplotlib, written with Pillow); returns None, or why it could not."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  count = len(jax.tree.leaves(trace)[0])
  states = [jax.tree.map(lambda x, i=i: x[i], trace) for i in range(count)]
  tmp = path + ".tmp.gif"
  try:
    env.animate(states, interval=frame_ms, save_path=tmp)
  except Exception as e:  # pylint: disable=broad-except
    if os.path.exists(tmp):
      os.remove(tmp)
    return f"the env's animate failed ({type(e).__name__}: {str(e).splitlines()[0][:160]})"
  os.replace(tmp, path)
  return None


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
               width: int = 320, height: int = 240, env=None, module=None) -> Rendered:
  """Writes ``out_html`` and, if possible, ``out_html`` with a ``.gif`` suffix: episode 0 of
  ``evaluate_run(..., seed)``. Brax: brax's 3-D viewer and MuJoCo frames; Playground: MuJoCo
  frames; Jumanji: the env's own ``animate``; image observations (MinAtar): the frames. The
  HTML of all but Brax shows the GIF. ``env`` and ``module`` as for ``evaluate_run``.
  An env with none of these raises ConfigError (one line)."""
  kind, built, trace, steps, ret = record_episode(run_dir, seed, env, module)
  gif_path = os.path.splitext(out_html)[0] + ".gif" if gif else None
  error = None if gif else "not asked for (--no-gif)"
  raw = getattr(built.env, "env", None)
  if kind == "brax":
    from brax.io import html  # pylint: disable=g-import-not-at-top
    states = [jax.tree.map(lambda x, i=i: x[i], trace) for i in range(len(trace.q))]
    run_io._atomic_write(out_html, html.render(raw.sys, states).encode())  # pylint: disable=protected-access
    if gif:
      error = write_gif(raw, states, gif_path, width, height)
  elif kind == "mujoco" and gif:
    error = mujoco_gif(raw.mj_model, trace[0], trace[1], float(raw.dt), gif_path, width, height)
  elif kind == "frames" and gif:
    minatar_gif(np.asarray(trace) > 0.5, gif_path)
  elif kind == "jumanji" and gif:
    error = jumanji_gif(raw, trace, gif_path)
  if error:
    gif_path = None
  if kind != "brax":
    config_env = run_io.read_config(run_dir).problem.env
    run_io._atomic_write(out_html, _gif_page(  # pylint: disable=protected-access
        f"{config_env}: {steps} steps, return {ret:.2f}", gif_path, error or ""))
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
