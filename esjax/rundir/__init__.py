"""Everything a run keeps on disk, behind one ``RunDir``: its lock, config/params/metrics files,
version, I/O guard and checkpoints (orbax, imported only by a run with a directory)."""

from esjax import submodules as _submodules  # pylint: disable=g-bad-import-order

__getattr__ = _submodules.getattr_of(__name__)
