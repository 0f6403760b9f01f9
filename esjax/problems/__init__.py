"""What a member is evaluated on: a black-box fitness or an env episode (the one rollout,
``rollout.env_problem``, over any protocol env), plus the observation normalizer that is the
problem's own state. Env libraries are imported only when an env is built."""
from esjax.problems.base import Evaluation, Problem
from esjax.problems.black_box import black_box, check_fitness
from esjax.problems.normalizer import NormalizerState, ObsStats

__all__ = ["Evaluation", "Problem", "black_box", "check_fitness", "brax_problem", "env_problem",
           "NormalizerState", "ObsStats"]


def _lazy(name):
  if name == "brax_problem":  # flax and the rollout: only when an env problem is built
    from esjax.problems.brax import brax_problem
    return brax_problem
  if name == "env_problem":
    from esjax.problems.rollout import env_problem
    return env_problem
  raise AttributeError(f"module 'esjax.problems' has no attribute {name!r}")


from esjax import submodules as _submodules  # pylint: disable=g-bad-import-order

__getattr__ = _submodules.getattr_of(__name__, _lazy)
