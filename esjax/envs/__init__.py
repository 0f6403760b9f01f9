"""Environments: one functional protocol (``base.Env``), the spaces it declares, adapters for
Brax, MuJoCo Playground, gymnax-style and Jumanji envs, and the registry of named envs.

Importing this package pulls in no env library: each is imported when an env is built.
"""
from esjax.envs.adapters import BraxEnv, GymnaxEnv, JumanjiEnv, as_env
from esjax.envs.base import Env
from esjax.envs.spaces import Box, Dict, Discrete, MultiDiscrete

__all__ = ["Env", "Box", "Dict", "Discrete", "MultiDiscrete", "as_env", "BraxEnv", "GymnaxEnv",
           "JumanjiEnv"]

from esjax import submodules as _submodules  # pylint: disable=g-bad-import-order

__getattr__ = _submodules.getattr_of(__name__)
