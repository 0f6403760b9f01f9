"""Looking at runs: learning curves, evaluation and rendering of a trained policy."""

from esjax import submodules as _submodules  # pylint: disable=g-bad-import-order

__getattr__ = _submodules.getattr_of(__name__)
