"""The run directory: checkpoints and resume, run files and their version, faults and locks."""
