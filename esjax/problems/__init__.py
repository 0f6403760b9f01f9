"""What a member is evaluated on: a black-box fitness or a Brax episode, plus the
observation normalizer that is the problem's own state. ``esjax.problems.brax`` (and its env
registry) import brax only when used."""
from esjax.problems.base import Evaluation, Problem
from esjax.problems.black_box import black_box, check_fitness
from esjax.problems.normalizer import NormalizerState, ObsStats

__all__ = ["Evaluation", "Problem", "black_box", "check_fitness", "brax_problem", "NormalizerState", "ObsStats"]


def __getattr__(name):
  if name == "brax_problem":  # brax is heavy: import it only when a Brax problem is built
    from esjax.problems.brax import brax_problem
    return brax_problem
  raise AttributeError(f"module 'esjax.problems' has no attribute {name!r}")
