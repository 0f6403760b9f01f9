"""Perturbations of the search distribution, rebuilt from keys on every device."""
from esjax.perturbations.gaussian import member_noise, moments_from_keys, sample, weighted_noise_sum

__all__ = ["member_noise", "moments_from_keys", "sample", "weighted_noise_sum"]
