"""A raw Brax env (or Playground ``MjxEnv``) and a policy as a Problem, in one call: the
protocol rollout (``rollout.py``) through the Brax adapter, for code that builds its own env."""
from __future__ import annotations

from esjax.envs.adapters import BraxEnv
from esjax.envs.base import DEFAULT_EPISODE_LENGTH
from esjax.problems.base import Problem
from esjax.problems.interface import action_view, obs_view
from esjax.problems.rollout import env_problem
from esjax.problems.tricks import OFF, RolloutOptions


def brax_problem(env, policy, episode_length: int | None = None, normalize_obs: bool = True,
                 obs_clip: float = 5.0, reward_shift: float = 0.0,
                 options: RolloutOptions = OFF, obs_key: str | None = None) -> Problem:
  """One episode of the Brax ``env`` under ``policy`` (a ``policies.Policy``), cut off at
  ``episode_length`` env steps (default 1000, or a Playground env's configured length)."""
  adapted = BraxEnv(env)
  length = episode_length or adapted.episode_length or DEFAULT_EPISODE_LENGTH
  return env_problem(adapted, policy, obs_view(adapted.observation_space, obs_key),
                     action_view(adapted.action_space), int(length), normalize_obs, obs_clip,
                     reward_shift, options)
