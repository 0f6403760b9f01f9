"""Keys-only evolution strategies: each one a short module over the contract in ``base``.

``esjax.strategies.<name>(population_size, ...)`` returns a ``Strategy``: four pure functions
and a ``StrategySpec``; ``REGISTRY`` maps the names the command line accepts to those
factories. Importing this package pulls in jax, flax and optax only (no brax, orbax or
matplotlib).
"""
from esjax.strategies import options, shaping
from esjax.strategies.ars import ARSState, ars
from esjax.strategies.base import Strategy, StrategySpec, ask, dense_tell, tell, tell_split
from esjax.strategies.clipup import ClipUpState, clipup
from esjax.strategies.open_es import OpenESState, open_es
from esjax.strategies.pgpe import PGPEState, pgpe
from esjax.strategies.sep_cma_es import SepCMAESState, sep_cma_es
from esjax.strategies.shaping import SHAPERS, centered_rank, identity, z_score
from esjax.strategies.snes import SNESState, snes

REGISTRY = {
    "open_es": open_es,
    "ars": ars,
    "pgpe": pgpe,
    "snes": snes,
    "sep_cma_es": sep_cma_es,
}

__all__ = ["Strategy", "StrategySpec", "ask", "tell", "tell_split", "dense_tell", "open_es", "OpenESState",
           "ars", "ARSState", "pgpe", "PGPEState", "clipup", "ClipUpState",
           "snes", "SNESState", "sep_cma_es", "SepCMAESState",
           "REGISTRY", "SHAPERS", "options", "centered_rank", "identity", "z_score", "shaping"]

from esjax import submodules as _submodules  # pylint: disable=g-bad-import-order

__getattr__ = _submodules.getattr_of(__name__)
