"""The application around the compiled step: config, presets, the training loop, checkpoints,
run files, logging sinks, progress and preemption."""
