"""The process a run lives in: compile cache, preemption signals and the preflight check."""

from esjax import submodules as _submodules  # pylint: disable=g-bad-import-order

__getattr__ = _submodules.getattr_of(__name__)
