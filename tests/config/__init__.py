"""Configuration: the CLI flags, sweeps and presets."""
