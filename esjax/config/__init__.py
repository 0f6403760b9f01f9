"""Configuration: the config sections and ``TrainConfig``, named presets and sweeps."""

from esjax import submodules as _submodules  # pylint: disable=g-bad-import-order

__getattr__ = _submodules.getattr_of(__name__)
