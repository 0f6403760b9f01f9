"""Perturbations of the search distribution, rebuilt from keys on every device: the
``Perturbation`` contract (``base``), full-rank ``Gaussian`` noise and low-rank ``lowrank``."""
from esjax.perturbations.base import DEFAULT_NOISE_CHUNK, Perturbation
from esjax.perturbations.gaussian import (GAUSSIAN, Gaussian, member_noise, moments_from_keys,
                                          sample, weighted_noise_sum)

__all__ = ["DEFAULT_NOISE_CHUNK", "GAUSSIAN", "Gaussian", "Perturbation", "member_noise",
           "moments_from_keys", "sample", "weighted_noise_sum"]

from esjax import submodules as _submodules  # pylint: disable=g-bad-import-order

__getattr__ = _submodules.getattr_of(__name__)
