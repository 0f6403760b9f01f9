"""The drivers: ``train`` (an env or a custom problem) and ``minimize``/``maximize`` (a black
box)."""

from esjax import submodules as _submodules  # pylint: disable=g-bad-import-order

__getattr__ = _submodules.getattr_of(__name__)
