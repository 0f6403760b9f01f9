"""gymnax 1.x environments by name: classic control and MinAtar (``--env gymnax:NAME``).

Checked against gymnax 1.0.1: ``env.step`` auto-resets, so the adapter (``GymnaxEnv``) steps
with ``step_env`` and an ES episode ends at its first terminal, cut off at the params'
``max_steps_in_episode`` unless ``episode_length`` overrides it. MinAtar's ``(10, 10, C)``
boolean frames are image observations: the CNN policy, no normalizer.
"""
from __future__ import annotations

from esjax.envs.adapters import GymnaxEnv

CLASSIC = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1",
           "MountainCarContinuous-v0")
MINATAR = ("Asterix-MinAtar", "Breakout-MinAtar", "Freeway-MinAtar", "Seaquest-MinAtar",
           "SpaceInvaders-MinAtar")
SUPPORTED = CLASSIC + MINATAR


def env_names() -> list[str]:
  import gymnax  # pylint: disable=g-import-not-at-top
  return [n for n in SUPPORTED if n in gymnax.registered_envs]


def make_env(name: str) -> GymnaxEnv:
  import gymnax  # pylint: disable=g-import-not-at-top
  env, params = gymnax.make(name)
  return GymnaxEnv(env, params)
