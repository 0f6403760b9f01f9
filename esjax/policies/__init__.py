"""Policies: flax modules plus the flat-vector view that ES perturbs."""
from esjax.policies.networks import ACTIVATIONS, CNN, KINDS, MLP, Linear, Policy, make_policy

__all__ = ["ACTIVATIONS", "CNN", "KINDS", "MLP", "Linear", "Policy", "make_policy"]

from esjax import submodules as _submodules  # pylint: disable=g-bad-import-order

__getattr__ = _submodules.getattr_of(__name__)
