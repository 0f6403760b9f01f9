"""The process a run lives in: compile cache, preemption signals and the preflight check."""
