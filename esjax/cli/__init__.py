"""The ``esjax`` command line."""
from esjax.cli.app import main

__all__ = ["main"]

from esjax import submodules as _submodules  # pylint: disable=g-bad-import-order

__getattr__ = _submodules.getattr_of(__name__)
