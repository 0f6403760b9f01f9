"""Draws a trajectory with MuJoCo's offscreen renderer into a GIF (run as a script).

A separate process because MuJoCo reads ``MUJOCO_GL`` once, when it is imported: the parent
(``playback.write_gif``) sets it for this process only. Run by file path, not ``-m``, so the
esjax package (jax, brax) is not imported here: only mujoco, numpy and PIL.

usage: python _gif.py MODEL.mjb TRAJ.npz OUT.gif CAMERA WIDTH HEIGHT FRAME_MS
"""
import os
import sys

import mujoco
import numpy as np
from PIL import Image


def main(argv):
  mjb, npz, out, camera, width, height, frame_ms = argv
  model = mujoco.MjModel.from_binary_path(mjb)
  traj = np.load(npz)
  renderer = mujoco.Renderer(model, height=int(height), width=int(width))
  data = mujoco.MjData(model)
  cam = int(camera) if camera.lstrip("-").isdigit() else camera
  frames = []
  for q, qd in zip(traj["q"], traj["qd"]):
    data.qpos, data.qvel = q, qd
    mujoco.mj_forward(model, data)
    renderer.update_scene(data, camera=cam)
    frames.append(Image.fromarray(renderer.render()))
  renderer.close()
  tmp = out + ".tmp"
  frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                 duration=int(frame_ms), loop=0)
  os.replace(tmp, out)


if __name__ == "__main__":
  main(sys.argv[1:])
