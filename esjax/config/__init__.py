"""Configuration: the config sections and ``TrainConfig``, named presets and sweeps."""
