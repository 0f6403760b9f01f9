"""The compiled generation and what it runs on: ``step`` (one ES generation, sharded over the
device mesh), ``mesh``, ``multihost`` (one mesh over every process) and ``hlo`` (what crosses
devices, read from the compiled program)."""

from esjax import submodules as _submodules  # pylint: disable=g-bad-import-order

__getattr__ = _submodules.getattr_of(__name__)
