"""Policies: flax modules plus the flat-vector view that ES perturbs."""
from esjax.policies.networks import ACTIVATIONS, MLP, Linear, Policy, make_policy

__all__ = ["ACTIVATIONS", "MLP", "Linear", "Policy", "make_policy"]
